"""Which category a citizen's own words belong to: the learned classifier (classifier/), with the
taxonomy's keywords in the database as an override a city can edit without retraining.

The NLU decides the kind of case (complaint, report …) from the intent; the category comes from
the words of the description. Until the model is loaded (or where it cannot be), the keywords
alone decide, as they did before the model existed.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cases.knowledge import KnowledgeRepository
from classifier.decide import choose, keyword_hit

from .textmatch import BM25

log = logging.getLogger("hotline.bot")

INTENT_KINDS = {"complain": "complaint", "report": "report", "suggest": "suggestion", "seek_help": "help",
                "praise": "praise", "mayor_mailbox": "mayor_mailbox", "ask_policy": "consultation",
                "leave_consultation": "consultation"}
MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
# a guess below this is no guess at all (greetings, a few words without a subject)
MIN_CONFIDENCE = 0.3
# below this the desk shows the agent the three most likely categories instead of one
SHOW_ALTERNATIVES_BELOW = 0.6
_LOADED: dict = {}  # model file -> the loaded model, shared by every classifier of the process


@dataclass
class CategoryGuess:
    code: str
    name: str
    score: float                 # the model's probability (0-1); for keywords alone, their score
    source: str = "model"        # model | keywords
    alternatives: list["CategoryGuess"] = field(default_factory=list)  # the three most likely, this first

    @property
    def confidence(self) -> float | None:
        return round(self.score, 4) if self.source == "model" or self.score <= 1 else None


class CategoryClassifier:
    def __init__(self, repository: KnowledgeRepository, model_dir: Path | None = None):
        self.repository = repository
        self.model_dir = Path(model_dir or MODEL_DIR)
        self._categories: dict[str, tuple[str, list[str]]] | None = None  # code -> (name, keywords)
        self._index: BM25 | None = None
        self._model = None
        self._failed = False

    async def _load(self) -> dict[str, tuple[str, list[str]]]:
        if self._categories is None:
            rows = await self.repository.leaf_categories()
            self._categories = {c.code: (f"{c.parent.name}/{c.name}" if c.parent else c.name,
                                         [k for k in (c.keywords or []) if k] + [c.name]) for c in rows}
            self._index = BM25([" ".join(words) for _, words in self._categories.values()])
            self._tops = {c.parent.code: c.parent.name for c in rows if c.parent}
        return self._categories

    def invalidate(self) -> None:
        self._categories = None

    async def load_model(self, with_cases: bool = True) -> None:
        """Load (training first when its inputs changed) the learned model. At the gateway's start
        the staff's choices in the case store are part of its training data; a classifier used
        before that (a test, a command) takes the model of the bootstrap data alone."""
        from classifier import build, dataset

        examples = await dataset.case_examples(self.repository.db, dataset.load_taxonomy()) if with_cases else []
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(None, build.ensure_model, self.model_dir, examples)
        if path not in _LOADED:  # one copy per process, whichever channel asks
            _LOADED.clear()
            _LOADED[path] = await loop.run_in_executor(None, build.load, path)
        self._model = _LOADED[path]

    async def _ensure_model(self):
        if self._model is None and not self._failed:
            try:
                if _LOADED:
                    self._model = next(iter(_LOADED.values()))
                else:
                    await self.load_model(with_cases=False)
            except Exception:  # a broken model file or data must not stop intake: keywords decide
                log.exception("category classifier not loaded; keywords decide")
                self._failed = True
        return self._model

    async def guess(self, text: str, min_score: float = 1.5) -> CategoryGuess | None:
        categories = await self._load()
        model = await self._ensure_model()
        if model is None:
            return self._keyword_guess(categories, text, min_score)
        ranking = model.rank([text])[0]
        options = [(o.code, o.probability) for o in ranking.options if self._known(o.code)]
        hit = keyword_hit(text, [(code, words) for code, (_, words) in categories.items()])
        chosen = choose(options, ranking.tops, hit)
        if chosen is None or (chosen.source == "model" and chosen.confidence < MIN_CONFIDENCE):
            return None
        alternatives = [CategoryGuess(code, self._name(code), p) for code, p in options if code != chosen.code]
        first = CategoryGuess(chosen.code, self._name(chosen.code), chosen.confidence, chosen.source)
        first.alternatives = [CategoryGuess(first.code, first.name, first.score)] + alternatives[:2]
        return first

    def _known(self, code: str) -> bool:
        return code in self._categories or code in self._tops

    def _name(self, code: str) -> str:
        return self._categories[code][0] if code in self._categories else self._tops.get(code, code)

    def _keyword_guess(self, categories, text: str, min_score: float) -> CategoryGuess | None:
        """Exact keyword hits (longer ones weigh more: "广场舞" over "吵") plus the overlap of
        character pairs, which catches "拖欠我三个月工资" for the keyword "拖欠工资"."""
        best = None
        for (code, (name, keywords)), overlap in zip(categories.items(), self._index.scores(text)):
            score = sum(len(k) for k in keywords if k in text) + overlap
            if score >= min_score and (best is None or score > best.score):
                best = CategoryGuess(code, name, score, "keywords")
        return best


def classifier_for(services) -> CategoryClassifier:
    """The gateway's classifier (the bot's, when the bot runs), for channels outside the dialogue;
    every instance shares the one loaded model."""
    engine = getattr(services, "engine", None)
    return engine.runtime.categories if engine else CategoryClassifier(KnowledgeRepository(services.db))


async def category_fields(services, text: str) -> dict:
    """A form's category and its confidence, where the person filing it chose none."""
    guess = await classifier_for(services).guess(text)
    return {"category": guess.code, "category_confidence": guess.confidence} if guess else {}
