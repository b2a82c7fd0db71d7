"""Training the bot's models when (and only when) their data or configuration changed.

Two files: the dialogue model (`hotline-<fingerprint>.tar.gz`: domain, rules, policies and the
Chinese NLU, config.yml) and the English NLU served beside it (`nlu-en-<fingerprint>.tar.gz`:
config_en.yml, bot/data/nlu_en; bot/languages.py). Each is named after a fingerprint of everything
that goes into it (its data and config, the dialogue's domain, the project's own NLU components and
the Rasa version), so `make run`, the tests and the CI's model cache (`make test`) reuse a trained
model until one of its inputs changes; English data retrains the small English model alone.
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
ENGLISH_CONFIG = ROOT / "config_en.yml"
ENGLISH_DATA = DATA / "nlu_en"
# the regexes (phone, case number) are digits: the same for both languages
SHARED_NLU = (DATA / "nlu" / "regex.yml",)
COMPONENTS = ROOT / "bot" / "nlu_components.py"   # named in both pipelines
KEEP_MODELS = 3  # the newest models of each kind kept in a folder (another branch's data may come back)
MODEL_GLOB, ENGLISH_GLOB = "hotline-*.tar.gz", "nlu-en-*.tar.gz"


def training_files() -> list[Path]:
    """The dialogue model's: the rules and the Chinese NLU data."""
    return sorted(p for p in DATA.rglob("*.yml") if ENGLISH_DATA not in p.parents)


def english_training_files() -> list[Path]:
    return sorted(ENGLISH_DATA.rglob("*.yml")) + list(SHARED_NLU)


def _fingerprint(paths: list[Path]) -> str:
    from importlib.metadata import version

    h = hashlib.sha256(version("rasa").encode())
    for path in paths:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def fingerprint() -> str:
    return _fingerprint([DOMAIN, CONFIG, COMPONENTS, *training_files()])


def english_fingerprint() -> str:
    # no domain: an NLU alone is trained without one (its intents are the domain's, a test checks),
    # so a new response or rule does not retrain it
    return _fingerprint([ENGLISH_CONFIG, COMPONENTS, *english_training_files()])


def model_path(model_dir: Path) -> Path:
    return Path(model_dir) / MODEL_GLOB.replace("*", fingerprint())


def english_model_path(model_dir: Path) -> Path:
    return Path(model_dir) / ENGLISH_GLOB.replace("*", english_fingerprint())


def ensure_model(model_dir: Path, force: bool = False) -> Path:
    """Return the trained dialogue model for the current data, training first whatever is missing
    of it and of the English NLU that is served with it (found beside it: `english_model_path`)."""
    english = english_model_path(model_dir)
    build_once(english, ".training.lock", lambda: _train(english, ENGLISH_CONFIG, english_training_files(),
                                                         ENGLISH_GLOB, domain=None), force)
    target = model_path(model_dir)
    return build_once(target, ".training.lock", lambda: _train(target, CONFIG, training_files(), MODEL_GLOB), force)


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


def _train(target: Path, config: Path, files: list[Path], kind: str, domain: Path | None = DOMAIN) -> Path:
    """Train one model into `target`; without a domain, the NLU alone (the English one)."""
    from rasa.model_training import train  # heavy import: only when training

    from .training_progress import training_progress

    log.info("training a bot model (data or config changed); this takes a few minutes",
             extra={"fields": {"model": target.name}})
    with training_progress():  # each component and its epochs as console lines
        result = train(domain=str(domain) if domain else None, config=str(config), training_files=[str(p) for p in files],
                       output=str(target.parent), fixed_model_name=target.name.removesuffix(".tar.gz"),
                       force_training=True)
    if result.code != 0 or not result.model:
        raise RuntimeError(f"training {target.name} failed with code {result.code}")
    prune(target.parent, kind, KEEP_MODELS)
    return target


def prune(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the `keep` newest files matching `pattern` (by modification time)."""
    models = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in models[keep:]:
        old.unlink(missing_ok=True)
