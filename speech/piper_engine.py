"""Piper (VITS on onnxruntime) synthesis: one voice per process, shared by all calls."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger("hotline.speech")


class PiperSynthesizer:
    def __init__(self, model_path: str | Path, config_path: str | Path | None = None, *,
                 slow_scale: float = 1.35):
        import onnxruntime
        from piper import PiperConfig, PiperVoice, SynthesisConfig

        model_path = Path(model_path)
        config_path = Path(config_path) if config_path else Path(f"{model_path}.json")
        if not model_path.exists():
            raise FileNotFoundError(f"Piper voice {model_path} does not exist")
        if not config_path.exists():
            raise FileNotFoundError(f"Piper voice config {config_path} does not exist (expected beside the .onnx)")
        started = time.perf_counter()
        config = json.loads(config_path.read_text(encoding="utf-8"))
        # one thread per synthesis, never spinning: the speech service runs one synthesis per core
        # already, and onnxruntime's default (a pool of its own per session, its threads spinning
        # while they wait for work) put more busy threads on the same cores and took CPU from
        # the calls' recognizers
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(model_path), sess_options=options,
                                               providers=["CPUExecutionProvider"])
        # Chinese voices phonemize with g2pW, whose model Piper fetches into download_dir on first
        # use: keep it beside the voice, where `hotline models fetch` puts it
        self.voice = PiperVoice(session=session, config=PiperConfig.from_dict(config), download_dir=model_path.parent)
        self.sample_rate = int(self.voice.config.sample_rate)
        self.language = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice", "")
        self.voice_id = f"piper:{model_path.stem}"
        self._phonemize_lock = threading.Lock()
        self._normal = SynthesisConfig()
        self._slow = SynthesisConfig(length_scale=slow_scale)
        log.info("piper voice loaded", extra={"fields": {"voice": str(model_path), "rate": self.sample_rate,
                                                         "seconds": round(time.perf_counter() - started, 1)}})

    def synthesize(self, text: str, slow: bool = False) -> Iterator[np.ndarray]:
        # espeak-ng (and g2pW) keep global state: phonemize one text at a time; the neural part,
        # the expensive one, runs in parallel (onnxruntime sessions are safe to share)
        with self._phonemize_lock:
            sentences = self.voice.phonemize(text)
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = self.voice.phonemes_to_ids(phonemes)
            audio = self.voice.phoneme_ids_to_audio(ids, self._slow if slow else self._normal)
            peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
            if peak > 1e-8:  # normalized to full scale, as Piper does, then a little headroom
                audio = audio / peak * 0.9
            yield (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
