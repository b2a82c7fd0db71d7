"""Relevance scoring for short Chinese texts with no word segmentation needed: BM25 over
character bigrams (and single characters for very short queries); English words (a run of Latin
letters on its own) count as whole words. Used to pick knowledge articles and categories; a few
hundred documents score in well under a millisecond."""
from __future__ import annotations

import math
import re
from collections import Counter

_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+")
# words that say nothing about the topic ("how do I", "what", politeness)
_STOP = set("怎么 如何 什么 哪里 请问 可以 需要 我想 想问 一下 我们 你们 这个 那个 是不是 能不能 吗 呢 的 了 吧 啊 呀".split())
_LATIN = re.compile(r"[a-z]+")
_EN_STOP = set("a an the i me my we our you your it its is are was be been am do does did can could will would "
               "should how what where when which who why there this that these those to of in on at for from with "
               "and or if about please want need get got have has had any some so just".split())


def _word(word: str) -> str:
    """An English word without its plural ending, so "cards" finds "card"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def grams(text: str) -> list[str]:
    out: list[str] = []
    for chunk in _KEEP.findall(text.lower()):
        if _LATIN.fullmatch(chunk):
            if len(chunk) > 1 and chunk not in _EN_STOP:  # "s" of "what's" says nothing
                out.append(_word(chunk))
            continue
        if len(chunk) == 1:
            out.append(chunk)
        out.extend(chunk[i:i + 2] for i in range(len(chunk) - 1))
    return [g for g in out if g not in _STOP]


class BM25:
    def __init__(self, documents: list[str], k1: float = 1.2, b: float = 0.6):
        self.k1, self.b = k1, b
        self.docs = [Counter(grams(d)) for d in documents]
        self.lengths = [sum(d.values()) or 1 for d in self.docs]
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        df = Counter(g for d in self.docs for g in d)
        n = len(self.docs)
        self.idf = {g: math.log(1 + (n - f + 0.5) / (f + 0.5)) for g, f in df.items()}
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)

    def scores(self, query: str) -> list[float]:
        q = set(grams(query))
        result = []
        for doc, length in zip(self.docs, self.lengths):
            s = 0.0
            for g in q:
                tf = doc.get(g)
                if tf:
                    s += self.idf[g] * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / self.avg))
            result.append(s)
        return result

    def query_weight(self, query: str) -> float:
        """The best score the query could reach: used to turn scores into 0..1 confidences.

        Words no document knows count fully, so a question about something else ("今天天气怎么样")
        that shares one common word with an article gets a low confidence."""
        return sum(self.idf.get(g, self.unseen_idf) for g in set(grams(query))) or 1.0
