"""What a voice should say: text cut into short clauses (the first one plays while the rest are
synthesized) and numbers read digit by digit."""
from __future__ import annotations

import re

_ZH_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九"))
_SPOKEN_DIGITS = "零幺一二三四五六七八九两洞拐勾"
# clause ends: Chinese and Western sentence and clause punctuation, and line breaks
_CLAUSE_END = re.compile(r"(?<=[。！？；：，、!?;:\n])|(?<=[.,](?=\s))")
_DIGIT_RUN = re.compile(r"\d{3,}")
_NUMBER_CLAUSE = re.compile(rf"^[\s{_SPOKEN_DIGITS}\d，,、\-]+[。.，,；;]?$")
MAX_CLAUSE = 60


def spell_digits(text: str, language: str) -> str:
    """Runs of three or more ASCII digits (numbers to note, not quantities) become single spoken
    digits: 幺二三 in Chinese, "1 2 3" elsewhere, grouped by four with a pause."""
    def spell(m: re.Match) -> str:
        digits = m.group(0)
        groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
        if language.lower().startswith("zh"):
            return "\n" + "，".join("".join(_ZH_DIGITS[d] for d in g) for g in groups) + "，\n"
        return "\n" + ", ".join(" ".join(g) for g in groups) + ",\n"
    # the comma that closes a number gives way to the punctuation that follows it
    return re.sub(r"[，,]\n(?=[。.，,；;：:！!？?])", "\n", _DIGIT_RUN.sub(spell, text))


def clauses(text: str) -> list[str]:
    """Short pieces to synthesize one at a time; very long clauses are cut at MAX_CLAUSE."""
    out: list[str] = []
    for piece in _CLAUSE_END.split(text):
        piece = piece.strip()
        while len(piece) > MAX_CLAUSE:
            out.append(piece[:MAX_CLAUSE])
            piece = piece[MAX_CLAUSE:]
        if piece and any(ch.isalnum() for ch in piece):
            out.append(piece)
    return _merge_numbers(out)


def _merge_numbers(parts: list[str]) -> list[str]:
    """Consecutive digit groups (幺二三四，五六七八) stay one clause, read slowly together."""
    merged: list[str] = []
    for p in parts:
        if merged and is_number(merged[-1]) and _digits_only(p):
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    return merged


def _digits_only(clause: str) -> bool:
    return bool(_NUMBER_CLAUSE.match(clause))


def is_number(clause: str) -> bool:
    """A clause that is only digits (spoken or written): a number the caller must note down."""
    return bool(_NUMBER_CLAUSE.match(clause)) and sum(ch.isdigit() or ch in _SPOKEN_DIGITS for ch in clause) >= 3
