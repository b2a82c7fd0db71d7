"""How two citizens' words about a place or a problem are compared (the similar-case finder, cases/similar.py).

Real duplicates rarely repeat each other word for word: "幸福路12号" and "幸福路十二号附近",
"幸福家园小区东门" and "幸福家园门口", "A3区魏家坡巷" and "魏家坡小区". So places are compared after
normalising what varies without changing the place (full-width and Chinese numerals before an
address unit, fillers such as 附近 / 门口 / 旁边, punctuation), on character bigrams (Chinese has no
spaces; a two-character window holds most place-name parts), and a house number that differs on the
same street is a different place. Descriptions are compared on character bigrams too, without the
courtesies every message shares (您好, 谢谢, 请…).
"""
from __future__ import annotations

import re
import unicodedata

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
# a Chinese numeral right before an address unit: 十二号, 三栋, 二单元, 五楼, 一期
_ADDRESS_NUMBER = re.compile(r"([零〇一二两三四五六七八九十百千]+)(?=号|栋|幢|楼|单元|室|层|弄|巷|期|组|座|排|户|街坊)")
# words that move the point a little without naming another place
_FILLERS = re.compile(r"附近|旁边|边上|周边|周围|一带|对面|门口|路口|路段|这里|那里|这边|那边|里面|外面|处|的|旁|边")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_HOUSE_NUMBER = re.compile(r"(\d+)号")
# the administrative prefix (省/市/区/县), which one citizen says and another leaves out; 小区 and
# 社区 are places, not districts
_ADMIN = re.compile(r"^(?:[^\s]{1,6}?(?:省|(?<![超菜夜集门])市|(?<![小社园校厂])(?:区|县)))+")
# where a place is named inside a description (an email or a chat without a separate place answer)
PLACE_IN_TEXT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{1,8}?(?:大道|大街|路|街|巷|弄|胡同|小区|花园|家园|公寓|"
                           r"大厦|广场|公园|市场|商场|学校|中学|小学|幼儿园|医院|社区|村|苑|湾|城)(?:\d+号)?")
_COURTESY = re.compile(r"您好|你好|尊敬的|领导|谢谢|感谢|麻烦|希望|请|政府|有关部门|相关部门|市民|反映|投诉|问题|情况|一下")
_CJK_RUN = re.compile(r"[\u4e00-\u9fffA-Za-z]{2,}")
_LEADING = re.compile(r"^(?:在|位于|于|我家|我们|我住|住在|本|这个|那个)+")
# what follows a number (2号楼, 3栋, 5单元) and words every place has: no name to look up. "号楼"
# as a search term would match most of the open cases (and make every look-up read them all)
_UNIT_OR_KIND = re.compile(r"^(?:号楼|号院|号|栋|幢|楼|单元|室|层|弄|期|组|座|排|户|小区|社区|楼下|楼上|楼道|楼栋|宿舍)+")
# what a sentence says before the place it names ("我家在和平路…", "楼下就是光明市场")
_BEFORE_PLACE = re.compile(r"^.*[在于住到是]")


def chinese_number(text: str) -> int | None:
    """十二 -> 12, 一百零五 -> 105, 二三 -> 23 (digit by digit); None when it is not a number."""
    if all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, digit = 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


def _numbers_to_digits(text: str) -> str:
    def repl(m: re.Match) -> str:
        value = chinese_number(m.group(1))
        return m.group(1) if value is None else str(value)
    return _ADDRESS_NUMBER.sub(repl, text)


def normalize_place(text: str) -> str:
    """The place as compared: NFKC (full-width digits), lower case, Chinese numerals before address
    units as digits, no administrative prefix, fillers or punctuation."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _numbers_to_digits(text)
    text = _PUNCT.sub("", text)
    stripped = _ADMIN.sub("", text, count=1)
    text = stripped if len(stripped) >= 2 else text  # "A3区" alone is all the place there is
    return _FILLERS.sub("", text)


def normalize_text(text: str) -> str:
    """A description as compared: NFKC, lower case, numerals as digits, no punctuation or courtesies."""
    text = _numbers_to_digits(unicodedata.normalize("NFKC", text or "").lower())
    return _COURTESY.sub("", _PUNCT.sub("", text))


def bigrams(text: str) -> frozenset[str]:
    if len(text) < 2:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def places_in(location: str, description: str = "") -> list[str]:
    """The normalised places a case names: its place field, else those named in its words."""
    found = [normalize_place(location)] if normalize_place(location) else []
    if not found:
        found = [normalize_place(_BEFORE_PLACE.sub("", m))
                 for m in PLACE_IN_TEXT.findall(unicodedata.normalize("NFKC", description or ""))]
    return [p for p in dict.fromkeys(found) if len(p) >= 2][:5]


def place_similarity(a: list[str], b: list[str]) -> float:
    """0..1: how surely two cases name the same place (the best pair of their places). Bigrams
    contained in the shorter name (one citizen says less than the other), halved where the same
    street has different house numbers."""
    best = 0.0
    for x in a:
        gx = bigrams(x)
        for y in b:
            gy = bigrams(y)
            if not gx or not gy:
                continue
            score = len(gx & gy) / min(len(gx), len(gy))
            nx, ny = set(_HOUSE_NUMBER.findall(x)), set(_HOUSE_NUMBER.findall(y))
            if nx and ny and not nx & ny:
                score *= 0.5
            best = max(best, score)
    return best


def text_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """0..1: bigram overlap of two descriptions, relative to the shorter (a rewording that says less
    is still about the same thing)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b)) if min(len(a), len(b)) >= 4 else 0.0


def search_terms(places: list[str], limit: int = 3) -> list[str]:
    """Short pieces of the place names that the case text index can look up: the beginning of each
    run of letters (the name, without leading 在/位于/我家…), three or four characters, so that a
    place written longer or shorter elsewhere ("幸福家园小区东门", "幸福家园") still shares it."""
    terms: list[str] = []
    for place in places:
        for run in _CJK_RUN.findall(place):
            run = _UNIT_OR_KIND.sub("", _LEADING.sub("", run))
            if len(run) >= 2:
                terms.append(run[:4])
    return list(dict.fromkeys(terms))[:limit]
