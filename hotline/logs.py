"""Structured (JSON lines) logging, and masking of personal data before it reaches a log."""
from __future__ import annotations

import json
import logging
import sys
import time


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


def setup_logging(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def log_fields(**fields) -> dict:
    """Use as `log.info("case created", extra=log_fields(number=...))`."""
    return {"fields": fields}
