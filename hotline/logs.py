"""Structured (JSON lines) logging, and masking of personal data before it reaches a log."""
from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678: enough to tell calls apart, not enough to call back."""
    if not phone:
        return ""
    if len(phone) <= 4:
        return "*" * len(phone)
    keep = 3 if len(phone) >= 11 else 2
    return phone[:keep] + "*" * (len(phone) - keep - 4) + phone[-4:]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """For a person at the console (log_json off): time, level, logger, message, and the record's
    fields after it (the start's last line carries the gateway's addresses there)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        return f"{text}  " + " ".join(f"{k}={v}" for k, v in fields.items()) if fields else text


# the project's own loggers: shown on the console at the configured level; other libraries' records
# (TensorFlow, Rasa, pyparsing, pip, Python warnings) reach the console only as errors
OWN_LOGGERS = ("hotline", "cases", "channels", "bot", "speech")


class OwnOrSevere(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.name.split(".", 1)[0] in OWN_LOGGERS


def setup_logging(level: str = "INFO", json_lines: bool = True, debug_file: Path | None = None) -> None:
    """Console (stderr): the gateway's own records at `level`, anyone's errors. `debug_file`: the
    gateway's own records at debug level, and the libraries' at info (their noise and Python's
    warnings included), rotated at 10 MB. Libraries' debug records only with `level` DEBUG: some
    write one per operation (aiosqlite two per query, Rasa several per message), and formatting
    and writing them cost the mail pipeline 15% of its CPU."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    handler.setLevel(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if debug_file is not None:
        handler.addFilter(OwnOrSevere())
        try:
            debug_file.parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.handlers.RotatingFileHandler(debug_file, maxBytes=10 * 2**20, backupCount=3,
                                                           encoding="utf-8")
        except OSError as exc:  # an unwritable data folder: the console still works
            logging.getLogger("hotline").warning("no debug log", extra=log_fields(file=str(debug_file), error=str(exc)))
        else:
            to_file.setFormatter(JsonFormatter())
            root.addHandler(to_file)
            root.setLevel(min(root.level, logging.INFO))
            logging.getLogger("hotline").setLevel(logging.DEBUG)
    logging.captureWarnings(True)  # warnings.warn() from libraries become records of py.warnings
    _take_over_jieba()
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for chatty in ("asyncio", "urllib3", "matplotlib", "PIL", "h5py"):  # their debug records help no one here
        logging.getLogger(chatty).setLevel(logging.INFO)


def _take_over_jieba() -> None:
    """jieba (the Chinese word splitter the bot uses) gives its logger a stderr handler of its own when
    imported, which printed four lines of dictionary loading on every start: import it now and take
    the handler off, so its records go where everyone else's go (the debug log)."""
    try:
        import jieba  # noqa: F401  (the import is what adds the handler)
    except ImportError:
        return
    logging.getLogger("jieba").handlers.clear()


def log_fields(**fields) -> dict:
    """Use as `log.info("case created", extra=log_fields(number=...))`."""
    return {"fields": fields}
