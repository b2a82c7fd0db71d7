"""Text clean-up before the NLU sees a message: the forms numbers take in Chinese speech and typing.

Callers read numbers digit by digit ("幺三八…", "洞" for 0, "两" for 2) and people type full-width
digits (１３８); runs of such digits become ASCII so phone numbers, case numbers and passwords match
the same patterns whatever the channel. Ordinary words that contain a digit character (一般, 一下,
两个) are left alone: only runs of at least three digit characters are converted.
"""
from __future__ import annotations

import re
import unicodedata

from cases.intake import fold_width

_DIGITS = {"零": "0", "〇": "0", "○": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2",
           "两": "2", "贰": "2", "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5",
           "六": "6", "陆": "6", "七": "7", "柒": "7", "拐": "7", "八": "8", "捌": "8", "九": "9",
           "玖": "9", "勾": "9"}
_DIGIT_CLASS = "".join(_DIGITS) + "0-9"
# a run of digits (spoken or written), allowing the spaces and dashes people put between groups
_RUN = re.compile(rf"[{_DIGIT_CLASS}](?:[\s\-－—]*[{_DIGIT_CLASS}])+")
_SPOKEN_ONLY = re.compile(rf"^[{''.join(_DIGITS)}]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\ufeff]")


def _convert(match: re.Match) -> str:
    run = match.group(0)
    digits = re.sub(r"[\s\-－—]", "", run)
    spoken = sum(1 for ch in digits if ch in _DIGITS)
    # "一一" or "二三" inside words stay; three or more digit characters are a number being given
    if len(digits) < 3 and spoken:
        return run
    if spoken and len(digits) < 5 and _SPOKEN_ONLY.match(digits) and not re.search(r"[幺洞拐勾]", digits):
        return run  # short runs of plain numerals (三四个, 一二三) are usually words, not numbers
    return "".join(_DIGITS.get(ch, ch) for ch in digits)


def normalize_text(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII) except on Chinese punctuation, control
    characters dropped, spoken digit runs to ASCII digits."""
    text = fold_width(text or "")
    text = _CONTROL.sub("", text)
    text = " ".join(text.split())
    return _RUN.sub(_convert, text)


def digits_only(text: str) -> str:
    """All the digits in a message, spoken or written, in order ("幺三八 1234" -> "1381234")."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(_DIGITS.get(ch, ch) for ch in text if ch.isdigit() or ch in _DIGITS)
