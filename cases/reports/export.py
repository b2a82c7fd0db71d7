"""Exports: XLSX (openpyxl) and CSV (the csv module, UTF-8 with a BOM so spreadsheet programs
read the Chinese correctly). Numbers stay numbers (rates as fractions formatted as percentages in
XLSX, as percentages in CSV, which has no formats), so a spreadsheet can compute with them."""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .base import Table

RATE_KINDS = ("rate", "pct", "rate_change")


def cell_value(value, kind: str):
    """The value as a spreadsheet cell holds it: None stays empty, rates stay fractions."""
    if value is None:
        return None
    if kind in ("int", "change", "seconds") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def display(value, kind: str) -> str:
    """The value as a person reads it (pages, CSV, charts' labels)."""
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "pct":
        return f"{value * 100:+.1f}%"
    if kind == "rate_change":
        return f"{value * 100:+.1f}个百分点"
    if kind == "change":
        return f"{value:+,}" if isinstance(value, int) else f"{value:+,.0f}"
    if kind == "seconds":
        total = int(value)
        return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    if isinstance(value, (int, float)) and kind == "int":
        return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"
    return str(value)


CSV_UNITS = {"rate": "（%）", "pct": "（%）", "rate_change": "（百分点）"}
CSV_UNITS_EN = {"rate": " (%)", "pct": " (%)", "rate_change": " (percentage points)"}


def to_csv(tables: list[Table], units: dict[str, str] = CSV_UNITS) -> bytes:
    """The tables one after another, each with its title and header; rates as percentages (25.81
    for 25.81%, two decimals, the unit in the column's header) so what a spreadsheet shows is what
    the page shows, and the number stays a plain number it can compute with."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerow([table.title, table.period])
        writer.writerow([c.label + units.get(c.kind, "") for c in table.columns])
        for row in table.all_rows():
            writer.writerow(["" if row.get(c.key) is None else
                             (f"{row[c.key] * 100:.2f}" if c.kind in RATE_KINDS else row[c.key]) for c in table.columns])
        if table.note:
            writer.writerow([table.note])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(tables: list[Table]) -> bytes:
    """One sheet per table: title, period, header, rows, total row in bold, note."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for table in tables:
        name = _sheet_name(table.title, used)
        ws = wb.create_sheet(name)
        ws.append([table.title])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([table.period])
        ws.append([c.label for c in table.columns])
        header_row = ws.max_row
        for cell in ws[header_row]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDE7F3")
            cell.alignment = Alignment(horizontal="center", wrap_text=True)
        for row in table.all_rows():
            ws.append([cell_value(row.get(c.key), c.kind) for c in table.columns])
            r = ws.max_row
            for j, c in enumerate(table.columns, 1):
                if c.kind in RATE_KINDS:
                    ws.cell(r, j).number_format = "0.0%"
                elif c.kind in ("int", "change"):
                    ws.cell(r, j).number_format = "#,##0"
            if row is table.total or row.get("subtotal"):
                for cell in ws[r]:
                    cell.font = Font(bold=True)
        if table.note:
            ws.append([])
            ws.append([table.note])
        for j, c in enumerate(table.columns, 1):
            width = max([len(str(c.label))] + [len(display(r.get(c.key), c.kind)) for r in table.all_rows()])
            ws.column_dimensions[get_column_letter(j)].width = min(40, max(8, width * 1.6 + 2))
        ws.freeze_panes = ws.cell(header_row + 1, 2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    base = "".join(ch for ch in title if ch not in '[]:*?/\\')[:28] or "报表"
    name, n = base, 2
    while name in used:
        name, n = f"{base[:26]}{n}", n + 1
    used.add(name)
    return name
