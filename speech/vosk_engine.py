"""Vosk (Kaldi) recognition: one model per process, one KaldiRecognizer per call.

Vosk's calls go through cffi, which releases the GIL, so recognizers of several calls run in
parallel threads while the event loop keeps serving audio.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("hotline.speech")


@dataclass(frozen=True)
class DecoderSettings:
    """Kaldi's search settings, which decide most of a recognizer's CPU cost; 0 keeps the model's
    own (its conf/model.conf). A narrower beam or fewer active states costs less per second of
    speech and, past a point, recognizes worse: measure with `bench/recognizer.py` on the model."""
    beam: float = 0.0           # --beam: how far below the best path a hypothesis is kept
    max_active: int = 0         # --max-active: most states kept per frame
    lattice_beam: float = 0.0   # --lattice-beam: how much of the lattice is kept for the result

    def options(self) -> dict[str, str]:
        chosen = {"--beam": self.beam, "--max-active": self.max_active, "--lattice-beam": self.lattice_beam}
        for name, value in chosen.items():
            if value < 0:
                raise ValueError(f"decoder setting {name} must be positive (0: the model's own), not {value}")
        return {name: f"{value:g}" for name, value in chosen.items() if value}


class VoskStream:
    def __init__(self, recognizer):
        self._rec = recognizer
        self._done: list[str] = []   # text of segments Vosk already closed on its own endpoints

    def accept(self, pcm: bytes, partial: bool = False) -> str:
        """Decode `pcm`; the text so far when `partial` (Kaldi finds the best path through the
        whole utterance for it, a cost that grows with the utterance: asked for only when wanted),
        else the closed segments' text."""
        if self._rec.AcceptWaveform(pcm):
            return self._keep(self._rec.Result())
        if not partial:
            return " ".join(self._done)
        return self.partial()

    def partial(self) -> str:
        text = json.loads(self._rec.PartialResult()).get("partial", "")
        return " ".join([*self._done, text]).strip()

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


def tuned_copy(model: Path, options: dict[str, str], into: Path) -> Path:
    """A view of the model directory in `into` (links to its files) whose conf/model.conf has
    `options` in place of the model's own values; Kaldi reads its search settings from there."""
    conf = model / "conf" / "model.conf"
    if not conf.is_file():
        raise ValueError(f"{model} has no conf/model.conf: decoder settings cannot be applied to it")
    into.mkdir(parents=True, exist_ok=True)
    for entry in model.iterdir():
        if entry.name != "conf":
            (into / entry.name).symlink_to(entry.resolve())
    (into / "conf").mkdir()
    for entry in (model / "conf").iterdir():
        if entry.name != "model.conf":
            (into / "conf" / entry.name).symlink_to(entry.resolve())
    kept = [line for line in conf.read_text().splitlines() if line.split("=", 1)[0].strip() not in options]
    (into / "conf" / "model.conf").write_text("\n".join(kept + [f"{k}={v}" for k, v in options.items()]) + "\n")
    return into


class VoskModel:
    def __init__(self, path: str | Path, decoder: DecoderSettings | None = None):
        from vosk import Model, SetLogLevel

        path = Path(path)
        if not (path / "am").is_dir() and not (path / "final.mdl").exists():
            raise FileNotFoundError(f"{path} is not a Vosk model directory (no am/ inside)")
        options = (decoder or DecoderSettings()).options()
        SetLogLevel(-1)  # Kaldi logs every model file it reads on stderr
        started = time.perf_counter()
        if options:  # Vosk reads every file while loading: the view is not needed afterwards
            with tempfile.TemporaryDirectory(prefix="vosk-tuned-") as view:
                self.model = Model(str(tuned_copy(path, options, Path(view))))
        else:
            self.model = Model(str(path))
        self.name = path.name if path.name != "model" else path.parent.name
        self.decoder = options
        log.info("vosk model loaded", extra={"fields": {"model": str(path), "decoder": options or "the model's own",
                                                        "seconds": round(time.perf_counter() - started, 1)}})

    def stream(self, rate: int) -> VoskStream:
        from vosk import KaldiRecognizer

        rec = KaldiRecognizer(self.model, float(rate))
        rec.SetWords(False)
        return VoskStream(rec)
