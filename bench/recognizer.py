"""Recognizer benchmark: what one second of a caller's speech costs the recognizer, in CPU seconds
(its real-time factor, the figure that sizes a server: docs/capacity.md), and how that moves with

- how the audio is handed over: 20 ms frames with a partial result after each (the gateway before
  2026-12-06) against batches of --batch-ms without partials (the gateway now);
- Kaldi's search settings (beam, max-active, lattice-beam; `vosk_beam`, `vosk_max_active`,
  `vosk_lattice_beam` in the settings), each with how far its text strays from the model's own
  settings' text (word differences per reference word: not accuracy, which needs a model that
  understands the test voice, but whether narrowing the search changed what was recognized);
- threads decoding at once: whether decoding scales with the cores (Vosk releases the GIL).

CPU time is each decoding thread's own (time.thread_time), so the figures hold on a busy machine;
the wall-clock rates do not: the load average is printed beside them.
Usage: .venv/bin/python bench/recognizer.py [--model DIR] [--decoders 'beam=8;max_active=1500;...']
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UTTERANCES = ["I would like to check the status of my case.", "There is a lot of noise at night near my home.",
              "Please tell me how to renew my social security card.", "I want to talk to a person.",
              "The street light in front of building seven has been broken for two weeks."]
RATE = 8000


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def test_speech() -> bytes:
    """The utterances in the registry's Piper voice at the phone's rate, 0.6 s of quiet after each."""
    import numpy as np

    from speech.audio import resample
    from speech.models import find_piper_voice
    from speech.piper_engine import PiperSynthesizer

    voice = PiperSynthesizer(find_piper_voice().path)
    pcm = b""
    for text in UTTERANCES:
        audio = np.concatenate(list(voice.synthesize(text)))
        pcm += resample(audio, voice.sample_rate, RATE).astype("<i2").tobytes() + bytes(int(RATE * 0.6) * 2)
    return pcm


def decode(model, pcm: bytes, chunk_ms: int, partials: bool) -> tuple[float, float, str]:
    """One call's audio through a fresh stream: (CPU s, wall s, text)."""
    stream = model.stream(RATE)
    n = chunk_ms * RATE * 2 // 1000
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(0, len(pcm), n):
        stream.accept(pcm[i:i + n], partials)
    text = stream.finish()
    return time.thread_time() - cpu, time.perf_counter() - wall, text


def decode_as_a_call(model, pcm: bytes, batch_ms: int) -> tuple[float, float, float]:
    """The audio as a call hands it over (channels/voice/session.py): in batches, the quiet past
    200 ms of a pause held back (decoded only if the caller speaks again) and the segment closed
    there; the final result at the end. (CPU s, wall s, seconds of audio decoded)."""
    from speech.vad import EndOfSpeech

    vad, frame = EndOfSpeech(rate=RATE), RATE // 50 * 2
    stream = model.stream(RATE)
    batch, held, quiet_ms, decoded = b"", b"", 0, 0
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(0, len(pcm), frame):
        f = pcm[i:i + frame]
        quiet_ms = 0 if vad.is_voiced(f) else quiet_ms + 20
        if quiet_ms <= 200:
            batch += held + f
            held = b""
        else:
            if not held and batch:  # the pause may be the end of the turn
                stream.accept(batch)
                decoded += len(batch)
                batch = b""
                stream.close_segment()
            held += f
        if len(batch) >= batch_ms * RATE * 2 // 1000:
            stream.accept(batch)
            decoded += len(batch)
            batch = b""
    if batch:
        stream.accept(batch)
        decoded += len(batch)
    stream.finish()
    return time.thread_time() - cpu, time.perf_counter() - wall, decoded / (2 * RATE)


def word_difference(text: str, reference: str) -> float:
    """Word edit distance per reference word."""
    a, b = text.split(), reference.split()
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, ref in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != ref))
    return row[-1] / max(1, len(b))


def parse_decoders(spec: str):
    from speech.vosk_engine import DecoderSettings

    out = [DecoderSettings()]
    for variant in filter(None, (v.strip() for v in spec.split(";"))):
        fields = dict(kv.split("=") for kv in variant.split(","))
        out.append(DecoderSettings(**{k: (int if k == "max_active" else float)(v) for k, v in fields.items()}))
    return out


def parallel(model, pcm: bytes, threads: int, batch_ms: int) -> tuple[float, float]:
    """`threads` streams decoded at once: (seconds of audio decoded per wall second, CPU s per audio s)."""
    cpu = []

    def one():
        cpu.append(decode(model, pcm, batch_ms, False)[0])

    workers = [threading.Thread(target=one) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    audio = len(pcm) / (2 * RATE)
    return threads * audio / (time.perf_counter() - started), sum(cpu) / (threads * audio)


def main(args) -> None:
    from speech.models import find_vosk_model
    from speech.vosk_engine import VoskModel

    path = Path(args.model) if args.model else find_vosk_model().path
    pcm = test_speech()
    audio = len(pcm) / (2 * RATE)
    print(f"model {path}; {audio:.1f} s of test speech; {os.cpu_count()} cores; load average {loadavg()}")
    reference = None
    print("\n| decoder settings | hand-over | CPU-s per s of speech | wall | words differing from the model's own | load |")
    print("|---|---|---|---|---|---|")
    for decoder in parse_decoders(args.decoders):
        model = VoskModel(path, decoder)
        decode(model, pcm[:RATE], 20, False)  # first use warms caches
        ways = [(20, True), (args.batch_ms, False)] if reference is None else [(args.batch_ms, False)]
        for chunk_ms, partials in ways:
            runs = [decode(model, pcm, chunk_ms, partials) for _ in range(args.repeat)]
            cpu, wall, text = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
            if reference is None and not partials:  # the same hand-over, the model's own search
                reference = text
            how = f"{chunk_ms} ms" + (" + partial each" if partials else "")
            differ = "-" if reference is None else f"{word_difference(text, reference):.0%}"
            print(f"| {model.decoder or 'model.conf'} | {how} | {cpu / audio:.3f} | {wall / audio:.3f} | "
                  f"{differ} | {loadavg()} |", flush=True)
        if not model.decoder:  # the cost of closing the segment at each pause, as a call does
            runs = [decode_as_a_call(model, pcm, args.batch_ms) for _ in range(args.repeat)]
            cpu, wall, decoded = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
            print(f"| model.conf | as a call: {args.batch_ms} ms, quiet past 200 ms held back, segment closed "
                  f"at each pause ({decoded:.1f} s of {audio:.1f} decoded) | {cpu / decoded:.3f} per s decoded, "
                  f"{cpu / audio:.3f} per s of the audio | {wall / decoded:.3f} | - | {loadavg()} |", flush=True)
        del model
    model = VoskModel(path, parse_decoders(args.decoders)[0])
    print(f"\n| threads decoding at once | s of speech decoded per s | CPU-s per s of speech | load |")
    print("|---|---|---|---|")
    for threads in range(1, (os.cpu_count() or 1) + 2):
        rate, cpu = parallel(model, pcm, threads, args.batch_ms)
        print(f"| {threads} | {rate:.2f} | {cpu:.3f} | {loadavg()} |", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="", help="a Vosk model directory (default: as the gateway finds one)")
    p.add_argument("--batch-ms", type=int, default=200)
    p.add_argument("--repeat", type=int, default=2, help="runs per row (the least CPU is kept)")
    p.add_argument("--decoders", default="beam=8;max_active=1500;beam=8,max_active=1500,lattice_beam=1;"
                                         "beam=6,max_active=1000,lattice_beam=1",
                   help="decoder settings to compare with the model's own, ';' between variants")
    main(p.parse_args())
