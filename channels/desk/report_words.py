"""Reports in the page's language. The report engine (cases/reports) writes its tables in Chinese,
the hotline's first language; on an English page the desk turns each table's own words (title,
column heads, fixed row labels such as 合计, the note, the period) into English with the catalog's
`report_words` section (gettext's way: the Chinese text is the key) and a few patterns for the
composed ones ("业务量（按类型，按周）", "满意率增减"). Numbers inside a text are placeholders
({0}, {1}…), so "本期受理共 {0} 件。" serves every count. Data stays as stored, except the names the
reference data also has in English (categories, departments). A text with no English shows in
Chinese, so a gap is visible (the browser test of every page looks for it)."""
from __future__ import annotations

import re
from dataclasses import replace

from cases.reports import Table
from cases.reports.export import display
from cases.workflow import CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS
from hotline.i18n import catalog

PATTERNS = [(re.compile(p), f) for p, f in (
    (r"^(.+)（按(.+)，按(.+)）$", "{0} (by {1}, by {2})"),
    (r"^(.+)（按(.+)）$", "{0} (by {1})"),
    (r"^(.+)增减%$", "{0}: change %"),
    (r"^(.+)增减$", "{0}: change"),
    (r"^(.+) 对比$", "{0}: comparison"),
    (r"^(.+) 小计$", "{0}: subtotal"),
    (r"^(.+)（未细分）$", "{0} (not subdivided)"),
    (r"^(\d{4})年$", "{0}"),
    (r"^(\d{4})年(\d{1,2})月$", "{0}-{1:0>2}"),
    (r"^(\S+) 至 (\S+)$", "{0} to {1}"),
    (r"^(.+) / (.+)$", "{0} / {1}"),                       # a comparison's two periods
    (r"^(.+)：(.+)；(.+)：(.+)。$", "{0}: {1}; {2}: {3}."),   # and its note
    (r"^(.+)（([^（）]+)）$", "{0} ({1})"),                   # a comparison's column: 合计（本期）
)]
NUMBER = re.compile(r"\d+")


class Words:
    """Chinese report text → the page's language (Chinese: as it is)."""

    def __init__(self, locale: str, names: dict[str, str] | None = None):
        self.english = locale == "en"
        self.words = {k.split(".", 1)[1]: v for k, v in catalog("en").items() if k.startswith("report_words.")} \
            if self.english else {}
        for labels in (KIND_LABELS, CHANNEL_LABELS, STATUS_LABELS) if self.english else ():
            for zh, en in labels.values():  # row labels of the volume report by kind, channel, status
                self.words.setdefault(zh, en)
        self.names = names or {}  # reference data's own English names

    def __call__(self, text):
        if not self.english or not isinstance(text, str) or not text:
            return text
        if text in self.words:
            return self.words[text]
        if text in self.names:
            return self.names[text]
        numbers = NUMBER.findall(text)
        if numbers:  # "本期受理共 120 件。" → "本期受理共 {0} 件。"
            template = NUMBER.sub(lambda m, n=iter(range(len(numbers))): "{%d}" % next(n), text)
            if template in self.words:
                return self.words[template].format(*numbers)
        for pattern, form in PATTERNS:
            found = pattern.match(text)
            if found:
                return form.format(*(self(part) for part in found.groups()))
        return text

    def table(self, table: Table | None) -> Table | None:
        if not self.english or table is None:
            return table
        text_keys = [c.key for c in table.columns if c.kind == "text"]

        def row(r: dict | None) -> dict | None:
            return None if r is None else {**r, **{k: self(r.get(k)) for k in text_keys if k in r}}
        return replace(table, title=self(table.title), note=self(table.note), period=self(table.period),
                       columns=[replace(c, label=self(c.label)) for c in table.columns],
                       rows=[row(r) for r in table.rows], total=row(table.total))

    def display(self, value, kind: str = "int") -> str:
        shown = display(value, kind)
        return shown.replace("个百分点", " pp") if self.english else shown

    def choices(self, mapping: dict) -> dict:
        return {k: self(v) for k, v in mapping.items()}
