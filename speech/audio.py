"""Telephone audio: signed 16-bit little-endian mono PCM, 20 ms frames, resampling, levels, WAV.

Asterisk's AudioSocket carries signed-linear audio at 8 kHz (320-byte frames) or, from the channel
driver, at the wider rates (16 kHz: 640 bytes); recognizers and voices have rates of their own, so
every conversion goes through here.
"""
from __future__ import annotations

import io
import math
import wave
from functools import lru_cache
from math import gcd

import numpy as np

FRAME_MS = 20


def frame_bytes(rate: int) -> int:
    """Bytes in one 20 ms frame of 16-bit mono audio at `rate` (8000 Hz: 320)."""
    return rate * 2 * FRAME_MS // 1000


@lru_cache(maxsize=16)
def silence(rate: int) -> bytes:
    return bytes(frame_bytes(rate))


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (band-limited, so no aliasing when a 22 kHz voice goes to 8 kHz)."""
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm.astype(np.int16, copy=False)
    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    out = resample_poly(pcm.astype(np.float32), dst_rate // g, src_rate // g)
    return np.clip(out, -32768, 32767).astype(np.int16)


def split_frames(pcm: bytes, rate: int) -> list[bytes]:
    """Cut audio into 20 ms frames; the last one is padded with silence to full length."""
    size = frame_bytes(rate)
    frames = [pcm[i:i + size] for i in range(0, len(pcm), size)]
    if frames and len(frames[-1]) < size:
        frames[-1] = frames[-1] + bytes(size - len(frames[-1]))
    return frames


VOICED_PEAK = 200  # a frame whose peak passes this is heard as voice (as the tests' callers count it)


def first_voiced(frames: list[bytes]) -> int | None:
    """The index of the first voiced frame, None if all are quiet (a clause's lead-in is quiet)."""
    for i, frame in enumerate(frames):
        samples = np.frombuffer(frame[: len(frame) // 2 * 2], dtype="<i2")
        if len(samples) and int(np.abs(samples.astype(np.int32)).max()) > VOICED_PEAK:
            return i
    return None


def level_db(pcm: bytes) -> float:
    """RMS level in dBFS (full scale = 0 dB; digital silence = -120)."""
    if len(pcm) < 2:
        return -120.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768.0) if rms > 0 else -120.0


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[bytes, int]:
    """(PCM, rate) of a 16-bit mono WAV; other shapes are refused with a clear error."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"expected 16-bit mono WAV, got {w.getsampwidth() * 8}-bit, {w.getnchannels()} channels")
        return w.readframes(w.getnframes()), w.getframerate()


class WavRecorder:
    """Writes a call's audio to a WAV file as it arrives, so a hang-up keeps what was said.

    The header's sizes are rewritten by `wave` on every flush; a crash leaves a file that tools
    still open (with a wrong length at worst)."""

    def __init__(self, path, rate: int):
        self.path = path
        self.rate = rate
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self.bytes_written = 0

    def write(self, pcm: bytes) -> None:
        if self._wav is not None:
            self._wav.writeframes(pcm)
            self.bytes_written += len(pcm)

    @property
    def seconds(self) -> float:
        return self.bytes_written / (2 * self.rate)

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
