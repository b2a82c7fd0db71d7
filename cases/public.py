"""What a citizen may see of a case: public status, deadline, public history and the reply.

Internal notes, the handling department's internal events and staff names never appear here.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from .models import Case, CaseEvent
from .workflow import ACTIONS, KIND_LABELS, SATISFACTION_LABELS, STATUS_LABELS, label

_EVENT_LABELS = {"register": ("受理登记", "Registered"), "survey": ("满意度评价", "Satisfaction survey"),
                 "supplement": ("市民补充材料", "Information added by the citizen"),
                 "citizen_rating": ("市民评价办理结果", "Outcome rated by the citizen")}


def _local(ts, tz: ZoneInfo) -> str | None:
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M") if ts else None


def event_label(action: str, locale: str) -> str:
    if action in ACTIONS:
        zh, en = ACTIONS[action].label
    else:
        zh, en = _EVENT_LABELS.get(action, (action, action))
    return en if locale == "en" else zh


def _citizens(e: CaseEvent) -> bool:
    """An event of the citizen's own: information added, or their rating of the reply on the portal."""
    return e.action == "supplement" or (e.action == "follow_up" and (e.data or {}).get("by") == "citizen")


def _label(e: CaseEvent, locale: str) -> str:
    if e.action == "follow_up" and (e.data or {}).get("by") == "citizen":
        zh, en = _EVENT_LABELS["citizen_rating"]
        value = (e.data or {}).get("satisfaction")
        rating = label(SATISFACTION_LABELS, value, locale) if value in SATISFACTION_LABELS else ""
        return f"{en}: {rating}" if locale == "en" else f"{zh}：{rating}"
    return event_label(e.action, locale)


def public_view(case: Case, events: list[CaseEvent], locale: str = "zh", tz: str = "Asia/Shanghai") -> dict:
    zone = ZoneInfo(tz)
    category = None
    if case.category is not None:
        c = case.category
        name = c.name_en if locale == "en" and c.name_en else c.name
        parent = c.parent
        if parent is not None:
            name = f"{parent.name_en if locale == 'en' and parent.name_en else parent.name} / {name}"
        category = {"code": c.code, "name": name}
    history = [{"at": _local(e.at, zone), "action": e.action, "label": _label(e, locale),
                "status": e.to_status, "status_label": label(STATUS_LABELS, e.to_status, locale) if e.to_status else None,
                **({"comment": e.comment} if _citizens(e) and e.comment else {}),  # the citizen's own words
                **({"merged_into": e.data.get("into")} if e.action == "merge" and e.data else {})}  # handled there
               for e in events if e.public]
    return {
        "number": case.number,
        "kind": case.kind, "kind_label": label(KIND_LABELS, case.kind, locale),
        "category": category,
        "title": case.title,
        "status": case.status, "status_label": label(STATUS_LABELS, case.status, locale),
        "created_at": _local(case.created_at, zone),
        "deadline": _local(case.deadline, zone),
        "history": history,
        "reply": case.reply or None,
        "replied_at": _local(case.replied_at, zone),
    }
