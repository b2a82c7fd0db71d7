"""What the portal and the REST API share: submitting a case and the guarded look-up."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from cases.intake import CaseInput, validate_case
from cases.models import Case, CaseEvent
from cases.store import CITIZEN, Actor
from cases.workflow import Channel

from ..logs import log_fields, mask_phone
from .keys import METRICS, SERVICES
from ..ratelimit import Limiter

log = logging.getLogger("hotline.citizen")


@dataclass
class LookupLimits:
    per_client: Limiter
    per_case: Limiter


LIMITS = web.AppKey("lookup_limits", LookupLimits)


def install_limits(app: web.Application) -> None:
    s = app[SERVICES].settings
    redis = getattr(app[SERVICES], "redis", None)  # shared by every gateway process when redis_url is set
    app[LIMITS] = LookupLimits(Limiter("lookup-client", s.lookup_per_client, s.lookup_window_s, redis, prefix=s.redis_prefix),
                               Limiter("lookup-case", s.lookup_per_case, s.lookup_window_s, redis, prefix=s.redis_prefix))


def client_key(request: web.Request) -> str:
    return request.remote or "unknown"


async def citizen_input(request: web.Request, data, channel: Channel, *, allow_urgent: bool = False,
                        require_phone: bool = False) -> CaseInput:
    """What the citizen submitted, validated (InvalidInput naming each bad field), category filled in."""
    services = request.app[SERVICES]
    if not data.get("category") and isinstance(data.get("description"), str) and data["description"].strip():
        from bot.classify import category_fields  # the citizen left it open: the classifier files it
        data = {**data, **await category_fields(services, f"{data.get('title') or ''}\n{data['description']}")}
    inp = validate_case(data, channel=channel, known_categories=await services.store.category_codes(),
                        allow_urgent=allow_urgent, require_phone=require_phone)
    inp.locale = request.get("locale", inp.locale) if not data.get("locale") else inp.locale
    return inp


async def store_input(request: web.Request, inp: CaseInput, actor: Actor = CITIZEN) -> tuple[Case, str]:
    services = request.app[SERVICES]
    case, password = await services.store.create_case(inp, actor)
    request.app[METRICS].cases_created.labels(case.channel, case.kind).inc()
    log.info("case registered", extra=log_fields(number=case.number, kind=case.kind, channel=case.channel,
                                                 phone=mask_phone(case.contact_phone)))
    return case, password


async def guarded_lookup(request: web.Request, number: str,
                         password: str) -> tuple[Case, list[CaseEvent]] | None:
    """Look a case up under the per-client and per-number limits (429 with Retry-After past them);
    the case with its public events, or None for a wrong number or password alike."""
    limits = request.app[LIMITS]
    wait = await limits.per_client.hit(client_key(request)) or await limits.per_case.hit(str(number)[:32])
    metrics = request.app[METRICS]
    if wait:
        metrics.lookups.labels("limited").inc()
        raise web.HTTPTooManyRequests(headers={"Retry-After": str(int(wait) + 1)})
    found = await request.app[SERVICES].store.lookup_with_history(str(number), str(password))
    metrics.lookups.labels("found" if found else "denied").inc()
    return found
