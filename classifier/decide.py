"""How the learned ranking and the city's keywords combine into one category.

The model decides; a keyword the city wrote for a category overrides it where the model agrees on
the top level or is unsure of it (a city can move "广场舞" to another category without
retraining, but a stray keyword cannot pull a clear case into another department).
"""
from __future__ import annotations

from dataclasses import dataclass

# below this top-level probability a keyword hit may move the case to another top level
KEYWORD_OVERRIDES_BELOW = 0.5


@dataclass
class Choice:
    code: str
    confidence: float
    source: str  # "model" | "keywords"


def top_of(code: str) -> str:
    return code.split(".", 1)[0]


def keyword_hit(text: str, categories: list[tuple[str, list[str]]]) -> str | None:
    """The category whose keywords (two characters or more) cover most of the text; None on a tie."""
    scores = sorted(((sum(len(k) for k in words if len(k) > 1 and k in text), code) for code, words in categories),
                    reverse=True)
    if not scores or scores[0][0] < 2 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return None
    return scores[0][1]


def choose(ranked: list[tuple[str, float]], top_probability: dict[str, float], keyword: str | None) -> Choice | None:
    """`ranked`: the model's categories, best first, with their probabilities; `top_probability`:
    each top level's; `keyword`: the keyword hit, if any."""
    if not ranked:
        return Choice(keyword, 0.0, "keywords") if keyword else None
    best, p = ranked[0]
    if keyword and keyword != best:
        sure = top_probability.get(top_of(best), 0.0)
        if top_of(keyword) == top_of(best) or sure < KEYWORD_OVERRIDES_BELOW:
            return Choice(keyword, top_probability.get(top_of(keyword), 0.0), "keywords")
    return Choice(best, p, "model")
