"""Transfer set-up time through a real Asterisk: from the click (the HTTP request to the desk's REST
API, POST /api/calls/transfers) to the department's phone ringing (its UserEvent DeptRinging on the
carrier's side, tests/asterisk_support.py department_phones), for blind and attended transfers of a
live call that agent 1024 answered. Target: at most 1 s.

The PBX runs the project's deploy/asterisk files; the gateway is the desk's web application in this
process (aiohttp's test server on loopback, SQLite), on the PBX's AMI. No voice gateway runs: the
citizen's call goes straight to the agents' queue, as the dialplan does when the gateway is down.

Usage: .venv/bin/python bench/transfer.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from asterisk_support import Caller, Events, Lab, department_phones  # noqa: E402

ANSWERS, BUSY, SILENT = "95001", "95002", "95003"


async def run(rounds: int) -> dict:
    from aiohttp.test_utils import TestClient, TestServer

    from cases.migrate import upgrade
    from cases.reference_data import load_reference_data
    from channels.desk.telephony import PHONE
    from channels.voice.ami import AmiClient, AmiConfig
    from hotline.services import Services
    from hotline.settings import Settings
    from hotline.web import create_app

    lab = Lab(department_phones(ANSWERS, BUSY, SILENT)).start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    url = f"sqlite:///{tmp / 'hotline.db'}"
    upgrade(url)
    services = await Services.create(Settings(data_dir=tmp / "data", db_url=url, ami_url=lab.ami_url, log_json=False,
                                              bot_enabled=False, user_kdf_time_cost=1, user_kdf_memory_kib=1024,
                                              transfer_ring_s=5))
    await load_reference_data(services.db)
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    world = AmiClient(AmiConfig.from_url(lab.world_ami_url))
    world.start()
    times: dict[str, list[float]] = {"blind": [], "attended": []}
    try:
        await services.accounts.create_user("agent1024", "secret-pass-1", "agent", agent_no="1024")
        token = (await (await client.post("/api/auth/token", json={"username": "agent1024",
                                                                   "password": "secret-pass-1"})).json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        ami = client.server.app[PHONE]
        assert await ami.wait_ready(10) and await world.wait_ready(10)
        await ami.action({"Action": "QueuePause", "Queue": "hotline", "Interface": "PJSIP/1025", "Paused": "true"})
        for i in range(rounds):
            for mode in ("blind", "attended"):
                answered = Events(world, "AgentAnswered")
                caller = Caller(lab, world, f"bench-{mode}-{i}")
                await caller.dial("12345", caller_id="13800138000")
                await answered.wait(1, timeout=40)
                await asyncio.sleep(0.5)
                ringing = Events(world, "DeptRinging", Number=ANSWERS)
                clicked = time.monotonic()
                resp = await client.post("/api/calls/transfers", json={"mode": mode, "number": ANSWERS}, headers=headers)
                assert resp.status == 202, await resp.text()
                [ring] = await ringing.wait(1, timeout=10)
                times[mode].append(ring["_at"] - clicked)
                await asyncio.sleep(1.0)
                lab.hang_up_all()
                await asyncio.sleep(1.0)
    finally:
        world.close()
        await client.close()
        await services.close()
        lab.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    times = asyncio.run(run(args.rounds))
    load = os.getloadavg()
    print(f"transfer set-up, click -> ringing at the department (real Asterisk 22, {args.rounds} of each; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs)")
    for mode, values in times.items():
        values = sorted(values)
        print(f"  {mode:9s} median {statistics.median(values) * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms   "
              f"min {values[0] * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
