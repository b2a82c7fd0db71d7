"""Held-out figures of the classifier (`hotline classifier eval`, part of `make eval`).

The split is our own: 20% of the bootstrap messages, grouped so that a message and its near
copies (the board holds reposts with the same body) fall on the same side, never trained on. The
model is trained on the rest plus the taxonomy; the figures are top-level accuracy and macro-F1,
second-level accuracy where a weak leaf label exists (see dataset), latency per message on one
thread and the resident size of the loaded model.
"""
from __future__ import annotations

import gc
import os
import statistics
import time

from . import dataset
from .dataset import Example
from .decide import choose, keyword_hit, top_of


def split(examples: list[Example], test_size: float = 0.2, seed: int = 0) -> tuple[list[Example], list[Example]]:
    from sklearn.model_selection import GroupShuffleSplit

    groups = [dataset.clean(e.text)[-40:] for e in examples]
    train, test = next(GroupShuffleSplit(1, test_size=test_size, random_state=seed).split(examples, groups=groups))
    return [examples[i] for i in train], [examples[i] for i in test]


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def evaluate(extra: list[Example] = ()) -> dict:
    import joblib
    from sklearn.metrics import accuracy_score, f1_score

    from .model import CategoryModel

    taxonomy = dataset.load_taxonomy()
    train, test = split(dataset.bootstrap_examples(taxonomy))
    started = time.perf_counter()
    model = CategoryModel().fit(train + dataset.taxonomy_examples(taxonomy) + list(extra))
    train_s = time.perf_counter() - started

    texts = [e.text for e in test]
    ranked = model.rank(texts)
    top_truth = [e.top for e in test]
    top_guess = [top_of(r.options[0].code) for r in ranked]
    with_leaf = [(e.leaf, r.options[0].code) for e, r in zip(test, ranked) if e.leaf]
    in_three = sum(e.top in {top_of(o.code) for o in r.options} for e, r in zip(test, ranked))
    # the same with the reference taxonomy's keywords as the override (as the gateway decides)
    keywords = [(code, words[1:]) for code, _, words in taxonomy.leaves]
    chosen = [choose([(o.code, o.probability) for o in r.options], r.tops, keyword_hit(e.text, keywords))
              for e, r in zip(test, ranked)]
    with_override = [top_of(c.code) for c in chosen]

    # latency and size as the gateway sees them: a model loaded from its file, one text per call
    path = f"/tmp/classifier-eval-{os.getpid()}.joblib"
    joblib.dump(model, path, compress=3)
    del model
    gc.collect()
    before = _rss_mb()
    loaded = joblib.load(path)
    os.unlink(path)
    loaded.rank(["预热"])
    size = _rss_mb() - before
    # CPU time of this thread (on a busy shared machine wall time mostly measures the queue for a
    # core); whole held-out messages (300 characters on average) and chat-length ones (60)
    timings, short, wall = [], [], []
    for text in texts[:400]:
        t, w = time.thread_time(), time.perf_counter()
        loaded.rank([text])
        timings.append((time.thread_time() - t) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
        t = time.thread_time()
        loaded.rank([text[:60]])
        short.append((time.thread_time() - t) * 1000)
    return {
        "model": "TF-IDF (char 1-3 grams + jieba words) + linear SVM (calibrated) / SGD logistic leaf",
        "train_messages": len(train), "heldout_messages": len(test),
        "top_accuracy": round(accuracy_score(top_truth, top_guess), 4),
        "top_macro_f1": round(f1_score(top_truth, top_guess, average="macro"), 4),
        "top_accuracy_with_keyword_override": round(accuracy_score(top_truth, with_override), 4),
        "top_macro_f1_with_keyword_override": round(f1_score(top_truth, with_override, average="macro",
                                                             labels=sorted(set(top_truth))), 4),
        "top_in_first_three": round(in_three / len(test), 4),
        "second_level_accuracy_weak_labels": round(sum(a == b for a, b in with_leaf) / len(with_leaf), 4),
        "second_level_heldout": len(with_leaf),
        "cpu_ms_p50": round(statistics.median(timings), 2),
        "cpu_ms_p95": round(sorted(timings)[int(len(timings) * 0.95)], 2),
        "cpu_ms_p50_chat_length": round(statistics.median(short), 2),
        "wall_ms_p50": round(statistics.median(wall), 2),
        "model_resident_mb": round(size, 1),
        "train_seconds": round(train_s, 1),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
