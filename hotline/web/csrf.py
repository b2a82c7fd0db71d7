"""CSRF protection for the server-rendered forms: a signed double-submit token.

The token lives in a cookie and in a hidden form field; a POST passes only when both are equal,
the HMAC signature is ours and the token is younger than its maximum age.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

COOKIE = "hotline_csrf"
FIELD = "csrf_token"
MAX_AGE_S = 4 * 3600


def _sign(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]


def new_token(secret: str, now: float | None = None) -> str:
    body = f"{secrets.token_urlsafe(12)}.{int(now or time.time())}"
    return f"{body}.{_sign(secret, body)}"


def is_valid(secret: str, cookie_token: str | None, form_token: str | None, now: float | None = None) -> bool:
    if not cookie_token or not form_token or not hmac.compare_digest(cookie_token, form_token):
        return False
    try:
        nonce, issued, signature = form_token.rsplit(".", 2)
        age = (now or time.time()) - int(issued)
    except ValueError:
        return False
    return 0 <= age <= MAX_AGE_S and hmac.compare_digest(signature, _sign(secret, f"{nonce}.{issued}"))


def token_for(request, secret: str) -> str:
    """Reuse the visitor's valid cookie token, or make a new one (set by the response hook)."""
    current = request.cookies.get(COOKIE)
    if current and is_valid(secret, current, current):
        return current
    token = new_token(secret)
    request["set_csrf_cookie"] = token
    return token


