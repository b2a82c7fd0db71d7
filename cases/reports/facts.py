"""The per-case summary of the event log the reports read (report_case_flow).

Department and quality figures need, for every case of a period, its first dispatch and sign-for
times and whether it was ever returned, extended, reminded or reopened. Reading that from the
events costs several index probes per case (a year: about half a million); the summary costs one.

Events are append-only, so the summary is brought up to date incrementally: every case with an
event after the watermark (the last event id already summarized) is summarized again from all its
events. The watermark only moves past events older than SETTLE, so an event whose transaction
commits a little after a later-numbered one is still picked up by the next refresh. Refreshing
takes a lock on the watermark row, so two refreshes never interleave.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import case, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from ..models import Case, CaseEvent, CaseFlow, ReportWatermark

NAME = "case_flow"
FLOW_ACTIONS = ("dispatch", "accept", "return", "extend", "remind", "reopen")
SETTLE = dt.timedelta(minutes=10)


def lock_watermark(conn: Connection, name: str):
    """The watermark row of one summary (last_id, last_at, basis), created when missing and locked
    (PostgreSQL) for the caller's transaction, so two refreshes of a summary never interleave."""
    mark = select(ReportWatermark.last_id, ReportWatermark.last_at, ReportWatermark.basis) \
        .where(ReportWatermark.name == name)
    if conn.dialect.name == "postgresql":
        mark = mark.with_for_update()
    row = conn.execute(mark).first()
    if row is None:  # two first refreshes may race (a report and the background keeper)
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(ReportWatermark).values(name=name, last_id=0, basis="")
                     .on_conflict_do_nothing(index_elements=["name"]))
        row = conn.execute(mark).first()
    return row


def basis_of(conn: Connection, name: str) -> str | None:
    """What a summary was last built under (None: never built)."""
    return conn.execute(select(ReportWatermark.basis).where(ReportWatermark.name == name)).scalar()


def _summary(where) -> select:
    def first(action):
        return func.min(case((CaseEvent.action == action, CaseEvent.at)))

    def ever(action):
        return func.max(case((CaseEvent.action == action, 1), else_=0))

    return (select(CaseEvent.case_id, first("dispatch"), first("accept"), ever("return"), ever("extend"),
                   ever("remind"), ever("reopen"))
            .where(CaseEvent.action.in_(FLOW_ACTIONS), *where).group_by(CaseEvent.case_id))


def refresh_case_flow(conn: Connection, now: dt.datetime | None = None) -> int:
    """Bring report_case_flow up to date inside the caller's transaction; returns the number of
    cases summarized again (0 when nothing changed)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    last = lock_watermark(conn, NAME).last_id
    newest = conn.execute(select(func.max(CaseEvent.id)).where(CaseEvent.id > last)).scalar()
    if newest is None:
        return 0
    settled = conn.execute(select(func.max(CaseEvent.id)).where(
        CaseEvent.id > last, CaseEvent.at <= now - SETTLE)).scalar()
    columns = [CaseFlow.case_id, CaseFlow.dispatched_at, CaseFlow.accepted_at, CaseFlow.returned,
               CaseFlow.extended, CaseFlow.reminded, CaseFlow.reopened]
    if last == 0:  # the first build: everything, in one pass
        conn.execute(delete(CaseFlow))
        result = conn.execute(insert(CaseFlow).from_select(columns, _summary([])))
    else:
        changed = select(CaseEvent.case_id).where(CaseEvent.id > last).distinct()
        conn.execute(delete(CaseFlow).where(CaseFlow.case_id.in_(changed)))
        result = conn.execute(insert(CaseFlow).from_select(columns, _summary([CaseEvent.case_id.in_(changed)])))
    if settled is not None:
        conn.execute(update(ReportWatermark).where(ReportWatermark.name == NAME).values(last_id=settled))
    return max(result.rowcount or 0, 0)


def flow_join(conn: Connection, start: dt.datetime, end: dt.datetime):
    """The summary table and the condition that joins it to the cases registered in [start, end).
    Case ids grow with registration time, so the summary is read only over the period's id range
    (a primary-key range scan instead of the whole table); the range leaves out no case of it."""
    flow = CaseFlow.__table__.alias("flow")
    # "id + 0": PostgreSQL would otherwise walk the primary key from one end, filtering on time
    id_ = Case.id + literal_column("0")
    lo, hi = conn.execute(select(func.min(id_), func.max(id_))
                          .where(Case.created_at >= start, Case.created_at < end)).one()
    on = flow.c.case_id == Case.id
    if lo is not None:
        on = on & flow.c.case_id.between(lo, hi)
    return flow, on
