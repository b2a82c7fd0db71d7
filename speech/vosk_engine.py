"""Vosk (Kaldi) recognition: one model per process, one KaldiRecognizer per call.

Vosk's calls go through cffi, which releases the GIL, so recognizers of several calls run in
parallel threads while the event loop keeps serving audio.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger("hotline.speech")


class VoskStream:
    def __init__(self, recognizer):
        self._rec = recognizer
        self._done: list[str] = []   # text of segments Vosk already closed on its own endpoints

    def accept(self, pcm: bytes) -> str:
        if self._rec.AcceptWaveform(pcm):
            return self._keep(self._rec.Result())
        partial = json.loads(self._rec.PartialResult()).get("partial", "")
        return " ".join([*self._done, partial]).strip()

    def close_segment(self) -> str:
        return self._keep(self._rec.FinalResult())

    def finish(self) -> str:
        text = self.close_segment().strip()
        self._done = []
        return text

    def _keep(self, result: str) -> str:
        """A closed segment's text joins the utterance's; the utterance so far."""
        text = json.loads(result).get("text", "")
        if text:
            self._done.append(text)
        return " ".join(self._done)


class VoskModel:
    def __init__(self, path: str | Path):
        from vosk import Model, SetLogLevel

        path = Path(path)
        if not (path / "am").is_dir() and not (path / "final.mdl").exists():
            raise FileNotFoundError(f"{path} is not a Vosk model directory (no am/ inside)")
        SetLogLevel(-1)  # Kaldi logs every model file it reads on stderr
        started = time.perf_counter()
        self.model = Model(str(path))
        self.name = path.name if path.name != "model" else path.parent.name
        log.info("vosk model loaded", extra={"fields": {"model": str(path),
                                                        "seconds": round(time.perf_counter() - started, 1)}})

    def stream(self, rate: int) -> VoskStream:
        from vosk import KaldiRecognizer

        rec = KaldiRecognizer(self.model, float(rate))
        rec.SetWords(False)
        return VoskStream(rec)
