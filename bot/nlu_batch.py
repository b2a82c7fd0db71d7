"""Understanding texts outside a conversation (mail, `hotline parse`), on a thread of its own.

A mail's opening costs ~15 ms of NLU (Jieba, the featurizers, DIET's TensorFlow graph). The texts
join one queue; a single worker thread takes everything waiting and runs Rasa's NLU graph over the
list while the event loop fetches, writes and sends. TensorFlow lets go of the GIL, so the two
share the two cores. Nothing waits for a batch to fill: an idle engine parses a text at once.

Conversation turns do not come here: a turn is parsed by Rasa's processor on the event loop, as
the hop to a thread and the shared GIL made a chat turn slower (paced 50-conversation benchmark,
one session: p50 16.4 -> 19.8 ms, p99 59 -> 96 ms). Inferring a whole list in one DIET call was
measured too: identical results, no gain per text (the network's work grows with the text, not the
number of calls).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("hotline.bot")

MAX_BATCH = 32


class NluBatcher:
    def __init__(self, processor, max_batch: int = MAX_BATCH):
        self.processor = processor
        self.max_batch = max_batch
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="nlu")
        self.batches = 0        # runs of the graph and messages parsed: how well batching works
        self.messages = 0

    async def parse(self, message) -> dict:
        """Rasa's parse data for a `UserMessage` (text, intent, entities, ranking …)."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="nlu-batches")
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                parsed = await loop.run_in_executor(self._thread, self._run, [m for m, _ in batch])
            except Exception as exc:  # one bad batch fails its own callers, never the worker
                log.exception("NLU batch failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), data in zip(batch, parsed):
                if not future.done():
                    future.set_result(data)

    def _run(self, messages: list) -> list[dict]:
        from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
        from rasa.shared.core.trackers import DialogueStateTracker

        p = self.processor
        target = p.model_metadata.nlu_target
        results = p.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: DialogueStateTracker.from_events("nlu", [])},
            targets=[target])
        self.batches += 1
        self.messages += len(messages)
        out = []
        for parsed_message in results[target]:
            data = {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}
            data.update(parsed_message.as_dict(only_output_properties=True))
            p._update_full_retrieval_intent(data)
            p._check_for_unseen_features(data)
            out.append(data)
        return out

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
