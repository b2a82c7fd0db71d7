"""The held mail over the REST API, for agents: what the spam filter, a stranger's reply on a case
or an unusable mail put on hold, and releasing one (it is then processed as if it had passed:
spam and unusable mail become a case, a stranger's reply an event on its case).

  GET  /api/mail/held                 the held and ignored mails (id, state, sender, subject, reason,
                                      case number); ?state=held or ?state=ignored for one kind
  POST /api/mail/held/{id}/release    release one; answers what became of it

It also puts the channel's figures on /metrics: `hotline_mail_total{outcome}` (mails this process
took, by outcome, duplicates and busy retries included) and `hotline_mailbox_connected`.

Registered by `hotline.server.serve` when the mail channel runs (agents, supervisors, admins). The
desk's screen for the same (channels/desk/mailhold.py) finds the channel under MAIL_CHANNEL too.
"""
from __future__ import annotations

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cases.intake import InvalidInput
from cases.mailbox import RELEASABLE
from cases.workflow import HOTLINE_ROLES
from hotline.web.auth import require
from hotline.web.keys import METRICS

MAIL_CHANNEL = "mail_channel"


async def held_mail(request: web.Request) -> web.Response:
    await require(request, *HOTLINE_ROLES)
    state = request.query.get("state", "")
    if state and state not in RELEASABLE:
        raise InvalidInput({"state": ("choice", {})})  # a 400 naming the field, in the caller's language
    rows = await request.app[MAIL_CHANNEL].held(states=(state,) if state else RELEASABLE)
    return web.json_response({"held": [
        {"id": r["id"], "state": r["state"], "sender": r["sender"], "subject": r["subject"], "reason": r["reason"],
         "size": r["size"], "received_at": r["received_at"].isoformat(), "case": r["case"]} for r in rows]})


async def release_mail(request: web.Request) -> web.Response:
    actor = await require(request, *HOTLINE_ROLES)
    try:
        mail_id = int(request.match_info["id"])
        outcome = await request.app[MAIL_CHANNEL].release(mail_id, actor.name)
    except (ValueError, LookupError):
        raise web.HTTPNotFound(text='{"error": "no such held mail"}', content_type="application/json")
    return web.json_response({"state": outcome.state, "reason": outcome.reason, "case": outcome.case_number})


class MailCollector:
    """The mail channel's figures, read at each scrape."""

    def __init__(self, channel):
        self.channel = channel

    def collect(self):
        total = CounterMetricFamily("hotline_mail", "Incoming mails taken by this process, by outcome",
                                    labels=["outcome"])
        for outcome, n in sorted(self.channel.ingest.outcomes.items()):
            total.add_metric([outcome], n)
        yield total
        connected = self.channel.health()["mailbox"]
        if connected is not None:
            yield GaugeMetricFamily("hotline_mailbox_connected", "1 while the IMAP mailbox is connected",
                                    value=1 if connected else 0)


def setup_routes(app: web.Application, channel) -> None:
    app[MAIL_CHANNEL] = channel
    if METRICS in app:
        app[METRICS].registry.register(MailCollector(channel))
    app.router.add_get("/api/mail/held", held_mail)
    app.router.add_post("/api/mail/held/{id}/release", release_mail)
