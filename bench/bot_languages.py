"""The bilingual model's cost: resident memory of a process with the model loaded, the model file,
and how long the NLU takes per message, in Chinese and in English (the held-out sets), with the
intent accuracy it reaches on each. `--peer` names another model file (a Chinese-only one) measured
the same way in the same run, so the two can be compared.

Each model is loaded in a fresh process, so its memory is its own.
Usage: python bench/bot_languages.py [--model models/hotline-….tar.gz] [--peer OTHER.tar.gz]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """This process's resident memory (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(model: Path) -> dict:
    from bot.engine import load_agent
    from bot.evaluate import HELDOUT, HELDOUT_EN, load_heldout
    from bot.normalize import normalize_text

    before = rss_mb()
    started = time.perf_counter()
    agent = load_agent(model, parse_cache_entries=0)
    loaded_s = time.perf_counter() - started
    await agent.parse_message("你好")  # the first message builds what TensorFlow builds lazily
    out = {"model": model.name, "model_mb": round(model.stat().st_size / 1e6, 1),
           "load_s": round(loaded_s, 1), "rss_before_mb": round(before), "rss_loaded_mb": None}
    for name, path in (("zh", HELDOUT), ("en", HELDOUT_EN)):
        examples = load_heldout(path)
        times, right = [], 0
        for text, intent, _ in examples:
            t0 = time.perf_counter()
            parsed = await agent.parse_message(normalize_text(text))
            times.append((time.perf_counter() - t0) * 1000)
            right += (parsed.get("intent") or {}).get("name") == intent
        out[name] = {"messages": len(examples), "intent_accuracy": round(right / len(examples), 4),
                     "parse_ms_p50": round(statistics.median(times), 1),
                     "parse_ms_p95": round(sorted(times)[int(len(times) * 0.95) - 1], 1)}
    out["rss_loaded_mb"] = round(rss_mb())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="the model file (default: the one the current data trains)")
    parser.add_argument("--peer", help="another model file measured the same way")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure this model
    args = parser.parse_args()
    if args.one:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):  # jieba talks on stdout
            result = asyncio.run(measure(Path(args.one)))
        print(json.dumps(result))
        return 0
    if args.model:
        model = Path(args.model)
    else:
        from bot.training import ensure_model
        model = ensure_model(ROOT / "models")
    for label, path in (("bilingual", model), ("peer", Path(args.peer) if args.peer else None)):
        if path is None:
            continue
        done = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True,
                              cwd=ROOT, check=True)
        print(label, json.dumps(json.loads(done.stdout.strip().splitlines()[-1]), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
