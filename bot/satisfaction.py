"""A citizen's satisfaction answer in their own words, graded 1 满意 / 2 一般 / 3 不满意.

The classifier finds the words ("相当满意", "太让人失望了", "就那样吧"), but the survey stores a
grade; a fixed word list cannot cover every way of saying it, so the grade comes from cue
phrases. Neutral cues are checked first ("基本满意", "还算可以" are not praise), then negative
ones ("不满意" contains "满意"), then positive ones; English answers the same way, by whole words
("not satisfied" before "satisfied", "not bad" is average).
"""
from __future__ import annotations

import re
import unicodedata

_NEUTRAL = ("一般", "还行", "还可以", "还凑合", "凑合", "马马虎虎", "过得去", "中规中矩", "说不上", "就那样",
            "普普通通", "普通", "及格", "基本满意", "差不多", "将就", "还好吧", "不好不坏", "一半一半", "还成")
_NEGATIVE = ("不满", "不太", "不行", "不怎么样", "不咋", "不好", "不够好", "不到位", "不负责", "差", "失望",
             "糟", "垃圾", "敷衍", "烂", "太慢", "没解决", "没有解决", "没用", "坑", "气人", "恶心", "生气")
_POSITIVE = ("满意", "好", "不错", "满分", "到位", "赞", "棒", "五星", "感谢", "谢谢", "巴适", "给力", "及时",
             "周到", "热情", "耐心", "厉害", "优秀", "完美")
_GRADES = (("2", _NEUTRAL), ("3", _NEGATIVE), ("1", _POSITIVE))
_EN_GRADES = (
    ("2", re.compile(r"\b(average|ok|okay|so-?so|fine|alright|all right|not bad|meh|mediocre|could be better|"
                     r"neutral|partly|somewhat|more or less|middling|passable)\b")),
    ("3", re.compile(r"\b(not|never|dis-?satisfied|unsatisfied|unhappy|bad|poor|terrible|awful|horrible|useless|"
                     r"disappoint\w*|rude|slow|worst|waste)\b|n't")),
    ("1", re.compile(r"\b(satisfied|happy|good|great|excellent|perfect|brilliant|helpful|amazing|fantastic|"
                     r"thanks?|thank you|5 stars?|five stars?|well done|super|awesome|wonderful)\b")),
)
# a bare grade, typed or spoken, optionally "按2" / "选三"
_DIGIT = re.compile(r"^(?:按|选|打)?([123一二三])分?$")
_DIGIT_VALUE = {"一": "1", "二": "2", "三": "3"}


def grade(text: str) -> str | None:
    """"1", "2" or "3" for a satisfaction answer, None when the text says none of them."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    bare = _DIGIT.match(text)
    if bare:
        return _DIGIT_VALUE.get(bare.group(1), bare.group(1))
    for value, cues in _GRADES:
        if any(cue in text for cue in cues):
            return value
    lowered = text.lower()
    for value, pattern in _EN_GRADES:
        if pattern.search(lowered):
            return value
    return None
