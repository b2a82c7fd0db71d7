"""Bytes of Chinese mail into text, when the labels lie or are missing.

Real mail says "gb2312" for text with GBK-only characters, "us-ascii" for UTF-8, nothing at all for
raw 8-bit file names, and now and then "gb2312" for Big5. The rules, in order:
  1. valid UTF-8 with non-ASCII bytes is UTF-8 (other CJK encodings are almost never valid UTF-8);
  2. the declared charset (Chinese labels read as their superset: GB2312/GBK as GB18030, Big5 as
     Big5-HKSCS), unless another Chinese encoding reads as clearly more common characters;
  3. without a usable label: GB18030 or Big5-HKSCS, whichever reads as more common characters, and
     charset-normalizer's detection when neither looks like Chinese text.
Nothing here raises: the last resort decodes with replacement characters.
"""
from __future__ import annotations

import charset_normalizer

_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030",
    "cp936": "gb18030", "x-euc-cn": "gb18030", "csgb2312": "gb18030", "chinese": "gb18030", "hz-gb-2312": "hz",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs", "big-5": "big5hkscs", "cp950": "big5hkscs",
    "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": None, "x-unknown": None, "unknown": None,
}
_CHINESE = ("gb18030", "big5hkscs")


def _label(charset: str | None) -> str | None:
    label = (charset or "").strip().strip('"\'').lower()
    if not label:
        return None
    label = _ALIASES.get(label, label)
    if label is None:
        return None
    try:
        "".encode(label)
    except LookupError:
        return None
    return label


def _common(ch: str) -> bool:
    """A character a Chinese writer uses often: ASCII, the 3,755 first-level GB2312 hanzi and GB
    punctuation, or Big5's 5,401 common hanzi and its symbols."""
    if ch < "\x80":
        return True
    try:
        gb = ch.encode("gb2312")
        if len(gb) == 2 and (0xA1 <= gb[0] <= 0xA9 or 0xB0 <= gb[0] <= 0xD7):
            return True
    except UnicodeEncodeError:
        pass
    try:
        b5 = ch.encode("big5")
        return len(b5) == 2 and 0xA140 <= (b5[0] << 8 | b5[1]) <= 0xC67E
    except UnicodeEncodeError:
        return False


def commonness(text: str) -> float:
    """The share of a text's non-ASCII characters that are common Chinese ones (1.0 for ASCII)."""
    wide = [c for c in text if c >= "\x80"]
    if not wide:
        return 1.0
    return sum(_common(c) for c in wide) / len(wide)


def _try(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, charset: str | None = None, hints: tuple[str, ...] = ()) -> str:
    """Text from bytes: see the module's rules. `hints`: other charsets the same mail declares (a
    file name in raw 8-bit is most likely in the charset of the mail's text)."""
    if not data:
        return ""
    if data.isascii():
        return data.decode("ascii")
    text = _try(data, "utf-8")
    if text is not None:
        return text
    declared = _label(charset)
    candidates = [declared] if declared else []
    candidates += [h for h in (_label(h) for h in hints) if h and h not in candidates]
    candidates += [c for c in _CHINESE if c not in candidates]
    readings = [(c, t) for c in candidates if (t := _try(data, c)) is not None]
    if readings and readings[0][0] == declared:
        # the label is believed unless a longer text reads as mostly rare characters in it
        text = readings[0][1]
        if len(data) < 12 or commonness(text) >= 0.6:
            return text
    if readings:
        score, _, text = max((commonness(t), -i, t) for i, (_, t) in enumerate(readings))
        if score >= 0.6:
            return text
    match = charset_normalizer.from_bytes(data[:65536]).best()  # a sample decides; big junk stays cheap
    if match is not None:
        text = _try(data, match.encoding)
        if text is not None:
            return text
    if readings:
        return readings[0][1]
    return data.decode(declared or "gb18030", errors="replace")
