"""Period comparison: a report's figures this period against another (同比, 环比, any two)."""
from __future__ import annotations

from .base import Chart, Column, Table


def change(current: float | None, other: float | None) -> tuple[float | None, float | None]:
    """(absolute change, relative change); the relative change is None when the base is 0 or missing."""
    if current is None or other is None:
        return None, None
    diff = current - other
    return diff, (diff / other if other else None)


def compare_tables(current: Table, other: Table, keys: list[str], *, totals_only: bool = False,
                   current_label: str = "本期", other_label: str = "对比期") -> Table:
    """One row per label found in either table (or only the total rows), with, for each value
    column in `keys`, this period, the other period, the change and the change in percent. Rates
    change in percentage points; their relative change is not shown."""
    def index(table: Table) -> dict[str, dict]:
        rows = [table.total] if totals_only else table.all_rows()
        return {r["label"]: r for r in rows if r is not None}

    a, b = index(current), index(other)
    labels = list(a) + [k for k in b if k not in a]
    if not totals_only and "合计" in labels:  # the total row stays last
        labels.remove("合计")
        labels.append("合计")
    columns = [Column("label", current.column("label").label, "text")]
    for key in keys:
        base = current.column(key)
        kind = base.kind
        columns += [Column(f"{key}", f"{base.label}（{current_label}）", kind),
                    Column(f"{key}__other", f"{base.label}（{other_label}）", kind),
                    Column(f"{key}__change", f"{base.label}增减", "rate_change" if kind == "rate" else "change")]
        if kind != "rate":
            columns.append(Column(f"{key}__pct", f"{base.label}增减%", "pct"))
    rows = []
    for label in labels:
        source = a.get(label) or b.get(label) or {}
        row = {"label": label, **{k: source[k] for k in ("subtotal", "level") if k in source}}
        for key in keys:
            missing = None if current.column(key).kind == "rate" else 0  # absent: none counted
            cur = a[label].get(key) if label in a else missing
            oth = b[label].get(key) if label in b else missing
            diff, pct = change(cur, oth)
            row.update({key: cur, f"{key}__other": oth, f"{key}__change": diff, f"{key}__pct": pct})
        rows.append(row)
    total = None
    if not totals_only and rows and rows[-1]["label"] == "合计":
        total = rows.pop()
    chart = Chart("bar", "label", [keys[0], f"{keys[0]}__other"])
    return Table(f"{current.key}_compare", f"{current.title} 对比", columns, rows, total, chart,
                 note=f"{current_label}：{current.period}；{other_label}：{other.period}。",
                 period=f"{current.period} / {other.period}")
