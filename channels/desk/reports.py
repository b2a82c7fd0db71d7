"""统计报表 in the desk (/desk/reports), for supervisors and administrators.

One form drives every report (cases/reports): which report, the period, the time bucket, the
dimension, the comparison (同比, 环比 or any other period) and the conditions (kind, category,
channel, department, agent). The same query string gives the page with its charts, the XLSX and
CSV exports, the printable page and its PDF. Bad input is answered with the form and a message
naming the field (400); nothing is run.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from cases.reports import (COMPARISONS, DIMENSIONS, GRANULARITIES, REPORTS, Period, PeriodError, ReportFilter,
                           ReportInputError, ReportResult, default_period, refresh_summaries,
                           run_report)
from cases.reports.charts import MissingFont, render_png
from cases.reports.export import CSV_UNITS, CSV_UNITS_EN, to_csv, to_xlsx
from cases.workflow import CHANNEL_LABELS, KIND_LABELS, Role, label
from hotline.i18n import translator
from hotline.web.keys import SERVICES

from .auth import require_role
from .pages import render
from .report_words import Words

log = logging.getLogger("hotline.reports")
routes = web.RouteTableDef()
REPORT_ROLES = (Role.SUPERVISOR, Role.ADMIN)
GRANULARITY_LABELS = {"day": "按日", "week": "按周", "month": "按月", "year": "按年"}
FORM_KEYS = ("report", "first", "last", "granularity", "by", "compare", "other_first", "other_last",
             "kind", "category", "channel", "department", "agent")


@dataclass
class ReportQuery:
    report: str
    period: Period
    granularity: str
    by: str
    compare: str
    other: Period | None
    filter: ReportFilter
    values: dict[str, str]          # the form as given, to fill it in again

    def query_string(self) -> str:
        return urlencode({k: v for k, v in self.values.items() if v})


def parse_query(query: MultiDictProxy | dict, today: dt.date) -> ReportQuery:
    """The form's values, checked; ReportInputError names the first field that is wrong."""
    values = {k: str(query.get(k, "")).strip()[:100] for k in FORM_KEYS}
    report = values["report"] or "volume"
    if report not in REPORTS:
        raise ReportInputError("report", f"{report!r} is not a report")
    default = default_period(today)
    first, last = values["first"] or default.start.isoformat(), values["last"] or default.last.isoformat()
    try:
        period = Period.parse(first, last)
    except PeriodError as exc:
        raise ReportInputError("period", str(exc), exc.code, **exc.params) from None
    if period.days > 3 * 366 + 1:
        raise ReportInputError("period", "at most three years at a time", "too_long")
    granularity = values["granularity"] or ("day" if period.days <= 62 else "month")
    if granularity not in GRANULARITIES:
        raise ReportInputError("granularity", f"{granularity!r} is not one of {', '.join(GRANULARITIES)}")
    if granularity == "day" and period.days > 93:
        raise ReportInputError("granularity", "by day at most three months at a time", "day_too_long")
    by = values["by"] or "kind"
    if by not in DIMENSIONS:
        raise ReportInputError("by", f"{by!r} is not one of {', '.join(DIMENSIONS)}")
    compare = values["compare"]
    if compare not in COMPARISONS:
        raise ReportInputError("compare", f"{compare!r} is not one of yoy, mom, custom")
    other = None
    if compare == "custom":
        try:
            other = Period.parse(values["other_first"], values["other_last"])
        except PeriodError as exc:
            raise ReportInputError("compare", str(exc), exc.code, **exc.params) from None
    report_filter = ReportFilter(kinds=(values["kind"],) if values["kind"] else (), category=values["category"],
                                 channels=(values["channel"],) if values["channel"] else (),
                                 department=values["department"], agent=values["agent"])
    values.update(report=report, first=period.start.isoformat(), last=period.last.isoformat(),
                  granularity=granularity, by=by)
    return ReportQuery(report, period, granularity, by, compare, other, report_filter, values)


async def _run(request: web.Request, q: ReportQuery, words: Words | None = None) -> ReportResult:
    """The report, its tables in the page's language (`words`; None: as the engine writes them)."""
    result = await _run_report(request, q)
    if words is None or not words.english:
        return result
    tables = [words.table(t) for t in result.tables]
    return dataclasses.replace(result, table=tables[0], comparison=tables[1] if result.comparison else None,
                               tables=tables, compare_period=result.compare_period)


async def _run_report(request: web.Request, q: ReportQuery) -> ReportResult:
    services = request.app[SERVICES]
    settings = services.settings

    def work(session):
        return run_report(session.connection(), q.report, q.period, tz=settings.timezone,
                          workday_end=settings.workday_end, by=q.by, granularity=q.granularity,
                          compare=q.compare, compare_with=q.other, report_filter=q.filter,
                          calendar=services.store.calendar)

    async with services.db.write() as session:  # the events since the last report, summarized
        await session.run_sync(lambda s: refresh_summaries(
            s.connection(), tz=settings.timezone, calendar=services.store.calendar, rebuild=False))
    async with services.db.read() as session:
        return await session.run_sync(work)


SUMMARY_KEEPER = web.AppKey("report_summary_keeper", asyncio.Task)
SUMMARY_STOP = web.AppKey("report_summary_stop", asyncio.Event)
SUMMARY_EVERY_S = 600.0
SUMMARY_STOP_GRACE_S = 10.0


async def keep_summaries(services, stop: asyncio.Event, every_s: float = SUMMARY_EVERY_S) -> None:
    """Build the daily summaries whole where they must be (the first time, after a change of zone or
    calendar) and keep them fresh, at start and then every `every_s` seconds, away from report
    requests: a whole build reads every case (about a minute for 1,000,000 cases, during which
    SQLite's other writers wait). Until it is done the reports read the cases of their period.
    Ends between rounds once `stop` is set."""
    settings = services.settings
    while not stop.is_set():
        try:
            async with services.db.write() as session:
                counts = await session.run_sync(lambda s: refresh_summaries(
                    s.connection(), tz=settings.timezone, calendar=services.store.calendar))
            log.debug("report summaries refreshed: %s", counts)
        except Exception:  # a failed round is retried at the next; reports read the cases meanwhile
            log.exception("report summaries: refresh failed")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def _start_keeper(app: web.Application) -> None:
    app[SUMMARY_STOP] = asyncio.Event()
    app[SUMMARY_KEEPER] = asyncio.get_running_loop().create_task(keep_summaries(app[SERVICES], app[SUMMARY_STOP]))


async def _stop_keeper(app: web.Application) -> None:
    """Let a round in progress end (a task cancelled inside an aiosqlite query never gives its
    connection back, and that connection's thread kept a stopped process alive); cancel it only
    when it runs past the grace (a whole build of a large store)."""
    task = app.get(SUMMARY_KEEPER)
    if task is None:
        return
    app[SUMMARY_STOP].set()
    try:
        await asyncio.wait_for(asyncio.shield(task), SUMMARY_STOP_GRACE_S)
    except asyncio.TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    except Exception:  # the keeper logs its own failures
        pass


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.on_startup.append(_start_keeper)
    app.on_cleanup.append(_stop_keeper)


async def report_words(request: web.Request) -> Words:
    """The page's language for report texts, with the reference data's English names."""
    if request["locale"] != "en":
        return Words(request["locale"])
    store = request.app[SERVICES].store
    names = {r.name: r.name_en for r in [*await store.categories(), *await store.departments()] if r.name_en}
    return Words("en", names)


async def _choices(request: web.Request, words: Words) -> dict:
    store = request.app[SERVICES].store
    categories = await store.categories()
    return {
        "reports": {k: words(s.title) for k, s in REPORTS.items()}, "dimensions": words.choices(DIMENSIONS),
        "granularities": words.choices(GRANULARITY_LABELS), "comparisons": words.choices(COMPARISONS),
        "kinds": {k.value: label(KIND_LABELS, k, request["locale"]) for k in KIND_LABELS},
        "channels": {k.value: label(CHANNEL_LABELS, k, request["locale"]) for k in CHANNEL_LABELS},
        "categories": [(c.code, (f"{words(c.parent.name)}/" if c.parent_id and c.parent else "") + words(c.name))
                       for c in categories],
        "departments": [(d.code, words(d.name)) for d in await store.departments()],
    }


def _today(request: web.Request) -> dt.date:
    return dt.datetime.now(ZoneInfo(request.app[SERVICES].settings.timezone)).date()


async def _chart_uri(table, locale: str = "zh") -> str | None:
    if table.chart is None:
        return None
    try:
        png = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(render_png, table, empty=translator(locale)("reports.empty")))
    except MissingFont as exc:  # the figures still show; the chart needs `make system-deps`
        log.warning("report chart not drawn: %s", exc)
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


async def _page_context(request: web.Request) -> tuple[dict, int]:
    words = await report_words(request)
    context = {"active": "reports", "display": words.display, "words": words, **(await _choices(request, words))}
    try:
        q = parse_query(request.query, _today(request))
        result = await _run(request, q, words)
    except ReportInputError as exc:
        values = {k: str(request.query.get(k, "")) for k in FORM_KEYS}
        return {**context, "form": values, "error": exc, "error_text": error_text(exc, request["locale"]),
                "result": None}, 400
    charts = [await _chart_uri(t, request["locale"]) for t in result.tables]
    return {**context, "form": q.values, "query": q.query_string(), "result": result, "charts": charts,
            "error": None, "period": q.period, "compare_period": result.compare_period}, 200


@routes.get("/desk/reports")
@require_role(*REPORT_ROLES)
async def report_page(request: web.Request) -> web.Response:
    context, status = await _page_context(request)
    return render(request, "report.html", context, status=status)


@routes.get("/desk/reports/print")
@require_role(*REPORT_ROLES)
async def report_print(request: web.Request) -> web.Response:
    context, status = await _page_context(request)
    return render(request, "report_print.html", {**context, "pdf": False,
                                                 "printed_at": dt.datetime.now(dt.timezone.utc)}, status=status)


@routes.get("/desk/reports/report.pdf")
@require_role(*REPORT_ROLES)
async def report_pdf(request: web.Request) -> web.Response:
    context, status = await _page_context(request)
    if status != 200:
        return render(request, "report.html", context, status=status)
    html = aiohttp_jinja2.render_string("report_print.html", request,
                                        {**context, "pdf": True, "printed_at": dt.datetime.now(dt.timezone.utc)})
    pdf = await asyncio.get_running_loop().run_in_executor(None, _html_to_pdf, html)
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{_filename(context)}.pdf"',
                                 "Cache-Control": "no-store"})


def _html_to_pdf(html: str) -> bytes:
    from pathlib import Path

    import weasyprint

    static = Path(__file__).parent / "static"
    sheets = [weasyprint.CSS(filename=str(static / "print.css")), weasyprint.CSS(filename=str(static / "report.css"))]
    return weasyprint.HTML(string=html).write_pdf(stylesheets=sheets)


def _filename(context: dict) -> str:
    form = context["form"]
    return f"report-{form['report']}-{form['first']}-{form['last']}"


async def _run_or_400(request: web.Request) -> tuple[ReportQuery, ReportResult] | web.Response:
    """For the downloads: the report, or a 400 answer naming the field and what is wrong, in the
    page's language (a page would show the form)."""
    try:
        q = parse_query(request.query, _today(request))
        return q, await _run(request, q, await report_words(request))
    except ReportInputError as exc:
        return web.Response(status=400, text=error_text(exc, request["locale"]), headers={"Cache-Control": "no-store"})


FIELDS = ('report', 'period', 'granularity', 'by', 'compare', 'kind', 'category', 'channel', 'department', 'agent')


def error_text(exc: ReportInputError, locale: str) -> str:
    """The form's error in the page's language: which field, and what is wrong with it (the
    exception's own text is English, for logs and the API)."""
    t = translator(locale)
    field = t(f"reports.{exc.field if exc.field in FIELDS else 'report'}")
    params = {k: str(v) for k, v in exc.params.items()}
    colon = ": " if locale == "en" else "："
    return t("reports.error", field=field) + colon + t(f"reports.errors.{exc.code}", field=field, **params)


@routes.get("/desk/reports/export.{fmt:xlsx|csv}")
@require_role(*REPORT_ROLES)
async def report_export(request: web.Request) -> web.Response:
    got = await _run_or_400(request)
    if isinstance(got, web.Response):
        return got
    q, result = got
    fmt = request.match_info["fmt"]
    name = f"report-{q.report}-{q.period.start}-{q.period.last}.{fmt}"
    if fmt == "xlsx":
        body = await asyncio.get_running_loop().run_in_executor(None, to_xlsx, result.tables)
        ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, ctype = to_csv(result.tables, CSV_UNITS_EN if request["locale"] == "en" else CSV_UNITS), "text/csv"
    return web.Response(body=body, headers={"Content-Type": ctype + ("; charset=utf-8" if fmt == "csv" else ""),
                                            "Content-Disposition": f'attachment; filename="{name}"',
                                            "Cache-Control": "no-store"})


@routes.get("/desk/reports/chart.png")
@require_role(*REPORT_ROLES)
async def report_chart(request: web.Request) -> web.Response:
    got = await _run_or_400(request)
    if isinstance(got, web.Response):
        return got
    _, result = got
    png = await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(render_png, result.table, empty=translator(request["locale"])("reports.empty")))
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})
