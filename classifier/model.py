"""The two-level model: a linear classifier on character 1-3 grams and jieba words for the top
level (probabilities calibrated, so the confidence means something), and one for the leaf, whose
scores are only compared among the children of a top level.

Features are TF-IDF weighted n-grams of capped vocabularies; measured on the held-out
split (README, "Category classifier") this beats a frozen sentence encoder by far on Chinese.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .dataset import Example, clean

CHAR_FEATURES = 100_000
WORD_FEATURES = 30_000


def words(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(clean(text)) if len(w) > 1]


def _features():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    # vocabularies capped by frequency: the linear models' weights (one row per category, most of
    # the resident size) stay small, and rare n-grams would only be memorised anyway
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, max_features=CHAR_FEATURES,
                            sublinear_tf=True, preprocessor=clean, dtype=np.float32)
    tokens = TfidfVectorizer(analyzer=words, min_df=2, max_features=WORD_FEATURES, sublinear_tf=True,
                             dtype=np.float32)
    return make_union(chars, tokens)


@dataclass
class Ranked:
    code: str
    probability: float


@dataclass
class Ranking:
    options: list[Ranked]       # best first
    tops: dict[str, float]      # every top level's probability


class CategoryModel:
    """Trained on examples; ranks leaves (or a bare top level where it has no leaf) for a text."""

    def __init__(self):
        self.features = _features()
        self.top = None
        self.leaf = None

    def fit(self, examples: list[Example]) -> "CategoryModel":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import SGDClassifier
        from sklearn.svm import LinearSVC

        matrix = self.features.fit_transform([e.text for e in examples])
        for _, vectorizer in self.features.transformer_list:
            vectorizer.stop_words_ = None  # the n-grams left out: only needed for inspection, and big
        self.top = CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), cv=3, ensemble=False)
        self.top.fit(matrix, np.array([e.top for e in examples]))
        with_leaf = [i for i, e in enumerate(examples) if e.leaf]
        self.leaf = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=30, tol=None, random_state=0,
                                  class_weight="balanced")
        self.leaf.fit(matrix[with_leaf], np.array([examples[i].leaf for i in with_leaf]))
        for clf in self._linear_parts():  # halves the resident size; float32 is plenty for scores
            clf.coef_ = clf.coef_.astype(np.float32)
        # the leaf weights laid out for a sparse row times them: sklearn's own predict_proba copies
        # the transposed matrix on every call (10 ms a message)
        self.leaf_weights = np.ascontiguousarray(self.leaf.coef_.T)
        return self

    def _leaf_probabilities(self, matrix) -> np.ndarray:
        """As SGDClassifier.predict_proba (one-vs-rest logistic, normalised), without the copy."""
        from scipy.special import expit

        p = expit(np.asarray(matrix @ self.leaf_weights) + self.leaf.intercept_)
        return p / p.sum(axis=1, keepdims=True)

    def _linear_parts(self):
        yield self.leaf
        for calibrated in self.top.calibrated_classifiers_:
            yield getattr(calibrated, "base_estimator", None) or calibrated.estimator

    def rank(self, texts: list[str], n: int = 3) -> list[Ranking]:
        """For each text, the n best categories: first the best leaf of the most probable top
        level, then the others by joint probability (the top level's times the leaf's share among
        its siblings). A top level without leaves in the model stands for itself."""
        matrix = self.features.transform(texts)
        tops = self.top.predict_proba(matrix)
        leaves = self._leaf_probabilities(matrix)
        ranked = []
        for top_p, leaf_p in zip(tops, leaves):
            options = []
            for t, p in zip(self.top.classes_, top_p):
                children = self._children.get(t)
                share = leaf_p[children].sum() if children else 0.0
                if share <= 0:
                    options.append((p, 1.0, t))
                    continue
                options += [(p, leaf_p[i] / share, self.leaf.classes_[i]) for i in children]
            first = max(options)
            rest = sorted((o for o in options if o is not first), key=lambda o: -o[0] * o[1])
            ranked.append(Ranking([Ranked(code, float(p * share)) for p, share, code in [first, *rest][:n]],
                                  {t: float(p) for t, p in zip(self.top.classes_, top_p)}))
        return ranked

    @property
    def _children(self) -> dict[str, list[int]]:
        if getattr(self, "_children_cache", None) is None:
            self._children_cache = {}
            for i, code in enumerate(self.leaf.classes_):
                self._children_cache.setdefault(code.split(".", 1)[0], []).append(i)
        return self._children_cache
