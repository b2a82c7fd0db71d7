"""Voice benchmark through a real Asterisk: callers come in over the SIP trunk of a second Asterisk
playing the carrier (A-law, RFC 4733; tests/asterisk_support.py), so the reply latency includes
Asterisk's codecs, jitter buffer and AudioSocket, not only the gateway (bench/voice.py measures the
gateway alone, with simulated AudioSocket callers).

Each caller listens to the welcome, then speaks `--turns` utterances (a WAV played into the call
with Playback), each once the reply to the previous one has played a moment. Reply latency: the
end of the caller's speech (Playback's end, less the recording's quiet tail) -> the first voiced
audio the caller hears (its own MixMonitor recording) after the gateway's reply to that utterance
was ready, whatever was recognized: the bot's answer, or the not-heard prompt (抱歉，我没有听清)
when the recognizer returned no text, which is what the Korean test model makes of the English
test voice after A-law. Everything runs in one process clock (time.monotonic: gateway marks, and
the carrier's AMI events by the timestamps Asterisk puts in them, not by when the gateway's busy
event loop read them). In the same run, the same number of simulated callers straight to the gateway's
AudioSocket (bench/voice.py's callers: the "peer" figure) gives the in-process mode beside it.
For both modes it prints where the latency went, stage by stage (Asterisk's path in, the quiet
window, the recognizer's final text, the bot, the first audio, the pacer, the path out:
channels/voice/timing.py), and the CPU each second of a call cost the gateway's threads and the two
Asterisk processes.

Usage: .venv/bin/python bench/voice_asterisk.py [--calls 1,4] [--turns 4] [--stagger 3]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from asterisk_support import Caller, Events, Lab, voiced_times  # noqa: E402
import threads  # noqa: E402  (bench/threads.py)
from voice import (UTTERANCES, KeptSessions, breakdown, not_heard, pct, peer_calls, quiet_tail_s,  # noqa: E402
                   replies_to, reply_latencies, setup)


async def one_caller(lab, world, voice, wavs, turns: int, delay: float, tag: str) -> dict:
    await asyncio.sleep(delay)
    dialled = time.monotonic()
    listening = Events(world, "Listening", Tag=tag)
    done_events = Events(world, "SpeechDone", Tag=tag)
    call = Caller(lab, world, tag)
    number = f"139{int(delay * 1000) % 1000:03d}{int(time.time()) % 100000:05d}"
    await call.dial(caller_id=number)
    [ev] = await listening.wait(1, 20)
    started = ev["_sent"]  # (Asterisk's own timestamps: the event loop may read events late)
    session = None
    while session is None:
        session = next((s for s in voice.sessions if s.info.caller == number), None)
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # the welcome
    spoke = []
    for i in range(turns):
        wav, pcm = wavs[i % len(wavs)]
        before = len(session.replied_at)
        await call.say(wav)
        [*_, done] = await done_events.wait(i + 1, 60)
        spoke.append(done["_sent"] - quiet_tail_s(pcm))
        end = time.monotonic() + 30
        while len(session.replied_at) <= before and time.monotonic() < end and session.info.next != "queue":
            await asyncio.sleep(0.05)
        if session.info.next == "queue" or session.ended.is_set():
            break  # not understood twice: transferred
        await asyncio.sleep(2.0)  # listen a moment
    await call.hang_up()
    call_s = time.monotonic() - dialled
    await asyncio.sleep(1.0)
    return {"session": session, "spoke": spoke, "heard": voiced_times(call.heard, started), "call_s": call_s}


def replies_of(result: dict) -> list:
    return replies_to(result["spoke"], result["session"].timings, result["heard"])


def cpu_s(pid: int) -> float:
    """The CPU seconds a process (an Asterisk) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / threads.TICK


class CpuWatch:
    """The gateway's threads and the Asterisk processes over one mode's run: CPU-s per call-second."""

    def __init__(self, lab):
        self.pids = {"Asterisk PBX": lab.pbx.proc.pid, "Asterisk carrier (the callers)": lab.world.proc.pid}
        self.tasks, self.procs, self.t0 = threads.snapshot(), {k: cpu_s(p) for k, p in self.pids.items()}, time.monotonic()

    def report(self, call_s: float, asterisk: bool) -> str:
        took = time.monotonic() - self.t0
        lines = [threads.report(self.tasks, threads.snapshot(), took, call_s)]
        for name, pid in self.pids.items() if asterisk else ():
            used = cpu_s(pid) - self.procs[name]
            lines.append(f"    {name} (process): {used / took:.2f} cores busy, {used / call_s:.3f} CPU-s per call-s")
        return "\n".join(lines)


def gateway_defaults() -> argparse.Namespace:
    """bench/voice.py's decoder options at the gateway's own defaults (hotline/settings.py)."""
    from hotline.settings import Settings

    d = Settings()
    return argparse.Namespace(speech_threads=d.speech_threads, batch_ms=d.recognizer_batch_ms, beam=d.vosk_beam,
                              max_active=d.vosk_max_active, lattice_beam=d.vosk_lattice_beam)


async def main(args) -> None:
    logging.basicConfig(level=logging.WARNING)
    from channels.voice import VoiceChannel
    from channels.voice.ami import AmiClient, AmiConfig

    lab = Lab().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            services, speech, plain, why = await setup(tmp, gateway_defaults())
            plain.sessions = KeptSessions()  # the in-process mode, measured in the same run (the peer)
            voice = VoiceChannel(speech, services.engine, store=services.store, host="127.0.0.1",
                                 agi_port=lab.agi_port, audiosocket_port=lab.audiosocket_port,
                                 ami_url=lab.ami_url, data_dir=tmp)
            voice.sessions = KeptSessions()
            await voice.start()
            await voice.prompts_ready  # as on a gateway that has been up a moment: its own prompts cached
            world = AmiClient(AmiConfig.from_url(lab.world_ami_url))
            world.start()
            await world.wait_ready(10)
            wavs = []
            for i, text in enumerate(UTTERANCES):
                pcm = b"".join([p async for p in speech.speak(text, 8000)])
                path = lab.rec_dir / f"utterance-{i}.wav"
                with wave.open(str(path), "wb") as w:
                    w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm)
                wavs.append((path, pcm))
            print(f"models: {why}")
            for calls in [int(c) for c in args.calls.split(",")]:
                load = Path("/proc/loadavg").read_text().split()[:3]
                watch = CpuWatch(lab)
                results = await asyncio.gather(*[
                    one_caller(lab, world, voice, wavs, args.turns, i * args.stagger / calls, f"b{calls}-{i}-{int(time.time())}")
                    for i in range(calls)], return_exceptions=True)
                ok = [r for r in results if isinstance(r, dict)]
                timed = [x for r in ok for x in replies_of(r)]
                lat = [x.latency for x in timed]
                errors = [repr(r) for r in results if not isinstance(r, dict)]
                for r in ok:  # what each call did, so a missing figure shows its cause
                    turns = [t["source"] for t in r["session"].turns]
                    print(f"  call {r['session'].info.caller}: spoke {len(r['spoke'])}, gateway turns {turns}, "
                          f"heard voiced {len(r['heard']) * 0.02:.1f} s, ended: {r['session'].end_reason or '-'}")
                replies, unheard = not_heard([r["session"] for r in ok])
                print(f"{calls} call(s) through Asterisk: reply latency p50 {pct(lat, .5) * 1000:.0f} ms, "
                      f"p95 {pct(lat, .95) * 1000:.0f} ms over {len(lat)} turns ({unheard} of {replies} replies "
                      f"the not-heard prompt); load average before {' '.join(load)}, "
                      f"after {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
                      + (f"; errors: {errors}" if errors else ""), flush=True)
                print(f"  where the reply latency went:\n{breakdown(timed)}")
                print(f"  CPU over the run:\n{watch.report(sum(r['call_s'] for r in ok) or 1.0, True)}", flush=True)
                lab.hang_up_all()
                await asyncio.sleep(2)
                load = Path("/proc/loadavg").read_text().split()[:3]
                plain.sessions.all.clear()
                watch = CpuWatch(lab)
                results = await peer_calls(plain, [pcm for _, pcm in wavs], calls, args.turns, args.stagger)
                timed = reply_latencies(results, plain.sessions.all)
                lat = [x.latency for x in timed]
                call_s = sum(d["hung_up"] - d["connected"] for r in results if isinstance(r, dict) for d in r["dials"])
                replies, unheard = not_heard(plain.sessions.all)
                print(f"{calls} call(s) in-process (the peer: simulated callers straight to AudioSocket): reply "
                      f"latency p50 {pct(lat, .5) * 1000:.0f} ms, p95 {pct(lat, .95) * 1000:.0f} ms over {len(lat)} "
                      f"turns ({unheard} of {replies} replies the not-heard prompt); load average before "
                      f"{' '.join(load)}, after {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
                print(f"  where the reply latency went:\n{breakdown(timed)}")
                print(f"  CPU over the run (the callers' own process not counted):\n"
                      f"{watch.report(call_s or 1.0, False)}", flush=True)
            world.close()
            await voice.close()
            await plain.close()
            await services.close()
    finally:
        lab.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", default="1,4")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--stagger", type=float, default=3.0)
    asyncio.run(main(parser.parse_args()))
