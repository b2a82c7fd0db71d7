"""Garbage-collection pauses of a gateway holding many conversations, with and without freezing what
survives each full collection (hotline/memory.py), in one run.

Each variant is a fresh process: the bot loaded and frozen as the gateway does (freeze_long_lived),
its tracker cache filled with `--cached` conversations (10,000: the cache's bound, a busy day's
conversations; copies of a few served first), then `--conversations` web chats served in turn, round
robin (every tracker stays cached and grows, as under the held chats of bench/scale.py), `--turns`
turns each with bench/dialogue.py's scripts, on SQLite in a temporary folder. A gc callback times
every full collection. Printed per variant: the full collections, their pauses (p50, max, the last
five), their sum, CPU ms per turn, and at the end the objects the next full collection walks and
how long it takes (run then). It fills the cache through the store's private `_remember`: the
cache has no public way in but a turn, and 10,000 conversations served turn by turn take minutes.

    .venv/bin/python bench/collector.py [--cached 10000] [--conversations 300] [--turns 12]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"models": "models frozen once (before)", "survivors": "survivors of each full collection frozen"}


def _dialogue():
    spec = importlib.util.spec_from_file_location("bench_dialogue", ROOT / "bench" / "dialogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FullCollections:
    def __init__(self):
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


async def fill_cache(engine, cached: int, dialogue) -> None:
    """`cached` conversations in the tracker cache, each a copy of one of 10 served whole."""
    from bot.tracker_store import _Entry
    from bot.turns import Turn
    from rasa.shared.core.trackers import DialogueStateTracker

    store = engine.agent.tracker_store
    templates = []
    for i in range(10):
        sender = f"gc-template-{i}"
        for text in dialogue.script(400_000 + i):
            await engine.handle(Turn(sender, "webchat", text))
        templates.append([e.as_dict() for e in (await store.retrieve(sender)).events])
    for i in range(cached):
        events = templates[i % len(templates)]
        tracker = DialogueStateTracker.from_dict(f"gc-cached-{i}", events, engine.agent.domain.slots)
        store._remember(tracker.sender_id, _Entry(tracker, len(events), 0))


async def serve_conversations(variant: str, cached: int, conversations: int, turns: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from bot.turns import Turn
    from cases.migrate import upgrade
    from hotline.memory import SurvivorFreezer, freeze_long_lived
    from hotline.services import Services
    from hotline.settings import load_settings, replace

    dialogue = _dialogue()
    settings = replace(load_settings(environ={}), data_dir=Path(tempfile.mkdtemp(prefix="bench-gc-")))
    upgrade(settings.database_url)
    services = await Services.create(settings)
    await services.start_bot()
    freeze_long_lived()
    await fill_cache(services.engine, cached, dialogue)
    if variant == "survivors":
        SurvivorFreezer(thaw_s=24 * 3600).install()  # no thaw inside the run: the steady state
    gc.collect()  # the full collection that comes once the cache has filled (it freezes, in the new way)
    timer = FullCollections()
    gc.callbacks.insert(0, timer)
    scripts = [[text for n in range(turns) for text in dialogue.script(300_000 + i * 7 + n)][:turns]
               for i in range(conversations)]
    cpu = time.process_time()
    for t in range(turns):
        for i in range(conversations):
            await services.engine.handle(Turn(f"gc-bench-{i}", "webchat", scripts[i][t]))
    cpu_ms = (time.process_time() - cpu) * 1000 / (turns * conversations)
    gc.callbacks.remove(timer)
    walked = len(gc.get_objects())  # what the next full collection walks (frozen objects are not listed)
    started = time.perf_counter()
    gc.collect()  # the next full collection, run now
    next_ms = (time.perf_counter() - started) * 1000
    await services.close()
    return {"pauses": timer.pauses, "cpu_ms_per_turn": cpu_ms, "walked": walked, "next_ms": next_ms}


def show(variant: str, r: dict) -> None:
    p = r["pauses"]
    print(f"{VARIANTS[variant]}: {len(p)} full collections, pause p50 {statistics.median(p) if p else 0:.0f} ms, "
          f"max {max(p, default=0):.0f} ms, sum {sum(p):.0f} ms, last five {[round(x) for x in p[-5:]]} ms; "
          f"CPU {r['cpu_ms_per_turn']:.1f} ms per turn; at the end the next full collection walks "
          f"{r['walked']:,} objects in {r['next_ms']:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cached", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one variant, in this process
    args = parser.parse_args()
    if args.variant:
        result = asyncio.run(serve_conversations(args.variant, args.cached, args.conversations, args.turns))
        print("RESULT " + json.dumps(result))
        return
    with open("/proc/loadavg") as f:
        print(f"load average at the start: {' '.join(f.read().split()[:3])}", flush=True)
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--cached", str(args.cached),
                              "--conversations", str(args.conversations), "--turns", str(args.turns)],
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout
        show(variant, json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}", flush=True)


if __name__ == "__main__":
    main()
