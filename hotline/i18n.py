"""Message catalogs: Chinese first, English second (hotline/locales/<locale>.yml).

Keys are dotted ("portal.submit.title"); a key missing in English falls back to Chinese, and a key
missing everywhere shows itself, so a gap is visible rather than silent.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

import yaml

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
_DIR = Path(__file__).parent / "locales"


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@lru_cache(maxsize=None)
def catalog(locale: str) -> dict[str, str]:
    with open(_DIR / f"{locale}.yml", encoding="utf-8") as fh:
        return _flatten(yaml.safe_load(fh) or {})


def translate(locale: str, key: str, **params) -> str:
    text = catalog(locale).get(key) or catalog(DEFAULT_LOCALE).get(key) or key
    return text.format(**params) if params else text


def translator(locale: str) -> Callable[..., str]:
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    return lambda key, **params: translate(locale, key, **params)


def pick_locale(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """?lang= beats the cookie, which beats the browser; Chinese when nothing says otherwise."""
    for candidate in (query, cookie):
        if candidate in LOCALES:
            return candidate
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def field_errors(errors: Mapping[str, tuple[str, dict]], locale: str) -> dict[str, str]:
    """Turn {field: (code, params)} from validation into one sentence per field."""
    t = translator(locale)
    return {name: t(f"errors.{code}", field=t(f"fields.{name}"), **params)
            for name, (code, params) in errors.items()}
