"""A conversation's lines as people saw them, from Rasa's events (shared by the desk's copy, the
chat widget's replay and the downloadable transcript).

A button click reaches the bot as its payload ("/affirm"); people saw and chose its title
("确认提交"), so a payload is shown as the title of the button it came from. Payloads no button
offered (the widget's own "/greet") were never words anyone read, and are left out.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable


def _at(event: dict) -> str | None:
    ts = event.get("timestamp")
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if isinstance(ts, (int, float)) else None


def lines_from_events(events: Iterable[dict], *, since_session_start: bool = False) -> list[dict]:
    """[{"from": "citizen"|"bot", "text", "at", "button"?: True, "buttons"?: [...]}] in order.

    `since_session_start`: only the current Rasa session (a conversation that expired and began
    again does not show the earlier one)."""
    events = list(events)
    if since_session_start:
        starts = [i for i, e in enumerate(events) if e.get("event") == "session_started"]
        if starts:
            events = events[starts[-1]:]
    lines: list[dict] = []
    offered: dict[str, str] = {}  # payload → title of the buttons the bot showed since the citizen last spoke
    for e in events:
        kind, text = e.get("event"), e.get("text")
        if kind == "bot":
            buttons = (e.get("data") or {}).get("buttons") or []
            offered.update({str(b.get("payload")): str(b.get("title")) for b in buttons if b.get("payload")})
            if text:
                line = {"from": "bot", "text": text, "at": _at(e)}
                if buttons:
                    line["buttons"] = [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]
                lines.append(line)
        elif kind == "user" and text:
            if text.startswith("/"):
                if text not in offered:
                    continue
                line = {"from": "citizen", "text": offered[text], "at": _at(e), "button": True}
            else:
                line = {"from": "citizen", "text": text, "at": _at(e)}
            intent = ((e.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent:
                line["intent"] = intent
            lines.append(line)
            offered = {}
    return lines
