"""The printable sheets: the 受理单 as an A4 HTML page and as a PDF, checked by turning the PDF into
an image (pypdfium2): one A4 page, Chinese text drawn (not boxes: the text layer reads back and the
page carries ink where the text is)."""
from __future__ import annotations

import pytest

from cases.store import Actor
from desk_support import login, make_users, new_case

A4_PT = (595.28, 841.89)


async def test_case_sheet_html_and_pdf(services, client):
    users = await make_users(services)
    case = await new_case(services, description="幸福小区三号楼电梯停运一个月，老人上下楼困难，物业不予理睬")
    await services.store.apply(case.number, "dispatch", Actor.for_user(users["agent1"]), department_code="zjj",
                               comment="请尽快核实处理", co_departments=["scjgj"])
    assert (await login(client, "agent1")).status == 302
    html = await (await client.get(f"/desk/cases/{case.number}/print/sheet")).text()
    assert "受理单" in html and case.number in html and "电梯停运" in html
    dispatch_sheet = await (await client.get(f"/desk/cases/{case.number}/print/dispatch")).text()
    assert "交办单" in dispatch_sheet and "请尽快核实处理" in dispatch_sheet and "市场监督管理局" in dispatch_sheet
    assert "催办通知书" in await (await client.get(f"/desk/cases/{case.number}/print/notice")).text()

    resp = await client.get(f"/desk/cases/{case.number}/print/sheet.pdf")
    assert resp.status == 200 and resp.content_type == "application/pdf"
    data = await resp.read()
    try:
        import pypdfium2 as pdfium
    except ImportError:
        from conftest import need
        need("pypdfium2 is not installed (pip install -c constraints.txt '.[test]')")
    pdf = pdfium.PdfDocument(data)
    assert len(pdf) == 1
    page = pdf[0]
    assert page.get_size() == pytest.approx(A4_PT, abs=1)
    text = "".join(page.get_textpage().get_text_range().split())  # letter-spaced titles read back spaced
    assert "受理单" in text and case.number in text and "电梯停运" in text
    image = page.render(scale=1).to_pil().convert("L")
    dark = sum(1 for px in image.getdata() if px < 128)
    assert dark > 2000, "the page is (nearly) blank"
    # the title is drawn in a CJK font: the band under the top margin has ink
    top = image.crop((150, 40, 450, 110))
    assert sum(1 for px in top.getdata() if px < 128) > 200
    image.save("/tmp/desk-sheet.png")
