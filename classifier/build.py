"""Training the classifier when (and only when) its inputs changed, like the dialogue model.

The model file is named after a fingerprint of the bootstrap data, the reference taxonomy and
knowledge, this package's code and the examples from the case store, so `make run`, the tests
and the gateway reuse it until one of them changes.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
from pathlib import Path

from . import dataset
from .dataset import Example

log = logging.getLogger("hotline.classifier")

PACKAGE = Path(__file__).resolve().parent
INPUTS = [dataset.BOOTSTRAP, dataset.REFERENCE / "categories.yml", dataset.REFERENCE / "knowledge.yml",
          PACKAGE / "dataset.py", PACKAGE / "model.py"]
KEEP = 3


def fingerprint(extra: list[Example]) -> str:
    h = hashlib.sha256()
    for path in INPUTS:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(dataset.write_csv(extra))
    return h.hexdigest()[:16]


def model_path(model_dir: Path, extra: list[Example]) -> Path:
    return Path(model_dir) / f"classifier-{fingerprint(extra)}.joblib"


def training_examples(extra: list[Example]) -> list[Example]:
    taxonomy = dataset.load_taxonomy()
    return dataset.bootstrap_examples(taxonomy) + dataset.taxonomy_examples(taxonomy) + list(extra)


def ensure_model(model_dir: Path, extra: list[Example] = (), force: bool = False) -> Path:
    """The trained model for the current inputs (`extra`: the case store's examples), training
    it first when there is none; one training at a time per folder, others wait and reuse it."""
    extra = list(extra)
    target = model_path(model_dir, extra)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".classifier.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and not force:
            return target
        return _train(target, extra)


def _train(target: Path, extra: list[Example]) -> Path:
    import joblib

    from .model import CategoryModel

    examples = training_examples(extra)
    log.info("training the category classifier", extra={"fields": {"examples": len(examples)}})
    model = CategoryModel().fit(examples)
    partial = target.with_suffix(".partial")
    joblib.dump(model, partial, compress=3)
    partial.rename(target)
    # keep the newest few: the tests (no case history) and a gateway (with it) share the folder
    for old in sorted(target.parent.glob("classifier-*.joblib"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
        old.unlink(missing_ok=True)
    return target


def load(path: Path):
    import joblib

    return joblib.load(path)
