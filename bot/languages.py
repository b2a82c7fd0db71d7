"""Each language read by an NLU of its own, one dialogue for all (issue 20).

The dialogue model (domain, rules, forms, policies, actions) is shared: an intent means the same in
Chinese and English, and the responses vary by the `language` slot. What a message means is read by
the NLU of its language: Chinese by the dialogue model's own pipeline (config.yml: Jieba, DIET),
English by a small NLU-only model (config_en.yml, bot/data/nlu_en) trained and cached beside it
(bot/training.py). One bilingual NLU was tried first and measured: the English data cost the Chinese
held-out accuracy (0.952 -> 0.941) and moved two course questions to other intents, and its English
out-of-scope figure (13.3% ending in business) was far from the target; apart, neither language's
data can move the other's figures.

The router takes the place of the processor's NLU step (`_parse_message_with_graph(message,
tracker)`), so everything around it stays Rasa's: button payloads, the tracker update, the unseen
feature checks, and each language keeps its own parse cache (bot/parse_cache.py) under it. A
message's language is the one its metadata names (`locale`: the widget's page, a REST client's
`metadata.locale`), else the conversation's (`language` slot, when a REST client named it before
and not again), else Chinese (the phone, mail). A message written in Chinese characters is read by
the Chinese NLU whatever the page's language (the English one has never seen a Chinese word); the
reply is still in the conversation's language.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Dict

log = logging.getLogger("hotline.bot")

CHINESE = "zh"  # the dialogue model's own NLU, and the language when nothing says
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def written_in_chinese(text: str) -> bool:
    """More Chinese characters than Latin letters: "我要投诉", not "a pothole outside 幸福小区"."""
    return len(_CJK.findall(text or "")) > len(_LATIN.findall(text or ""))


class LanguageRouter:
    def __init__(self, parsers: Dict[str, Callable[..., Dict[str, Any]]]):
        self.parsers = parsers  # by language: a processor's `_parse_message_with_graph`

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.parsers)

    def language_of(self, message, tracker=None) -> str:
        if written_in_chinese(getattr(message, "text", "")):
            return CHINESE
        said = (getattr(message, "metadata", None) or {}).get("locale")
        if said in self.parsers:
            return said
        slot = tracker.slots.get("language") if tracker is not None else None
        return slot.value if slot is not None and slot.value in self.parsers else CHINESE

    def parse(self, message, tracker=None, only_output_properties: bool = True) -> Dict[str, Any]:
        return self.parsers[self.language_of(message, tracker)](message, tracker, only_output_properties)

    @classmethod
    def install(cls, processor, others: Dict[str, Any]) -> "LanguageRouter":
        """Route `processor`'s NLU step (Chinese) and the other languages' processors (NLU-only
        models) by each message's language."""
        router = cls({CHINESE: processor._parse_message_with_graph,
                      **{lang: other._parse_message_with_graph for lang, other in others.items()}})
        processor._parse_message_with_graph = router.parse
        return router


def load_nlu(model: Path, parse_cache_entries: int):
    """An NLU-only model's processor, its graph run in order and its parses cached as the dialogue
    model's are (bot/engine.py: load_agent)."""
    from rasa.core.agent import Agent

    from .graph_runner import SequentialGraphRunner
    from .parse_cache import ParseCache

    processor = Agent.load(str(model)).processor
    processor.graph_runner = SequentialGraphRunner(processor.graph_runner)
    processor.parse_cache = ParseCache.install(processor, max_entries=parse_cache_entries) \
        if parse_cache_entries > 0 else None
    return processor


def load_others(english: Path, parse_cache_entries: int) -> Dict[str, Any]:
    """The NLUs of the languages other than Chinese that can be served: English when its model is
    there (`hotline train` or any `ensure_model` builds it beside the dialogue model)."""
    if not english.exists():
        log.warning("no English NLU beside the bot model: English is not served",
                    extra={"fields": {"expected": english.name}})
        return {}
    return {"en": load_nlu(english, parse_cache_entries)}
