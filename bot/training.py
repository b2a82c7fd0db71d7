"""Training the bot's model when (and only when) its data or configuration changed.

The model file is named after a fingerprint of everything that goes into it (domain, data,
config.yml, the project's own NLU components and the Rasa version), so `make run`, the tests and
the CI's model cache (`make test`) reuse a trained model until one of them changes.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
from pathlib import Path
from typing import Callable

log = logging.getLogger("hotline.bot")

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "bot" / "domain.yml"
DATA = ROOT / "bot" / "data"
CONFIG = ROOT / "config.yml"
COMPONENTS = ROOT / "bot" / "nlu_components.py"   # named in config.yml's pipeline
KEEP_MODELS = 3  # the newest models kept in a folder (another branch's data may come back)


def training_files() -> list[Path]:
    return sorted(p for p in DATA.rglob("*.yml"))


def fingerprint() -> str:
    from importlib.metadata import version

    h = hashlib.sha256(version("rasa").encode())
    for path in [DOMAIN, CONFIG, COMPONENTS, *training_files()]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def model_path(model_dir: Path) -> Path:
    return Path(model_dir) / f"hotline-{fingerprint()}.tar.gz"


def ensure_model(model_dir: Path, force: bool = False) -> Path:
    """Return the trained model for the current data, training it first when there is none."""
    target = model_path(model_dir)
    return build_once(target, ".training.lock", lambda: _train(target), force)


def build_once(target: Path, lock_name: str, train: Callable[[], Path], force: bool = False) -> Path:
    """`target` when it exists, else what `train` builds there. One training at a time per model
    folder: a second process (a test run beside `make run`) waits for the first and then uses its
    model instead of training the same data again."""
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / lock_name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and not force:
            return target
        return train()


def _train(target: Path) -> Path:
    from rasa.model_training import train  # heavy import: only when training

    from .training_progress import training_progress

    log.info("training the bot model (data or config changed); this takes a few minutes")
    with training_progress():  # each component and its epochs as console lines
        result = train(domain=str(DOMAIN), config=str(CONFIG), training_files=[str(p) for p in training_files()],
                       output=str(target.parent), fixed_model_name=target.name.removesuffix(".tar.gz"),
                       force_training=True)
    if result.code != 0 or not result.model:
        raise RuntimeError(f"training failed with code {result.code}")
    prune(target.parent, "hotline-*.tar.gz", KEEP_MODELS)
    return target


def prune(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the `keep` newest files matching `pattern` (by modification time)."""
    models = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in models[keep:]:
        old.unlink(missing_ok=True)
