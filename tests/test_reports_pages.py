"""The report pages in the desk: who sees them, the page with its chart, the exports read back with
openpyxl and csv, the printable page and PDF, and bad input answered with the field's name."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

import report_fixture
from test_reports import USERS

PASSWORD = "secret-pass-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NOV = "first=2026-11-01&last=2026-11-30"


async def _login(client, username):
    page = await (await client.get("/desk/login")).text()
    token = CSRF.search(page).group(1)
    resp = await client.post("/desk/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                                  "next": "/desk"}, allow_redirects=False)
    assert resp.status == 302, await resp.text()


@pytest.fixture
async def desk(services, client_factory, db_url):
    for username, role, dept, agent_no in USERS + [("super1", "supervisor", None, "2001"),
                                                   ("admin1", "admin", None, None)]:
        await services.accounts.create_user(username, PASSWORD, role, department_code=dept, agent_no=agent_no,
                                            display_name=username)
    report_fixture.load(db_url)

    async def signed_in(username):
        client = await client_factory(services)
        await _login(client, username)
        return client
    return signed_in


async def test_only_supervisors_and_admins_see_reports(desk, client):
    resp = await client.get("/desk/reports", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/desk/login")
    for username in ("agent1", "dept1"):
        c = await desk(username)
        assert (await c.get(f"/desk/reports?{NOV}")).status == 403
        assert (await c.get(f"/desk/reports/export.csv?{NOV}")).status == 403
    for username in ("super1", "admin1"):
        c = await desk(username)
        assert (await c.get(f"/desk/reports?{NOV}")).status == 200


async def test_page_shows_table_chart_and_comparison(desk):
    c = await desk("super1")
    resp = await c.get(f"/desk/reports?report=volume&by=kind&granularity=month&compare=yoy&{NOV}")
    html = await resp.text()
    assert resp.status == 200
    assert 'id="table-volume_kind"' in html and 'id="table-volume_kind_compare"' in html
    assert re.search(r"<td[^>]*>投诉</td>\s*<td[^>]*>3</td>", html)
    assert 'src="data:image/png;base64,' in html
    assert "+200.0%" in html  # complaints 3 against 1 a year before
    assert 'href="/desk/reports/export.xlsx?' in html


@pytest.mark.parametrize("report", ["volume", "traffic", "agents", "departments", "quality", "service",
                                    "top_categories", "hot_spots"])
async def test_every_report_renders(desk, report):
    c = await desk("admin1")
    resp = await c.get(f"/desk/reports?report={report}&compare=mom&{NOV}")
    assert resp.status == 200, (await resp.text())[:500]


async def test_exports_read_back(desk):
    c = await desk("super1")
    query = f"report=volume&by=category&granularity=month&compare=mom&{NOV}"
    resp = await c.get(f"/desk/reports/export.xlsx?{query}")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(await resp.read()))
    sheet = wb.worksheets[0]
    rows = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    header = rows[2]
    assert header[0] == "分类（两级）" and header[-1] == "合计"
    data = {r[0]: r[-1] for r in rows[3:] if r and r[0]}
    assert data["城乡建设 小计"] == 3 and data["物业管理"] == 3 and data["合计"] == 5
    assert len(wb.worksheets) == 2  # the table and its comparison
    compare = [r for r in wb.worksheets[1].iter_rows(values_only=True)]
    total = next(r for r in compare if r[0] == "合计")
    assert total[1:5] == (5, 2, 3, 1.5)  # this month, last month, change, change as a fraction

    resp = await c.get(f"/desk/reports/export.csv?{query}")
    text = (await resp.read()).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[1][0] == "分类（两级）"
    assert next(r for r in table if r and r[0] == "合计")[-1] == "5"
    q = await c.get(f"/desk/reports/export.csv?report=quality&{NOV}")
    rows = list(csv.reader(io.StringIO((await q.read()).decode("utf-8-sig"))))
    assert ["办结率", "2", "5", "40.00"] in rows  # percentages, the unit in the header
    assert ["指标", "分子", "分母", "比率（%）"] in rows


async def test_print_page_and_pdf(desk):
    c = await desk("super1")
    resp = await c.get(f"/desk/reports/print?report=departments&{NOV}")
    html = await resp.text()
    assert resp.status == 200 and "承办单位工作量" in html and "市住房和城乡建设局" in html
    pdf = await c.get(f"/desk/reports/report.pdf?report=quality&{NOV}")
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    assert (await pdf.read()).startswith(b"%PDF")


@pytest.mark.parametrize("query, field", [
    ("first=2026-13-01&last=2026-11-30", "统计时段"),
    ("first=2026-11-30&last=2026-11-01", "统计时段"),
    ("report=nope", "报表"),
    (f"department=nope&{NOV}", "承办单位"),
    (f"compare=custom&{NOV}", "对比"),
    ("granularity=day&first=2026-01-01&last=2026-11-30", "时间粒度"),
])
async def test_bad_input_gets_a_clear_answer(desk, query, field):
    c = await desk("super1")
    resp = await c.get(f"/desk/reports?{query}")
    html = await resp.text()
    assert resp.status == 400
    assert f"条件有误（{field}）" in html and 'id="report-form"' in html
    message = re.search(r'id="report-error">([^<]*)<', html).group(1)
    # in Chinese: no English sentence from the code inside it (a typed value may be shown as typed)
    assert not re.search(r"\b(period|before|is not|must|unknown|compare|granularity|at most)\b", message), message
    download = await c.get(f"/desk/reports/export.xlsx?{query}")
    assert download.status == 400 and f"条件有误（{field}）" in await download.text()
    english = await (await c.get(f"/desk/reports?{query}&lang=en")).text()
    assert "Check the conditions" in english


async def test_chart_png(desk):
    c = await desk("super1")
    resp = await c.get(f"/desk/reports/chart.png?report=traffic&{NOV}")
    assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")
