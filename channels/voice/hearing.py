"""A call's first stage: the caller's audio in, utterances out (a frame processor in Pipecat's
sense: 20 ms frames in, events and recognized text out, nothing about the dialogue).

End of speech (speech/vad.py) decides where an utterance starts and ends; the frames just before
speech was certain (the preroll) go to the recognizer with its first frame; the quiet at the end
of every turn holds no words, so past its first moments it is held back and decoded only if the
caller speaks again (then it was a pause inside the sentence), and where it is held back the
recognizer closes its segment, so the text is ready when the end-of-speech window ends.
"""
from __future__ import annotations

import asyncio
import collections
import time

from speech.vad import EndOfSpeech, VadSettings


class Hearing:
    def __init__(self, vad: VadSettings, rate: int, recognizer, *, preroll_frames: int = 20,
                 decoded_quiet_ms: int = 200):
        self.vad = EndOfSpeech(vad, rate)
        self.recognizer = recognizer
        self.decoded_quiet_ms = decoded_quiet_ms
        self.capturing = False             # an utterance is being fed to the recognizer
        self.preroll: collections.deque[bytes] = collections.deque(maxlen=preroll_frames)
        self.held_quiet: list[bytes] = []  # a pause's frames past decoded_quiet_ms, until speech resumes
        self.last_voiced_at = 0.0          # time.monotonic() of the caller's last voiced frame

    def feed(self, pcm: bytes, *, transcribe: bool = True) -> tuple[str | None, asyncio.Future | None]:
        """One frame: the end-of-speech event ("start", "end" or None) and, at the end of an
        utterance, the future of its text. `transcribe=False` (a voicemail being recorded): events
        only, nothing is decoded."""
        event = self.vad.feed(pcm)
        if self.vad.voiced:
            self.last_voiced_at = time.monotonic()
        text = None
        if event == "start":
            if transcribe:
                self.capturing = True
                self.recognizer.feed(b"".join(self.preroll) + pcm)
        elif self.capturing:
            self.feed_recognizer(pcm)
        self.preroll.append(pcm)
        if event == "end":
            self.held_quiet.clear()
            if self.capturing:
                self.capturing = False
                text = asyncio.ensure_future(self.recognizer.finish())
        return event, text

    def feed_recognizer(self, pcm: bytes) -> None:
        """Decoding is the costliest work of a call: the quiet at an utterance's end waits."""
        if self.vad.voiced or self.vad.quiet_ms <= self.decoded_quiet_ms:
            if self.held_quiet:
                pcm = b"".join(self.held_quiet) + pcm
                self.held_quiet.clear()
            self.recognizer.feed(pcm)
        else:
            if not self.held_quiet:  # the pause may be the end of the turn: have its text ready
                self.recognizer.pause()
            self.held_quiet.append(pcm)

    async def close(self) -> None:
        if self.recognizer is not None:
            await self.recognizer.close()
