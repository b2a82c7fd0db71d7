"""What serving English costs: resident memory of a process with the bot loaded, Chinese alone and
with the English NLU beside it (bot/languages.py), the model files, and how long the NLU takes per
message in each language (the held-out sets, parse cache off) with the intent accuracy it reaches.

Each setup is loaded in a fresh process, so its memory is its own; the machine's load average is
printed before and after, since on a shared machine it decides the times.
Usage: python bench/bot_languages.py [--model models/hotline-….tar.gz] [--english models/nlu-en-….tar.gz]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NONE = "none"  # --english none: the dialogue model alone, Chinese only


def rss_mb() -> float:
    """This process's resident memory (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(model: Path, english: Path) -> dict:
    from rasa.core.channels.channel import UserMessage

    from bot.engine import load_agent, served_locales
    from bot.evaluate import HELDOUT, HELDOUT_EN, load_heldout
    from bot.normalize import normalize_text

    before = rss_mb()
    started = time.perf_counter()
    agent = load_agent(model, parse_cache_entries=0, english=english)
    out = {"served": list(served_locales(agent)), "load_s": round(time.perf_counter() - started, 1),
           "rss_before_mb": round(before), "rss_loaded_mb": round(rss_mb())}
    for locale, path in (("zh", HELDOUT), ("en", HELDOUT_EN)):
        if locale not in out["served"]:
            continue
        examples = load_heldout(path)
        # the first message builds what TensorFlow builds lazily
        await agent.processor.parse_message(UserMessage(normalize_text(examples[0][0]), metadata={"locale": locale}))
        times, right = [], 0
        for text, intent, _ in examples:
            message = UserMessage(normalize_text(text), metadata={"locale": locale})
            t0 = time.perf_counter()
            parsed = await agent.processor.parse_message(message)
            times.append((time.perf_counter() - t0) * 1000)
            right += (parsed.get("intent") or {}).get("name") == intent
        out[locale] = {"messages": len(examples), "intent_accuracy": round(right / len(examples), 4),
                       "parse_ms_p50": round(statistics.median(times), 1),
                       "parse_ms_p95": round(sorted(times)[int(len(times) * 0.95) - 1], 1)}
    out["rss_after_parsing_mb"] = round(rss_mb())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="the dialogue model (default: the one the current data trains)")
    parser.add_argument("--english", help="the English NLU (default: the one the current data trains)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # the child process: MODEL ENGLISH
    args = parser.parse_args()
    if args.one:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):  # jieba talks on stdout
            result = asyncio.run(measure(Path(args.one[0]), Path(args.one[1])))
        print(json.dumps(result))
        return 0
    from bot.training import english_model_path, ensure_model

    model = Path(args.model) if args.model else ensure_model(ROOT / "models")
    english = Path(args.english) if args.english else english_model_path(ROOT / "models")
    print("load average before", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("files", json.dumps({p.name: round(p.stat().st_size / 1e6, 1) for p in (model, english)}), "MB")
    for label, nlu in (("chinese only", Path(NONE)), ("chinese and english", english)):
        done = subprocess.run([sys.executable, __file__, "--one", str(model), str(nlu)], capture_output=True,
                              text=True, cwd=ROOT, check=True)
        print(label, json.dumps(json.loads(done.stdout.strip().splitlines()[-1]), ensure_ascii=False))
    print("load average after", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
