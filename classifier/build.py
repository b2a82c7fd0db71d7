"""Training the classifier when (and only when) its inputs changed, like the dialogue model.

The model file is named after a fingerprint of every training example (the bootstrap messages,
the reference taxonomy and knowledge, the case store's) and of the model's code, so `make run`,
the tests and the gateway reuse it until one of them changes.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from . import dataset
from .dataset import Example

log = logging.getLogger("hotline.classifier")

PACKAGE = Path(__file__).resolve().parent
KEEP = 3


def fingerprint(examples: list[Example]) -> str:
    """Of exactly what the model learns from and the code that learns it (model.py)."""
    h = hashlib.sha256((PACKAGE / "model.py").read_bytes())
    h.update(dataset.write_csv(examples))
    return h.hexdigest()[:16]


def model_path(model_dir: Path, examples: list[Example]) -> Path:
    return Path(model_dir) / f"classifier-{fingerprint(examples)}.joblib"


def training_examples(extra: list[Example]) -> list[Example]:
    taxonomy = dataset.load_taxonomy()
    return dataset.bootstrap_examples(taxonomy) + dataset.taxonomy_examples(taxonomy) + list(extra)


def ensure_model(model_dir: Path, extra: list[Example] = (), force: bool = False) -> Path:
    """The trained model for the current inputs (`extra`: the case store's examples), training
    it first when there is none; one training at a time per folder, others wait and reuse it."""
    from bot.training import build_once

    examples = training_examples(list(extra))
    target = model_path(model_dir, examples)
    return build_once(target, ".classifier.lock", lambda: _train(target, examples), force)


def _train(target: Path, examples: list[Example]) -> Path:
    import joblib

    from bot.training import prune

    from .model import CategoryModel

    log.info("training the category classifier", extra={"fields": {"examples": len(examples)}})
    model = CategoryModel().fit(examples)
    partial = target.with_suffix(".partial")
    joblib.dump(model, partial, compress=3)
    partial.rename(target)
    # keep the newest few: the tests (no case history) and a gateway (with it) share the folder
    prune(target.parent, "classifier-*.joblib", KEEP)
    return target


def load(path: Path):
    import joblib

    return joblib.load(path)
