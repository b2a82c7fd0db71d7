"""Where a spoken turn's reply latency goes: the caller's last voiced frame -> the first voiced frame
of the reply sent back, stage by stage (marks on the one time.monotonic() clock):

  heard      the caller's last voiced frame reached the gateway
  ended      end of speech decided: the VAD's quiet window has passed (speech/vad.py)
  recognized the recognizer's final text is ready (only the utterance's tail is left to decode then:
             the audio is decoded while the caller talks, channels/voice/hearing.py)
  answered   the reply's text is ready: the bot's answer, or the not-heard prompt
  queued     its first audio is handed to the player (synthesis of the first clause, or the cache)
  sent       its first voiced frame leaves for Asterisk (the pacer's next tick, the clause's lead-in)

The call record keeps each turn's stages; bench/voice.py and bench/voice_asterisk.py add the
caller's side (Asterisk's path in and out)."""
from __future__ import annotations

from dataclasses import dataclass

STAGES = (("end of speech (quiet window)", "heard", "ended"), ("recognizer's final text", "ended", "recognized"),
          ("bot turn", "recognized", "answered"), ("first audio (synthesis)", "answered", "queued"),
          ("first voiced frame sent", "queued", "sent"))


@dataclass
class TurnTiming:
    heard: float
    ended: float
    recognized: float = 0.0
    answered: float = 0.0
    queued: float = 0.0
    sent: float = 0.0      # set by the pacer's thread (player.Mark)

    def stages_ms(self) -> dict[str, int]:
        """Each stage's milliseconds, as far as the turn got (a barged-in reply has no `sent`)."""
        out = {}
        for name, start, end in STAGES:
            a, b = getattr(self, start), getattr(self, end)
            if not (a and b):
                break
            out[name] = round((b - a) * 1000)
        return out
