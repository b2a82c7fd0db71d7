"""Dialogue benchmark: 50 concurrent multi-turn conversations over the gateway's WebSocket, and
the same scripts against the same model served by Rasa's own server (`rasa run --enable-api`
with rasa_sdk's action server) in the same run.

Two loads, each on both servers:
- paced: 50 citizens chatting at once, each taking a think time (1-3 s, seeded) between the
  bot's answer and their next message, as people typing do. Its p50/p99 turn latency is what a
  citizen feels.
- saturated: 50 conversations of other citizens with no think time, so the server never idles.
  Its turns per second is the capacity, and the gateway/Rasa ratio is taken from it.

Prints turns per second and p50/p99 turn latency for each, how many of the gateway's texts came
from its parse cache, the ratio, and the gateway's resident memory with the model loaded.
Usage: python bench/dialogue.py [--conversations 200] [--concurrency 50] [--think 1,3] [--skip-rasa]
                               [--no-parse-cache]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent

# Realistic scripts: each line is one citizen turn. Short answers (你好, 需要, 确认, 转人工 …) are
# the same words for every citizen, as on a real line; what a citizen describes (the problem, the
# place, the phone number, the question in their own words) differs from one conversation to the
# next, so the gateway's parse cache (bot/parse_cache.py) helps only where it would in service.
SHOPS = ["饭店", "烧烤店", "KTV", "麻将馆", "洗车店", "装修公司", "菜市场", "五金店"]
NUISANCES = ["油烟和噪音特别大", "噪音吵得人睡不着", "把垃圾堆在楼道里", "占道经营堵住了路", "油烟熏得没法开窗"]
ESTATES = ["幸福", "阳光", "和平", "锦绣", "金桥", "翠园", "东湖", "枫林"]
ROADS = ["光明路", "解放路", "人民路", "建设路", "中山路", "长江路", "新华路", "胜利路"]
GOODS = ["卖假烟", "卖过期食品", "卖来路不明的药", "收废品乱堆乱放", "私拉电线充电"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]
HOURS = ["九", "十", "十一"]
ASKING = ["", "请问", "我想问一下", "麻烦问下", "你好，", "想咨询一下"]
ENDING = ["", "？", "呀", "啊？", "，谢谢"]
QUESTIONS = [["社保卡丢了怎么补办", "社保卡掉了去哪里补", "社保卡不见了怎么办理补卡", "补办社保卡要带什么"],
             ["公积金怎么提取", "住房公积金怎么取出来", "公积金提取要什么手续", "怎么把公积金提出来"],
             ["孩子上小学要准备什么材料", "小孩上小学报名要哪些材料", "一年级入学需要准备什么证件", "孩子上学报名要带啥"]]


def script(i: int) -> list[str]:
    """Conversation i's turns: one of five scripts, its free text drawn for this conversation."""
    r = random.Random(i)
    question = r.choice(ASKING) + r.choice(QUESTIONS[(i // 5) % 3]) + r.choice(ENDING)
    road, cross = r.sample(ROADS, 2)
    return [
        ["你好", "我要投诉", f"我们小区{r.randint(1, 40)}号楼楼下的{r.choice(SHOPS)}每天半夜还在营业，{r.choice(NUISANCES)}",
         f"{r.choice(ESTATES)}小区{r.randint(1, 40)}号楼", f"每天晚上{r.choice(HOURS)}点以后",
         f"138{r.randint(0, 99_999_999):08d}", f"我姓{r.choice(SURNAMES)}", "需要", "确认", "谢谢"],
        ["您好", question, "解决了", "谢谢"],
        ["喂", f"我想举报{road}上有人无证经营{r.choice(GOODS)}", f"{road}和{cross}交叉口", "今天下午",
         f"139{r.randint(0, 99_999_999):08d}", "匿名", "不需要", "对"],
        ["你好", question, "没有解决", "转人工"],
        ["你是机器人吗", question, "好的", "再见"],
    ][i % 5]


SCRIPTS = 5  # conversation i follows script i % 5
WARM_UP = 1_000_000  # warm-up conversations draw their text from indexes no measured one uses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def wait_http(url: str, check=lambda body: True, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as r:
                    if r.status == 200 and check(await r.text()):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(url)


async def ws_conversation(http, base: str, script: list[str], latencies: list[float], think) -> None:
    async with http.ws_connect(base.replace("http", "ws") + "/ws/chat") as ws:
        await ws.send_json({"type": "hello", "session": None})
        await ws.receive()
        for text in script:
            await asyncio.sleep(think())
            start = time.perf_counter()
            await ws.send_json({"type": "message", "text": text})
            while True:
                frame = json.loads((await ws.receive(timeout=60)).data)
                if frame["type"] in ("idle", "error"):
                    break
            latencies.append(time.perf_counter() - start)


async def rest_conversation(http, base: str, script: list[str], latencies: list[float], think, sender: str) -> None:
    for text in script:
        await asyncio.sleep(think())
        start = time.perf_counter()
        async with http.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": text}) as r:
            await r.read()
            assert r.status == 200, r.status
        latencies.append(time.perf_counter() - start)


async def parse_sources(base: str) -> dict:
    """The gateway's count of texts understood from its parse cache and by the model (/metrics)."""
    counts = {"cache": 0.0, "model": 0.0}
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("hotline_bot_parses_total{"):
                source = line.split('source="')[1].split('"')[0]
                counts[source] = float(line.rsplit(" ", 1)[1])
    return counts


async def load(base: str, conversations: int, concurrency: int, transport: str,
               think_s: tuple[float, float] = (0.0, 0.0), first: int = 0) -> dict:
    latencies: list[float] = []
    rng = random.Random(12345)
    think = (lambda: rng.uniform(*think_s)) if think_s[1] else (lambda: 0.0)
    no_think = lambda: 0.0  # noqa: E731
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(i: int):
            i += first  # each load its own citizens: no text of one load is repeated by the next
            async with semaphore:
                if transport == "ws":
                    await ws_conversation(http, base, script(i), latencies, think)
                else:
                    await rest_conversation(http, base, script(i), latencies, think,
                                            f"bench-{transport}-{i}-{time.time_ns()}")
        # warm-up: one conversation of each script, not measured
        warm: list[float] = []
        for i in range(WARM_UP, WARM_UP + SCRIPTS):
            if transport == "ws":
                await ws_conversation(http, base, script(i), warm, no_think)
            else:
                await rest_conversation(http, base, script(i), warm, no_think, f"warm-{time.time_ns()}")
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(conversations)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {"turns": len(latencies), "turns_per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def prepare_data_dir(path: Path) -> None:
    env = {**os.environ, "HOTLINE_DATA_DIR": str(path), "HOTLINE_LOG_LEVEL": "WARNING"}
    subprocess.run([str(BIN / "hotline"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([str(BIN / "hotline"), "demo-data", "--no-users"], env=env, cwd=ROOT, check=True,
                   capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--think", default="1,3", help="think time range in seconds for the paced load")
    parser.add_argument("--skip-rasa", action="store_true")
    parser.add_argument("--no-parse-cache", action="store_true",
                        help="the gateway without its parse cache: every text through the model")
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split(","))

    def both_loads(base: str, transport: str) -> dict:
        results = {}
        for phase, think_s, first in (("paced", think, 0), ("saturated", (0.0, 0.0), 100_000)):
            before = asyncio.run(parse_sources(base)) if transport == "ws" else None
            results[phase] = asyncio.run(load(base, args.conversations, args.concurrency, transport, think_s, first))
            if before is not None:
                after = asyncio.run(parse_sources(base))
                results[phase]["parses"] = {k: after[k] - before[k] for k in after}
        return results

    sys.path.insert(0, str(ROOT))
    from bot.training import ensure_model
    model = ensure_model(ROOT / "models")
    work = Path(tempfile.mkdtemp(prefix="bench-dialogue-"))
    procs: list[subprocess.Popen] = []
    try:
        gw_dir, peer_dir = work / "gateway", work / "rasa"
        prepare_data_dir(gw_dir)
        prepare_data_dir(peer_dir)
        port = free_port()
        env = {**os.environ, "HOTLINE_DATA_DIR": str(gw_dir), "HOTLINE_HTTP_PORT": str(port),
               "HOTLINE_LOG_LEVEL": "WARNING", "HOTLINE_BOT_MODEL_DIR": str(ROOT / "models"),
               "HOTLINE_BOT_PARSE_CACHE_ENTRIES": "0" if args.no_parse_cache else "4096"}
        gateway = start([str(BIN / "hotline"), "run", "--no-migrate"], env, work / "gateway.log")
        procs.append(gateway)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_http(base + "/healthz", lambda b: json.loads(b).get("bot")))
        results = {"gateway (WebSocket)" + (", no parse cache" if args.no_parse_cache else ""): both_loads(base, "ws")}
        memory = rss_mb(gateway.pid)
        stop(gateway)
        if not args.skip_rasa:
            action_port, rasa_port = free_port(), free_port()
            (work / "endpoints.yml").write_text(f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n")
            procs.append(start([PY, "bench/rasa_peer.py", str(action_port), str(peer_dir)],
                               {**os.environ, "PYTHONPATH": str(ROOT)}, work / "actions.log"))
            procs.append(start([str(BIN / "rasa"), "run", "--enable-api", "-m", str(model), "--port", str(rasa_port),
                                "--endpoints", str(work / "endpoints.yml"), "--quiet"],
                               {**os.environ, "PYTHONPATH": str(ROOT)}, work / "rasa.log"))
            asyncio.run(wait_http(f"http://127.0.0.1:{action_port}/health"))
            asyncio.run(wait_http(f"http://127.0.0.1:{rasa_port}/status"))
            results["rasa run --enable-api (REST)"] = both_loads(f"http://127.0.0.1:{rasa_port}", "rest")
        print(f"dialogue benchmark: {args.conversations} conversations, {args.concurrency} concurrent, "
              f"{SCRIPTS} scripts ({sum(len(script(i)) for i in range(SCRIPTS)) / SCRIPTS:.1f} turns each)")
        for phase, label in (("paced", f"paced (think {args.think} s)"), ("saturated", "saturated (no think time)")):
            print(f" {label}:")
            for name, by_phase in results.items():
                r = by_phase[phase]
                print(f"  {name:32s} {r['turns_per_s']:7.1f} turns/s   p50 {r['p50_ms']:7.1f} ms"
                      f"   p99 {r['p99_ms']:7.1f} ms   ({r['turns']} turns)")
                if sum((r.get("parses") or {}).values()):
                    p = r["parses"]
                    print(f"  {'':32s} texts understood from the gateway's parse cache: {p['cache']:.0f} "
                          f"of {p['cache'] + p['model']:.0f} ({p['cache'] / max(1, p['cache'] + p['model']):.0%})")
        if len(results) == 2:
            gw, peer = (r["saturated"] for r in results.values())
            print(f"  throughput ratio gateway/rasa (saturated): {gw['turns_per_s'] / peer['turns_per_s']:.2f}x")
        print(f"  gateway resident memory with the model loaded: {memory:.0f} MB")
    except Exception:
        for log in sorted(work.glob("*.log")):
            print(f"--- last lines of {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        raise
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
