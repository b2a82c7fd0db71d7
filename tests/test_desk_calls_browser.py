"""The desk's telephony in a real browser (Debian's headless Chromium) against the AMI peer: an agent on
a call clicks 接入三方通话 on the case page, the page says the duty phone is being called and the
outcome pops up over the desk's WebSocket; the call's MixMonitor recording plays in the page's
<audio> element (Chromium fetches it with Range requests)."""
from __future__ import annotations

import io
import math
import struct
import wave

import pytest
from aiohttp.test_utils import TestServer

from cases.store import Actor
from channels.voice.recordings import relative_path
from desk_support import make_users, new_case
from hotline.web import create_app
from test_browser import browser  # noqa: F401  (the shared headless Chromium fixture)
from test_desk_browser import sign_in
from voice_peers import AmiPeer

pytestmark = [pytest.mark.browser]


def tone_wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


async def test_three_way_button_and_recording_player(services_factory, sqlite_url, browser, tmp_path):  # noqa: F811
    peer = await AmiPeer().start()
    root = tmp_path / "monitor"
    services = await services_factory(sqlite_url, ami_url=f"ami://hotline:s3cret@127.0.0.1:{peer.port}",
                                      recordings_dir=str(root))
    users = await make_users(services)
    case = await new_case(services, phone="13812345678")
    await services.store.apply(case.number, "dispatch", Actor.for_user(users["agent1"]), department_code="zjj")
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        ctx = await browser.new_context(locale="zh-CN", bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, base, "agent1")
        agent_ch, _ = peer.add_bridged_call("1024", "13812345678")
        peer.ring_s = 3.0  # the duty phone rings a while: the answer comes after the page is back
        linkedid = peer.shown[agent_ch]["Linkedid"]
        wav = root / relative_path(linkedid)
        wav.parent.mkdir(parents=True)
        wav.write_bytes(tone_wav())
        await page.goto(f"{base}/desk/cases/{case.number}")
        await page.wait_for_function("document.body.dataset.live === '1'")  # the desk socket is open
        await page.click("#do-threeway")
        await page.wait_for_selector("text=正在呼叫市住房和城乡建设局值班电话")
        toast = page.locator("#desk-toast")
        await toast.wait_for(state="visible", timeout=10000)
        assert "值班电话已接入" in await toast.inner_text()
        # the three-way call named the call: its recording is on the page and plays
        await page.goto(f"{base}/desk/cases/{case.number}")
        audio = page.locator("#call-recordings audio")
        assert await audio.count() == 1
        duration = await audio.evaluate("""a => new Promise((ok, fail) => {
            a.addEventListener('loadedmetadata', () => ok(a.duration));
            a.addEventListener('error', () => fail(String(a.error && a.error.code)));
            a.preload = 'metadata'; a.load(); })""")
        assert abs(duration - 2.0) < 0.1
        assert errors == []
        await ctx.close()
    finally:
        await server.close()
        await peer.stop()
