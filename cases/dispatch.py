"""Dispatch (派单) to one or more departments, and suggestions of which departments fit a case.

The first department leads (the case's `department_id`: it signs for, replies, extends or returns);
the others are co-handlers named in the dispatch event, so the history and the dispatch sheet list
them. The deadline comes from the kind and the working-day calendar (CaseStore.apply computes it).
"""
from __future__ import annotations

from .intake import InvalidInput, clean_text
from .models import Case, Department
from .store import Actor, CaseStore
from .workflow import Status


def suggest_departments(case: Case, departments: list[Department]) -> list[Department]:
    """Departments whose usual categories include the case's category (or its parent), best first."""
    if case.category is None:
        return []
    codes = {case.category.code}
    if case.category.parent is not None:
        codes.add(case.category.parent.code)
    exact = [d for d in departments if case.category.code in (d.category_codes or [])]
    parent = [d for d in departments if d not in exact and codes & set(d.category_codes or [])]
    return exact + parent


async def dispatch(store: CaseStore, number: str, actor: Actor, department_codes: list[str],
                   instructions: str = "") -> Case:
    """Dispatch (or, for a replied or followed-up case, reopen: 重办) to the lead department;
    co-handling departments are recorded in the same event."""
    codes = [c for c in dict.fromkeys(clean_text(c) for c in department_codes) if c]
    if not codes:
        raise InvalidInput({"department": ("required", {})})
    known = {d.code for d in await store.departments()}
    if any(c not in known for c in codes):
        raise InvalidInput({"department": ("choice", {})})
    case = await store.get(number)
    action = "reopen" if Status(case.status) in (Status.REPLIED, Status.FOLLOWED_UP, Status.ANSWERED) else "dispatch"
    instructions = clean_text(instructions, multiline=True)
    if action == "reopen" and not instructions:
        raise InvalidInput({"comment": ("required", {})})
    return await store.apply(number, action, actor, channel="desk", comment=instructions,
                             department_code=codes[0], co_departments=codes[1:])
