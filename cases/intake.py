"""Validation of what a citizen submits, whichever channel it came from.

Returns either a clean `CaseInput` or every problem at once as {field: (code, params)}; the web
layer turns codes into Chinese or English sentences. Nothing is stored until this passes.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from .workflow import Channel, Kind, Urgency

LIMITS = {"title": 100, "description": 5000, "location": 300, "happened": 100,
          "contact_name": 50, "contact_email": 200, "contact_phone": 40}
MIN_DESCRIPTION = 5

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
_SHORT_SERVICE = re.compile(r"^\d{3,8}$")  # e.g. a caller id of an internal line in tests or PBX
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InvalidInput(ValueError):
    def __init__(self, errors: dict[str, tuple[str, dict]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in errors.items()))


@dataclass
class CaseInput:
    kind: Kind
    description: str
    channel: Channel
    title: str = ""
    category_code: str | None = None
    category_confidence: float | None = None  # the classifier's, where it chose the category
    location: str = ""
    happened: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    anonymous: bool = False
    wants_reply: bool = True
    urgency: Urgency = Urgency.NORMAL
    conversation_id: str | None = None
    locale: str = "zh"
    extra: dict = field(default_factory=dict)


# the full-width punctuation of Chinese text (，：；！？（）【】 and the like) is the citizen's and is
# stored as written; NFKC alone would turn it into ASCII
_CJK_PUNCTUATION = re.compile(r"([\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u3000-\u303f]+)")


def fold_width(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII: ＡＢＣ１２３) except on Chinese punctuation."""
    parts = _CJK_PUNCTUATION.split(text)  # odd items are the punctuation runs, kept as they are
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


def clean_text(value: Any, *, multiline: bool = False) -> str:
    """NFC-normalized text without control characters; full-width ASCII folded (ＡＢＣ１２３), the
    Chinese punctuation kept."""
    if value is None:
        return ""
    text = fold_width(str(value)) if not multiline else unicodedata.normalize("NFC", str(value))
    text = _CONTROL.sub("", text)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.strip()
    return " ".join(text.split())


def normalize_phone(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    text = re.sub(r"[\s()（）]", "", text)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text


def local_datetime(value: Any, name: str, zone: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """A date or date and time as people and integrators in the city write it: without a zone it is
    the hotline's own time (`zone`), not UTC ("2026-12-24T18:00" is six in the evening there). A bare
    date with `end_of_day` means up to the end of that day. Empty: None; anything else: InvalidInput."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput({name: ("date", {})})
    value = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput({name: ("date", {})}) from None
    if len(value) == 10 and end_of_day:
        parsed += dt.timedelta(days=1)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


def is_phone(value: str) -> bool:
    return bool(_MOBILE.match(value) or _LANDLINE.match(value) or _SHORT_SERVICE.match(value))


def _boolean(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y", "是")


def validate_case(data: Mapping[str, Any], *, channel: Channel | str,
                  known_categories: set[str] | None = None, allow_urgent: bool = False,
                  require_phone: bool = False) -> CaseInput:
    """`require_phone`: a form that marks the phone required (the portal) gets it checked here too."""
    errors: dict[str, tuple[str, dict]] = {}
    if not isinstance(data, Mapping):
        raise InvalidInput({"body": ("not_object", {})})

    def text(name, multiline=False):
        raw = data.get(name)
        if raw is not None and not isinstance(raw, (str, int, float)):
            errors[name] = ("not_text", {})
            return ""
        value = clean_text(raw, multiline=multiline)
        if len(value) > LIMITS[name]:
            errors[name] = ("too_long", {"max": LIMITS[name]})
        return value

    kind_raw = data.get("kind")
    kind = None
    if kind_raw in (None, ""):
        errors["kind"] = ("required", {})
    else:
        try:
            kind = Kind(str(kind_raw))
        except ValueError:
            errors["kind"] = ("choice", {})

    description = text("description", multiline=True)
    if "description" not in errors:
        if not description:
            errors["description"] = ("required", {})
        elif len(description) < MIN_DESCRIPTION:
            errors["description"] = ("too_short", {"min": MIN_DESCRIPTION})

    title = text("title")
    location = text("location")
    happened = text("happened")
    contact_name = text("contact_name")
    contact_email = text("contact_email")
    contact_phone = normalize_phone(text("contact_phone"))
    anonymous = _boolean(data.get("anonymous"), False)
    wants_reply = _boolean(data.get("wants_reply"), True)

    if require_phone and not contact_phone and "contact_phone" not in errors:
        errors["contact_phone"] = ("required", {})
    if contact_phone and "contact_phone" not in errors and not is_phone(contact_phone):
        errors["contact_phone"] = ("phone", {})
    if contact_email and "contact_email" not in errors and not _EMAIL.match(contact_email):
        errors["contact_email"] = ("email", {})
    if wants_reply and not contact_phone and not contact_email and "contact_phone" not in errors:
        errors["contact_phone"] = ("contact_for_reply", {})

    category = data.get("category") or None
    if category is not None:
        category = str(category)
        if known_categories is not None and category not in known_categories:
            errors["category"] = ("choice", {})
    confidence = data.get("category_confidence")
    if confidence is not None and confidence != "":
        try:
            confidence = float(confidence)
        except (TypeError, ValueError):
            confidence = -1.0
        if not 0.0 <= confidence <= 1.0:
            errors["category_confidence"] = ("number", {})
    else:
        confidence = None

    urgency = Urgency.NORMAL
    if data.get("urgency"):
        try:
            urgency = Urgency(str(data["urgency"]))
        except ValueError:
            errors["urgency"] = ("choice", {})
        if urgency is Urgency.URGENT and not allow_urgent:
            urgency = Urgency.NORMAL  # only the hotline's staff set urgency

    locale = str(data.get("locale") or "zh")
    if locale not in ("zh", "en"):
        locale = "zh"

    if errors:
        raise InvalidInput(errors)
    if not title:
        first_line = description.split("\n", 1)[0]
        title = first_line[:30] + ("…" if len(first_line) > 30 else "")
    return CaseInput(kind=kind, description=description, channel=Channel(channel), title=title,
                     category_code=category, category_confidence=confidence if category else None,
                     location=location, happened=happened,
                     contact_name="" if anonymous else contact_name, contact_phone=contact_phone,
                     contact_email=contact_email, anonymous=anonymous, wants_reply=wants_reply,
                     urgency=urgency, conversation_id=data.get("conversation_id") or None, locale=locale)
