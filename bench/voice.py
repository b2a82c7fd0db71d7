"""Voice benchmark: simulated callers over AudioSocket at real-time pace against the real gateway
parts (trained bot, Vosk, Piper, SQLite case store), printing:

- reply latency: the caller's last voiced frame -> the first voiced frame of the reply (the bot's
  answer, or the not-heard prompt when nothing was recognized), p50/p95,
  at 1, 4 and 8 concurrent calls (includes the end-of-speech silence window); the callers run in a
  process of their own, as Asterisk does, their starts spread over --stagger seconds
- barge-in stop time: a key pressed during a prompt -> the prompt's last audio frame
- recognition and synthesis real-time factors (CPU time / audio time)
- prompt cache hit cost
- resident memory with bot, recognizer and voice loaded

Targets (2-core machine): p50 <= 800 ms at 1 call, p95 <= 1.5 s at 8 calls, barge-in <= 200 ms,
cached prompt <= 5 ms, memory <= 1.5 GB. Usage: .venv/bin/python bench/voice.py [--calls 1,4,8] [--turns 6] [--stagger 3]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from voice_peers import AudioSocketCaller  # noqa: E402

import threads  # noqa: E402  (bench/threads.py)
from channels.voice.timing import STAGES  # noqa: E402

UTTERANCES = ["I would like to check the status of my case.", "There is a lot of noise at night near my home.",
              "Please tell me how to renew my social security card.", "I want to talk to a person."]


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def loadavg() -> str:
    """The machine's load (1, 5, 15 min): the benchmark shares the machine, say how busy it was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def setup(tmp: Path, args):
    from bot.engine import Engine, load_agent
    from bot.training import ensure_model
    from cases.migrate import upgrade
    from cases.reference_data import load_reference_data
    from channels.voice import VoiceChannel
    from hotline.memory import freeze_long_lived
    from hotline.services import Services
    from hotline.settings import Settings
    from speech.models import load_speech, tuning

    settings = Settings(data_dir=tmp, log_json=False, speech_threads=args.speech_threads,
                        recognizer_batch_ms=args.batch_ms, vosk_beam=args.beam, vosk_max_active=args.max_active,
                        vosk_lattice_beam=args.lattice_beam)
    upgrade(settings.database_url)
    services = await Services.create(settings)
    await load_reference_data(services.db)
    loop = asyncio.get_running_loop()
    before = rss_mb()
    agent = await loop.run_in_executor(None, lambda: load_agent(ensure_model(ROOT / "models")))
    bot_mb = rss_mb() - before
    services.engine = await Engine.create(agent, services.store) if hasattr(Engine, "create") else \
        Engine(agent, services.store, tracker_store_url=f"sqlite:///{tmp / 'trackers.db'}")
    before = rss_mb()
    speech, why = await loop.run_in_executor(None, lambda: load_speech(cache_dir=tmp / "prompt-cache", **tuning(settings)))
    speech_mb = rss_mb() - before
    if speech is None:
        sys.exit(f"speech models missing: {why}")
    voice = VoiceChannel(speech, services.engine, store=services.store, host="127.0.0.1", agi_port=0,
                         audiosocket_port=0, data_dir=tmp)
    await voice.start()
    await voice.prompts_ready  # as on a gateway that has been up a moment: its own prompts cached
    freeze_long_lived()  # as hotline/server.py does once the models are loaded
    return services, speech, voice, f"{why}; bot +{bot_mb:.0f} MB, speech models +{speech_mb:.0f} MB"


def quiet_tail_s(pcm: bytes, rate: int = 8000) -> float:
    """How long the end of an utterance is quiet by the gateway's own VAD threshold: the caller's
    speech ended that long before its last non-zero frame went out."""
    from speech.vad import EndOfSpeech

    vad, n = EndOfSpeech(rate=rate), rate // 50 * 2
    frames = [pcm[i:i + n] for i in range(0, len(pcm), n)]
    voiced = [i for i, f in enumerate(frames) if vad.is_voiced(f)]
    sounding = [i for i, f in enumerate(frames) if any(f)]  # what the peer counts as voiced
    return (sounding[-1] - voiced[-1]) * 0.02 if voiced else 0.0


# ---- the callers: a process of their own, as Asterisk is ------------------------------------------
# In the gateway's process the simulated callers' threads (two per call, waking every 20 ms) would
# compete with the gateway for the GIL and the benchmark would measure itself.

async def one_caller(port: int, utterances: list[bytes], turns: int, delay: float) -> dict:
    """Speak `turns` utterances over the prompts (barge-in), each after the answer to the previous
    one started; the test voice is not understood, so after two turns the bot transfers the caller
    (the gateway hangs up towards the queue): dial again. Returns what the caller saw, per call:
    when each utterance ended and when voiced audio arrived; the gateway's side is matched later."""
    await asyncio.sleep(delay)
    done, first, dials, barge = 0, True, [], []
    while done < turns:
        call = await AudioSocketCaller("127.0.0.1", port).connect()
        dial = {"uuid": call.call_uuid, "spoke_until": [], "connected": time.monotonic()}
        dials.append(dial)
        try:
            await call.wait_voiced_after(0, 120)  # the welcome
            if first:
                # barge-in by key: '#' (which ends an empty entry, so it asks nothing of the bot)
                # stops the welcome at once
                await asyncio.sleep(0.5)
                pressed = time.monotonic()
                call.press("#", key_s=0.0)
                await asyncio.sleep(1.0)
                barge.append(max(0.0, (call.last_voiced() or pressed) - pressed))
                first = False
            else:
                await asyncio.sleep(0.5)
            while done < turns and not call.closed:
                utterance = utterances[done % len(utterances)]
                call.say(utterance)  # over the prompt: barge-in
                await asyncio.sleep(len(utterance) / 16000 + 0.1)
                # the recording ends in low-level noise that the VAD hears as quiet: speech ended earlier
                spoke_until = call.sent_voiced_until - quiet_tail_s(utterance)
                dial["spoke_until"].append(spoke_until)
                try:  # the answer (nothing plays between the barge-in and the answer)
                    await call.wait_voiced_after(spoke_until + 0.3, 120)
                except AssertionError:
                    break  # transferred before it answered
                done += 1
                await asyncio.sleep(1.0)  # listen a moment, then talk over the rest
        finally:
            await call.hang_up()
            dial["hung_up"] = time.monotonic()
            dial["voiced"] = [r.at for r in call.received if r.voiced]
    return {"dials": dials, "barge": barge}


def run_callers(port: int, utterances: list[bytes], calls: int, turns: int, stagger: float, out) -> None:
    """The callers' process: `calls` callers at once, their starts spread over `stagger` s (callers
    do not all ring in the same instant; 0 makes them speak in lockstep, the worst case)."""
    async def all_callers():
        return await asyncio.gather(*[one_caller(port, utterances, turns, i * stagger / calls)
                                      for i in range(calls)], return_exceptions=True)
    out.put([r if isinstance(r, dict) else repr(r) for r in asyncio.run(all_callers())])


def gateway_waits(sessions: list) -> tuple[list[float], list[float]]:
    """From the call records: end of speech -> text recognized, and -> the bot's answer ready."""
    turns = [t for s in sessions for t in s.turns if t["source"] == "speech" and "recognized_ms" in t]
    return [t["recognized_ms"] / 1000 for t in turns], [t["wait_ms"] / 1000 for t in turns]


@dataclass
class Reply:
    """One utterance and the reply to it: the caller's end of speech, when the caller heard the
    reply's first voiced audio, and the gateway's marks between (channels/voice/timing.py)."""
    spoke_until: float
    heard_reply: float
    timing: object  # TurnTiming

    @property
    def latency(self) -> float:
        return self.heard_reply - self.spoke_until

    def stages(self) -> list[tuple[str, float]]:
        """Where the latency went, stage by stage (seconds; together the whole latency)."""
        t = self.timing
        marks = [self.spoke_until, t.heard, t.ended, t.recognized, t.answered, t.queued, t.sent or None]
        names = ["path in (end of speech -> its last voiced frame at the gateway)",
                 *(name for name, _, _ in STAGES), "path out (first voiced frame sent -> heard)"]
        if marks[-1] is None:  # (not timed: a reply with no voiced frame)
            return []
        return list(zip(names, [b - a for a, b in zip(marks, marks[1:] + [self.heard_reply])]))


def replies_to(spoke: list[float], timings: list, voiced: list[float]) -> list[Reply]:
    """For each end of the caller's speech: the first voiced audio the caller received after the
    gateway's reply to it was ready (TurnTiming.answered: the bot's answer, or the not-heard
    prompt when nothing was recognized). Tying the reply to the gateway's mark keeps an earlier
    prompt still playing, or an answer to something else, from being taken for it. Stops at the
    first utterance without a reply (the call was transferred or hung up)."""
    timings, replies = [t for t in timings if t.answered], []
    for spoke_until in spoke:
        timing = next((t for t in timings if t.answered > spoke_until), None)
        if timing is None:
            break
        timings.remove(timing)
        reply = next((v for v in voiced if v > timing.answered), None)
        if reply is not None:
            replies.append(Reply(spoke_until, reply, timing))
    return replies


def reply_latencies(results: list, sessions: list) -> list[Reply]:
    """The caller's last voiced frame -> the first voiced frame of the reply to that turn, over every
    dial of every caller (both processes read the same monotonic clock)."""
    by_uuid = {s.info.uuid: s for s in sessions}
    replies = []
    for result in results:
        for dial in result["dials"] if isinstance(result, dict) else []:
            session = by_uuid.get(dial["uuid"])
            if session is not None:
                replies += replies_to(dial["spoke_until"], session.timings, dial["voiced"])
    return replies


def breakdown(replies: list[Reply]) -> str:
    """The reply latency stage by stage, p50 and p95 of each (ms; the stages' p50s need not add up
    to the total's: each is the median of its own)."""
    staged = [r.stages() for r in replies if r.stages()]
    if not staged:
        return "    (no reply with every stage timed)"
    lines = []
    for i, (name, _) in enumerate(staged[0]):
        values = [st[i][1] for st in staged]
        lines.append(f"    {name}: p50 {pct(values, .5) * 1000:.0f} ms, p95 {pct(values, .95) * 1000:.0f} ms")
    total = [r.latency for r in replies if r.stages()]
    lines.append(f"    = reply latency: p50 {pct(total, .5) * 1000:.0f} ms, p95 {pct(total, .95) * 1000:.0f} ms "
                 f"over {len(staged)} replies")
    return "\n".join(lines)


def not_heard(sessions: list) -> tuple[int, int]:
    """(replies in all, of which the not-heard prompt): an empty recognition is answered too."""
    replies = sum(len(s.replied_at) for s in sessions)
    return replies, replies - sum(1 for s in sessions for t in s.turns if t["source"] == "speech")


async def peer_calls(voice, utterances: list[bytes], calls: int, turns: int, stagger: float) -> list:
    """Run the simulated callers against `voice` in a process of their own; their results."""
    ctx = multiprocessing.get_context("spawn")  # the gateway's process runs threads: no fork
    loop = asyncio.get_running_loop()
    out = ctx.Queue()
    callers = ctx.Process(target=run_callers, args=(voice.audiosocket_port, utterances, calls, turns, stagger, out),
                          daemon=True)
    callers.start()
    results = await loop.run_in_executor(None, out.get)
    await loop.run_in_executor(None, callers.join)
    await asyncio.sleep(0.5)  # the last calls' records are written
    return results


class KeptSessions(set):
    """The voice channel's set of calls in progress, remembering every call that was in it."""

    def __init__(self):
        super().__init__()
        self.all: list = []

    def add(self, session) -> None:
        self.all.append(session)
        super().add(session)


async def main(args) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        started = time.perf_counter()
        services, speech, voice, why = await setup(tmp, args)
        try:
            await run_bench(args, speech, voice, started, why)
        finally:  # queued speech work is dropped, so a failed run does not linger decoding
            await voice.close()
            speech.close()
            await services.close()


async def run_bench(args, speech, voice, started, why) -> None:
    from hotline.server import release_free_memory

    print(f"load average {loadavg()} (1/5/15 min) on {os.cpu_count()} cores")
    print(f"loaded bot + speech in {time.perf_counter() - started:.1f} s ({why}); resident {rss_mb():.0f} MB")
    utterances = []
    for u in UTTERANCES:
        utterances.append(b"".join([p async for p in speech.speak(u, 8000)]))
    # prompt cache: the same clause again
    clause = "Thank you for calling the hotline."
    await speech.clause_audio(clause, 8000)
    n = 1000
    t0 = time.perf_counter()
    for _ in range(n):
        await speech.clause_audio(clause, 8000)
    cached_ms = (time.perf_counter() - t0) / n * 1000
    disk_cache = type(speech.cache)(speech.cache.directory)
    key = speech.cache.key(speech.synthesizer.voice_id, 8000, False, clause)
    t0 = time.perf_counter()
    disk_cache.get(key)
    disk_ms = (time.perf_counter() - t0) * 1000
    speech.stats.__init__()
    rows = []
    barge: list[float] = []
    voice.sessions = KeptSessions()
    for calls in [int(c) for c in args.calls.split(",")]:
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        voice.sessions.all.clear()
        speech.stats.__init__()
        tasks0 = threads.snapshot()
        load0 = loadavg()
        results = await peer_calls(voice, utterances, calls, args.turns, args.stagger)
        timed = reply_latencies(results, voice.sessions.all)
        latencies = [r.latency for r in timed]
        recognized, answered = gateway_waits(voice.sessions.all)
        replies, unheard = not_heard(voice.sessions.all)
        voice.sessions.all.clear()
        took = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        gateway_cpu, callers_cpu = [(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime) / took
                                    for a, b in zip(cpu0, cpu1)]
        call_s = sum(d["hung_up"] - d["connected"] for r in results if isinstance(r, dict) for d in r["dials"])
        by_thread = threads.report(tasks0, threads.snapshot(), took, call_s)
        stats = speech.stats
        barge += [b for r in results if isinstance(r, dict) for b in r["barge"]]
        failed = [r for r in results if not isinstance(r, dict)]
        rows.append((calls, len(latencies), pct(latencies, 0.5), pct(latencies, 0.95), took, len(failed)))
        print(f"{calls} concurrent: {len(latencies)} turns ({unheard} of {replies} replies the not-heard prompt), p50 {pct(latencies, 0.5):.3f} s, "
              f"p95 {pct(latencies, 0.95):.3f} s, calls lost {len(failed)} {[f[:80] for f in failed]}; "
              f"gateway: text recognized p50 {pct(recognized, 0.5):.3f} s, answer ready p50 "
              f"{pct(answered, 0.5):.3f} s after the end of speech; CPU cores busy: gateway {gateway_cpu:.2f}, "
              f"callers {callers_cpu:.2f}; load average {load0} -> {loadavg()}", flush=True)
        print(f"  where the reply latency went:\n{breakdown(timed)}")
        print(f"  recognizer: {stats.describe()}")
        if call_s and stats.rec_audio:
            # the capacity model's terms (docs/capacity.md): per second of a call, the audio decoded
            # (v), its CPU cost per second (r), and the gateway's CPU besides recognition (o)
            v, r = stats.rec_audio / call_s, stats.rec_cpu / stats.rec_audio
            o = (gateway_cpu * took - stats.rec_cpu) / call_s
            print(f"  per call: {call_s:.0f} call-s; decoded v = {v:.2f} s of audio per call-s at r = {r:.2f} CPU-s "
                  f"per s -> recognition {r * v:.3f} cores per call, the rest of the gateway o = {o:.3f}")
        print(f"  gateway threads over the run:\n{by_thread}", flush=True)
    rtf = speech.stats.rtf()
    print()
    print("| concurrent calls | turns | reply latency p50 | p95 | callers cut off | run |")
    print("|---|---|---|---|---|---|")
    for calls, count, p50, p95, took, failed in rows:
        print(f"| {calls} | {count} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {failed} | {took:.0f} s |")
    print()
    if barge:
        print(f"barge-in stop time (key during a prompt): p50 {pct(barge, 0.5) * 1000:.0f} ms, "
              f"max {max(barge) * 1000:.0f} ms over {len(barge)} calls")
    print(f"recognition real-time factor (the last size's calls): {rtf['recognition_cpu'] or 0:.2f} CPU-s per s "
          f"of audio, {rtf['recognition'] or 0:.2f} wall; synthesis real-time factor: {rtf['synthesis'] or 0:.2f}")
    print(f"cached prompt: {cached_ms:.3f} ms from memory, {disk_ms:.2f} ms from disk (new process)")
    print(f"resident memory with bot, recognizer and voice loaded, after the calls: {rss_mb():.0f} MB, "
          f"{release_free_memory() or rss_mb():.0f} MB once freed memory is handed back")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", default="1,4,8")
    p.add_argument("--turns", type=int, default=6)
    p.add_argument("--stagger", type=float, default=3.0, help="seconds over which the callers' starts are spread")
    p.add_argument("--speech-threads", type=int, default=0, help="threads per speech pool (0: one per core)")
    p.add_argument("--batch-ms", type=int, default=200, help="audio handed to a call's recognizer at a time")
    p.add_argument("--beam", type=float, default=0.0, help="Kaldi's beam (0: the model's own)")
    p.add_argument("--max-active", type=int, default=0, help="Kaldi's max-active (0: the model's own)")
    p.add_argument("--lattice-beam", type=float, default=0.0, help="Kaldi's lattice beam (0: the model's own)")
    asyncio.run(main(p.parse_args()))
