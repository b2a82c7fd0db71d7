"""End of speech: energy voice-activity detection with a tunable minimum and silence window.

A turn starts when the caller has been voiced for `min_speech_ms` (a cough or a click is shorter,
so it neither barges in nor starts a turn) and ends after `end_silence_ms` of quiet, long enough
for the pauses inside a sentence, short enough that the bot answers promptly. The level threshold
adapts to the line's noise floor so a noisy line does not count as endless speech.
"""
from __future__ import annotations

from dataclasses import dataclass

from .audio import level_db


@dataclass
class VadSettings:
    threshold_db: float = -38.0      # a frame louder than this (and than the noise floor + margin) is voiced
    noise_margin_db: float = 12.0
    min_speech_ms: int = 160         # voiced this long: speech (barge-in, a turn begins)
    end_silence_ms: int = 550        # quiet this long after speech: the turn is over (pauses inside a sentence are shorter)
    max_turn_ms: int = 20000         # a turn never runs longer than this


class EndOfSpeech:
    """Feed 20 ms frames; `feed` returns "start" once speech is certain and "end" when it is over."""

    def __init__(self, settings: VadSettings | None = None, rate: int = 8000):
        self.s = settings or VadSettings()
        self.rate = rate
        self.noise_db = -70.0
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.voiced_ms = 0       # voiced run before speech is certain
        self.quiet_ms = 0        # silence since the last voiced frame (inside speech)
        self.turn_ms = 0
        self.first_voiced_at = None  # frame count when the run that became speech began
        self.voiced = False      # whether the last frame fed was voiced
        self._frames = 0

    def is_voiced(self, frame: bytes) -> bool:
        db = level_db(frame)
        voiced = db > max(self.s.threshold_db, self.noise_db + self.s.noise_margin_db)
        if not voiced:  # the floor follows the quiet frames slowly
            self.noise_db = 0.95 * self.noise_db + 0.05 * max(db, -90.0)
        return voiced

    def feed(self, frame: bytes) -> str | None:
        ms = len(frame) * 500 // self.rate  # a short frame (the end of a playback) counts for less
        self._frames += 1
        voiced = self.voiced = self.is_voiced(frame)
        if not self.in_speech:
            if voiced:
                if self.voiced_ms == 0:
                    self.first_voiced_at = self._frames
                self.voiced_ms += ms
                if self.voiced_ms >= self.s.min_speech_ms:
                    self.in_speech = True
                    self.quiet_ms = 0
                    self.turn_ms = self.voiced_ms
                    return "start"
            else:
                self.voiced_ms = max(0, self.voiced_ms - ms)  # a gap inside a syllable is forgiven
                if self.voiced_ms == 0:
                    self.first_voiced_at = None
            return None
        self.turn_ms += ms
        self.quiet_ms = 0 if voiced else self.quiet_ms + ms
        if self.quiet_ms >= self.s.end_silence_ms or self.turn_ms >= self.s.max_turn_ms:
            self.in_speech = False
            self.voiced_ms = 0
            return "end"
        return None
