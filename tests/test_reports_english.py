"""The reports in English (`?lang=en`): every report's own words — the table titles and column heads,
fixed row labels such as 合计, the notes, the period, the form's choices, the CSV's header and units
— in English (channels/desk/report_words.py over the catalog's report_words), for a plain period
and a comparison; the same page in Chinese is unchanged."""
from __future__ import annotations

import csv
import html as htmllib
import io
import re

import pytest

from cases.reports import REPORTS
from test_reports_pages import NOV, desk  # noqa: F401  (users, the report fixture's cases, signed-in clients)

CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")


def texts(html: str, pattern: str) -> list[str]:
    return [htmllib.unescape(re.sub(r"<[^>]+>", " ", t)).strip() for t in re.findall(pattern, html, re.S)]


def own_words(html: str) -> list[str]:
    """What the report itself writes: captions, column heads, notes, the first column's fixed labels
    (totals, subtotals), and the form's choices (not the category and department names: data)."""
    found = texts(html, r"<caption>(.*?)</caption>") + texts(html, r"<th[^>]*>(.*?)</th>")
    found += texts(html, r'<p class="hint note">(.*?)</p>')
    found += texts(html, r'<tr class="total">\s*<td[^>]*>(.*?)</td>')
    for select in ("report", "granularity", "by", "compare", "kind", "channel"):
        block = re.search(rf'<select name="{select}" id="f-{select}">(.*?)</select>', html, re.S).group(1)
        found += texts(block, r"<option[^>]*>(.*?)</option>")
    return found


@pytest.mark.parametrize("query", [f"{NOV}", f"{NOV}&compare=mom", f"by=channel&granularity=week&{NOV}"])
async def test_every_report_speaks_english(desk, query):  # noqa: F811
    c = await desk("super1")
    for report in REPORTS:
        resp = await c.get(f"/desk/reports?report={report}&{query}&lang=en")
        page = await resp.text()
        assert resp.status == 200, page[:300]
        chinese = [w for w in own_words(page) if CJK.search(w)]
        assert chinese == [], f"{report} ({query}): {chinese}"
    # the service ratings report, by name
    page = await (await c.get(f"/desk/reports?report=service&{NOV}&lang=en")).text()
    assert "Service ratings" in texts(page, r"<caption>(.*?)<span")[0]
    assert {"Agent no.", "Ratings", "Service satisfied rate"} <= set(texts(page, r"<th[^>]*>(.*?)</th>"))


async def test_exports_and_print_in_english_and_chinese(desk):  # noqa: F811
    c = await desk("super1")
    body = (await (await c.get(f"/desk/reports/export.csv?report=quality&{NOV}&lang=en")).read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "Service quality" and rows[0][1] == "2026-11"
    assert rows[1] == ["Measure", "Numerator", "Denominator", "Rate (%)"]
    assert rows[2][0] == "Satisfied rate" and not CJK.search(rows[-1][0])  # the note
    body = (await (await c.get(f"/desk/reports/export.csv?report=quality&{NOV}&lang=zh")).read()).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body)))[1] == ["指标", "分子", "分母", "比率（%）"]
    printed = await (await c.get(f"/desk/reports/print?report=volume&compare=yoy&{NOV}&lang=en")).text()
    assert '<html lang="en">' in printed and "Period: 2026-11" in printed
    assert "Same period last year" in printed and "本期" not in printed
    chinese = await (await c.get(f"/desk/reports?report=volume&{NOV}&lang=zh")).text()
    assert "业务量（按类型，按日）" in chinese


@pytest.mark.parametrize("query", [f"{NOV}", f"{NOV}&compare=mom"])
async def test_every_xlsx_export_speaks_english(desk, query):  # noqa: F811
    """The workbook of each report in English: its sheets' names, titles, periods, column heads, the
    total's label and the note (the rows' own labels are data: categories, departments, agents)."""
    from openpyxl import load_workbook

    c = await desk("super1")
    for report in REPORTS:
        resp = await c.get(f"/desk/reports/export.xlsx?report={report}&{query}&lang=en")
        assert resp.status == 200, (await resp.text())[:300]
        for sheet in load_workbook(io.BytesIO(await resp.read())).worksheets:
            rows = list(sheet.iter_rows())
            words = [sheet.title, rows[0][0].value, rows[1][0].value, *(cell.value for cell in rows[2])]
            bold = [row[0].value for row in rows[3:] if row[0].font.bold and row[0].value]
            words += bold[-1:]  # the total's label (a subtotal's names its category: data)
            if len(rows) > 4 and not any(cell.value is not None for cell in rows[-2]):
                words.append(rows[-1][0].value)  # the note, after an empty row
            chinese = [w for w in words if isinstance(w, str) and CJK.search(w)]
            assert chinese == [], f"{report} ({query}) sheet {sheet.title!r}: {chinese}"
