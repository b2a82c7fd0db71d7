"""The two interfaces every speech engine implements; another engine (sherpa-onnx, FunASR) is one
more module that provides them.

Both are loaded once per process and shared by all calls: a RecognizerModel hands each call its own
streaming RecognizerStream; a Synthesizer turns text into audio, sentence by sentence. Their methods
are blocking CPU work: callers run them on the speech threads (speech/service.py), never on the event loop.
"""
from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np


class RecognizerStream(Protocol):
    def accept(self, pcm: bytes, partial: bool = False) -> str:
        """Feed 16-bit PCM at the stream's rate; returns the text so far: with `partial` including
        the segment still open (a search through it: ask only when it is wanted), else the closed
        segments' ("" if none)."""

    def close_segment(self) -> str:
        """The caller paused: decode what was fed to a final result and keep it, so that if the
        utterance ends here its text is ready; audio fed after it continues the same utterance.
        Returns the text so far."""

    def finish(self) -> str:
        """The final text of the utterance fed so far (all its segments); the stream is ready for
        the next one."""


class RecognizerModel(Protocol):
    name: str

    def stream(self, rate: int) -> RecognizerStream:
        """A new recognizer for one call, fed audio at `rate` Hz."""


class Synthesizer(Protocol):
    voice_id: str       # names the voice in the prompt cache's keys
    sample_rate: int
    language: str       # e.g. "zh_CN", "en_US": numbers are spelled for it

    def synthesize(self, text: str, slow: bool = False) -> Iterator[np.ndarray]:
        """int16 audio at `sample_rate`, one array per sentence; `slow` for digits to note down."""
