"""Texts the bot has understood before are not understood again.

Most turns of a hotline conversation are short answers that many citizens give in the very same
words: 确认, 需要, 不需要, 匿名, 谢谢, 转人工, a menu choice. Understanding a text costs ~9 ms of NLU
(Jieba, four featurizers, DIET's TensorFlow graph), the largest part of a turn, and the result
depends on the text alone: no step of this pipeline reads the conversation or the message's
metadata (`ParseCache.install` checks the graph for the conversation and keeps out of the way if
a pipeline ever needs it). So the parse of each short text is kept in a bounded LRU, and every
turn gets its own deep copy, since Rasa stores parse data in the conversation's events and edits
it in place. A new model is loaded into a new processor, which starts with an empty cache.

Long texts (a complaint's description, a question told at length) are rarely repeated word for
word and are not kept, so they cannot push the common answers out.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Dict, Optional

MAX_ENTRIES = 4096
MAX_TEXT = 40  # characters; longer texts are parsed every time


class ParseCache:
    def __init__(self, parse, max_entries: int = MAX_ENTRIES, max_text: int = MAX_TEXT):
        self._parse = parse  # the processor's own `_parse_message_with_graph`
        self.max_entries = max_entries
        self.max_text = max_text
        self._entries: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
        self.hits = 0       # texts answered from the cache
        self.misses = 0     # short texts parsed and kept
        self.uncached = 0   # long texts, parsed every time

    @classmethod
    def install(cls, processor, **limits) -> Optional["ParseCache"]:
        """Put a cache in front of the processor's NLU; None where the NLU needs the conversation."""
        from rasa.engine.constants import PLACEHOLDER_TRACKER

        metadata = processor.model_metadata
        nlu = metadata.predict_schema.minimal_graph_schema([metadata.nlu_target])
        if any(PLACEHOLDER_TRACKER in node.needs.values() for node in nlu.nodes.values()):
            return None
        cache = cls(processor._parse_message_with_graph, **limits)
        processor._parse_message_with_graph = cache.parse
        return cache

    def parse(self, message, tracker=None, only_output_properties: bool = True) -> Dict[str, Any]:
        text = message.text or ""
        # the full parse data holds the message's own id and metadata: never shared
        if len(text) > self.max_text or not only_output_properties:
            self.uncached += 1
            return self._parse(message, tracker, only_output_properties)
        key = text
        parsed = self._entries.get(key)
        if parsed is None:
            self.misses += 1
            parsed = self._parse(message, tracker, only_output_properties)
            self._entries[key] = copy.deepcopy(parsed)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return parsed
        self.hits += 1
        self._entries.move_to_end(key)
        return copy.deepcopy(parsed)

    def stats(self) -> dict:
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses,
                "uncached": self.uncached}
