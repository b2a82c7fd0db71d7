"""Charts drawn on the server with matplotlib (Agg, no display), labelled in Chinese with a CJK font
from Debian's fonts-noto-cjk (`make system-deps`). The figure API is used without pyplot, so
charts can be drawn in worker threads."""
from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .base import Table  # noqa: E402

CJK_FONT_FILES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",   # fonts-noto-cjk (Debian, Ubuntu)
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",         # Arch, Fedora
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",            # fonts-wqy-microhei
]
COLORS = ["#2f6db5", "#e0812f", "#3a9a5b", "#c2453d", "#8064a8", "#8c6d31", "#d16ba5", "#6b7280",
          "#17a2b8", "#b5a82f"]


class MissingFont(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed CJK font (registered with matplotlib once)."""
    for path in CJK_FONT_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    for entry in font_manager.fontManager.ttflist:
        if "CJK" in entry.name or "Hei" in entry.name:
            return entry.name
    raise MissingFont("no CJK font found: install Debian's fonts-noto-cjk (make system-deps)")


def render_png(table: Table, width: float = 8.0, height: float = 4.2, dpi: int = 100,
               empty: str = "本期无数据") -> bytes:
    """The table's chart as PNG bytes (its totals row left out); `empty`: what a chart without data says."""
    chart = table.chart
    if chart is None:
        raise ValueError(f"table {table.key!r} has no chart")
    family = cjk_font()
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_subplot()
    # two-level tables chart their first level (the subtotals), not every child
    rows = ([r for r in table.rows if r.get("level") == 0] if any(r.get("subtotal") for r in table.rows)
            else list(table.rows))
    horizontal = chart.kind == "bar" and len(chart.value_keys) == 1 and len(rows) > 10
    if horizontal:  # many named bars: the largest 15, lying down so their names stay readable
        rows = sorted(rows, key=lambda r: r.get(chart.value_keys[0]) or 0, reverse=True)[:15][::-1]
    labels = [str(r.get(chart.label_key, "")) for r in rows]
    series = [(table.column(k).label, table.column(k).kind, [(r.get(k) or 0) for r in rows]) for k in chart.value_keys]
    if chart.by_row:  # a time series: the buckets along the x axis, one series per row
        series = [(label, "int", [(r.get(k) or 0) for k in chart.value_keys]) for label, r in zip(labels, rows)]
        labels = [table.column(k).label for k in chart.value_keys]
        rows = labels
    rates = all(kind == "rate" for _, kind, _ in series)
    if rates:
        series = [(name, kind, [v * 100 for v in values]) for name, kind, values in series]
    if not rows or not any(any(values) for _, _, values in series):
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=16, family=family, transform=ax.transAxes)
        ax.set_axis_off()
    elif chart.kind == "pie":
        _, _, values = series[0]
        shown = [(lab, v) for lab, v in zip(labels, values) if v]
        ax.pie([v for _, v in shown], labels=[lab for lab, _ in shown], autopct="%1.1f%%", startangle=90,
               counterclock=False, colors=COLORS, textprops={"family": family, "fontsize": 9})
        ax.axis("equal")
    elif horizontal:
        name, _, values = series[0]
        ax.barh(range(len(rows)), values, color=COLORS[0])
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=8, family=family)
    elif chart.kind == "line":
        for i, (name, _, values) in enumerate(series):
            ax.plot(range(len(values)), values, marker="o" if len(values) <= 40 else None, color=COLORS[i % 10],
                    label=name)
        _ticks(ax, labels, family)
    else:
        n = len(series)
        stacked = chart.kind == "stacked"
        width_each = 0.8 if stacked else 0.8 / n
        bottoms = [0.0] * len(rows)
        for i, (name, _, values) in enumerate(series):
            xs = [x if stacked else x - 0.4 + width_each * (i + 0.5) for x in range(len(rows))]
            ax.bar(xs, values, width_each, bottom=bottoms if stacked else None, color=COLORS[i % 10], label=name)
            if stacked:
                bottoms = [b + v for b, v in zip(bottoms, values)]
        _ticks(ax, labels, family)
    if rates and chart.kind != "pie":
        ax.set_ylabel("%", family=family)
    if len(series) > 1 and chart.kind != "pie" and rows:
        ax.legend(prop={"family": family, "size": 9})
    ax.set_title(f"{table.title}　{table.period}", family=family, fontsize=12)
    for spine in ("top", "right"):
        if spine in ax.spines:
            ax.spines[spine].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _ticks(ax, labels: list[str], family: str) -> None:
    step = max(1, len(labels) // 16)  # at most ~16 labels: days of a month stay readable
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=45 if max(map(len, labels), default=0) > 4 else 0,
                       ha="right", fontsize=8, family=family)
