"""Starting the phone channel inside the gateway (hotline/server.py): on by default when the speech
models and the bot are there; without them the gateway runs and says once why voice is off."""
from __future__ import annotations

import asyncio
import logging

from hotline.logs import log_fields

log = logging.getLogger("hotline.voice")


async def start_voice_channel(services):
    """The running VoiceChannel, or None (with one log line saying why)."""
    s = services.settings
    if not s.agi_port or not s.audiosocket_port:
        log.info("voice off: agi_port or audiosocket_port is 0")
        return None
    if services.engine is None:
        log.info("voice off: the bot is disabled")
        return None
    from speech.models import load_speech, tuning

    loop = asyncio.get_running_loop()
    try:
        speech, why = await loop.run_in_executor(
            None, lambda: load_speech(s.vosk_model, s.piper_voice, cache_dir=s.data_dir / "prompt-cache", **tuning(s)))
    except Exception as exc:  # a model path that exists but is not a model
        log.error("voice off: speech models failed to load", extra=log_fields(error=str(exc)))
        return None
    if speech is None:
        log.warning("voice off: %s", why)
        return None
    from speech.vad import VadSettings

    from . import VoiceChannel
    from .ami import AmiConfig
    from .peers import PeerFilter
    from .session import VoiceSettings

    # FastAGI and AudioSocket carry no credentials: loopback unless voice_host says otherwise, and
    # only the Asterisk addresses in voice_allow (default: loopback and ami_url's host) are served
    try:
        peers = PeerFilter.for_settings(s.voice_allow,
                                        AmiConfig.from_url(s.ami_url).host if s.ami_url else "")
    except ValueError as exc:
        log.error("voice off: %s", exc)
        return None
    voice = VoiceChannel(speech, services.engine, store=services.store, host=s.voice_host,
                         agi_port=s.agi_port, audiosocket_port=s.audiosocket_port, ami_url=s.ami_url,
                         data_dir=s.data_dir, peers=peers, redis=getattr(services, "redis", None),
                         reuse_port=s.reuse_port, audiosocket_address=s.audiosocket_address,
                         redis_prefix=s.redis_prefix,
                         settings=VoiceSettings(vad=VadSettings(end_silence_ms=s.voice_end_silence_ms)))
    await voice.start()
    log.info("voice on", extra=log_fields(models=why))
    services.voice = voice  # the API and the desk place outbound calls through it
    return voice
