"""Held mail at the desk (/desk/mail): what the email channel did not file by itself — mail the
spam filter flagged, replies about a case from an address that is not the case's, mail that could
not be filed — listed for agents, who read each one and release or discard it.

The work is the mail channel's (channels/email: `MailChannel.held`, `.release`, `.discard`, the same
that the REST API /api/mail/held uses); this module is only the screen. Who did what stays on the
mail's row (released_by, released_at, state released/discarded) and, for a mail about a case, as an
event on the case. Without a running mail channel (no mailbox configured) the screen says so.
"""
from __future__ import annotations

from aiohttp import web

from cases.workflow import Role
from channels.email.web import MAIL_CHANNEL
from hotline.i18n import translator

from .auth import require_role
from .pages import render

STAFF = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
LIST = "/desk/mail"


def _reason_key(reason: str) -> str:
    return reason.split(":", 1)[0]  # "invalid:description" -> invalid


def _channel(request: web.Request):
    return request.app.get(MAIL_CHANNEL)


def _flash(request: web.Request) -> str | None:
    t = translator(request["locale"])
    done, number = request.query.get("done", ""), request.query.get("case", "")[:20]
    if done == "discarded":
        return t("desk.mailhold.done_discarded")
    if done == "gone":
        return t("desk.mailhold.gone")
    if done in ("case", "event") and number.isdigit():
        return t(f"desk.mailhold.done_{done}", number=number)
    if done.isalpha() and len(done) <= 16:
        return t("desk.mailhold.done_other", state=done)
    return None


@require_role(*STAFF)
async def held_list(request: web.Request) -> web.Response:
    channel = _channel(request)
    rows = await channel.held() if channel is not None else []
    for row in rows:
        row["reason_key"] = _reason_key(row["reason"])
    return render(request, "desk_mailhold.html", {"active": "mail", "running": channel is not None, "rows": rows,
                                                  "mail": None, "flash": _flash(request),
                                                  "flash_kind": "warn" if request.query.get("done") == "gone" else "ok"})


async def _held_row(request: web.Request) -> dict:
    channel = _channel(request)
    if channel is None:
        raise web.HTTPNotFound()
    try:
        mail_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    row = next((r for r in await channel.held() if r["id"] == mail_id), None)
    if row is None:
        raise web.HTTPFound(f"{LIST}?done=gone")  # released or discarded meanwhile (or never held)
    return row


@require_role(*STAFF)
async def held_mail(request: web.Request) -> web.Response:
    row = await _held_row(request)
    row["reason_key"] = _reason_key(row["reason"])
    parsed = _channel(request).held_mail(row["raw_sha256"])
    return render(request, "desk_mailhold.html", {"active": "mail", "running": True, "rows": [], "mail": row,
                                                  "parsed": parsed})


@require_role(*STAFF)
async def release(request: web.Request) -> web.Response:
    row = await _held_row(request)
    form = await request.post()
    as_new_case = form.get("as") == "case"
    try:
        outcome = await _channel(request).release(row["id"], request["actor"].name, as_new_case=as_new_case)
    except LookupError:
        raise web.HTTPFound(f"{LIST}?done=gone") from None
    case = outcome.case_number or row["case"] or ""
    raise web.HTTPFound(f"{LIST}?done={outcome.state}&case={case}")


@require_role(*STAFF)
async def discard(request: web.Request) -> web.Response:
    row = await _held_row(request)
    try:
        await _channel(request).discard(row["id"], request["actor"].name)
    except LookupError:
        raise web.HTTPFound(f"{LIST}?done=gone") from None
    raise web.HTTPFound(f"{LIST}?done=discarded")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(LIST, held_list)
    r.add_get(LIST + "/{id:\\d+}", held_mail)
    r.add_post(LIST + "/{id:\\d+}/release", release)
    r.add_post(LIST + "/{id:\\d+}/discard", discard)
