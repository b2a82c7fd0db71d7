"""The voice channel's protocols against peers that behave as Asterisk 22 does (tests/voice_peers.py):
AudioSocket frames, FastAGI requests and the AMI connection with its reconnect."""
import asyncio
import uuid

import pytest

from channels.voice import audiosocket as aso
from channels.voice.agi import start_agi_server
from channels.voice.ami import AmiClient, AmiConfig, AmiError
from channels.voice.calls import CallRegistry

from voice_peers import AmiPeer, agi_request


def reader_of(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


async def test_frames_round_trip_as_res_audiosocket_defines_them():
    call = str(uuid.uuid4())
    pcm = bytes(range(256)) + bytes(64)
    data = aso.uuid_frame(call) + aso.dtmf_frame("#") + aso.audio_frame(pcm) + aso.audio_frame(bytes(640), 16000) \
        + aso.hangup_frame()
    assert data[:3] == b"\x01\x00\x10" and aso.audio_frame(pcm)[:3] == b"\x10\x01\x40"
    r = reader_of(data)
    first = await aso.read_frame(r)
    assert first.kind == aso.Kind.UUID and first.uuid == call
    key = await aso.read_frame(r)
    assert key.kind == aso.Kind.DTMF and key.digit == "#"
    audio = await aso.read_frame(r)
    assert audio.is_audio and audio.rate == 8000 and audio.payload == pcm
    wide = await aso.read_frame(r)
    assert wide.kind == 0x12 and wide.rate == 16000 and len(wide.payload) == 640
    assert (await aso.read_frame(r)).kind == aso.Kind.HANGUP
    assert await aso.read_frame(r) is None  # clean end of stream


@pytest.mark.parametrize("data, reason", [
    (b"\x42\x00\x00", "unknown frame kind 0x42"),
    (b"\x01\x00\x04abcd", "UUID frame of 4 bytes"),
    (b"\x03\x00\x01x", "DTMF frame"),
    (b"\x03\x00\x02" + b"12", "DTMF frame"),
    (b"\x10\x01\x41" + bytes(321), "odd length"),
    (b"\x00\x00\x01\x00", "hangup frame with a 1-byte payload"),
    (b"\x10\x01\x40" + bytes(100), "inside a frame (100 of 320 bytes)"),
    (b"\x10\x01", "inside a frame header"),
    (b"\x10\xff\xff", "announces 65535 bytes"),
])
async def test_malformed_frames_are_refused_with_a_reason(data, reason):
    with pytest.raises(aso.ProtocolError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        await aso.read_frame(reader_of(data))


def test_payload_too_long_for_a_frame_is_refused():
    with pytest.raises(ValueError):
        aso.encode(aso.Kind.AUDIO, bytes(70000))


async def test_fastagi_announces_the_call_and_tells_the_dialplan_what_comes_next():
    calls = CallRegistry()
    server = await start_agi_server(calls, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        got = await agi_request("127.0.0.1", port, "hotline", callerid="13800138000", args=("arg1", "arg two"))
        call_uuid = got["variables"]["HOTLINE_UUID"]
        assert str(uuid.UUID(call_uuid)) == call_uuid
        info = calls.get(call_uuid)
        assert info.announced and info.caller == "13800138000" and info.channel == "PJSIP/self-00000001"
        # nothing decided yet (the caller hung up in the audio part): the dialplan hangs up
        info.next, info.queue = "queue", "hotline"
        got = await agi_request("127.0.0.1", port, f"hotline/next?uuid={call_uuid}")
        assert got["variables"] == {"HOTLINE_NEXT": "queue", "HOTLINE_QUEUE": "hotline"}
        assert info.phase == "survey"  # back from the queue, the same call gets the survey
        got = await agi_request("127.0.0.1", port, "hotline/next", args=(str(uuid.uuid4()),))
        assert got["variables"] == {"HOTLINE_NEXT": "hangup"}
        # an outbound call says so in its query
        got = await agi_request("127.0.0.1", port, "hotline?direction=outbound&purpose=poll", callerid="unknown")
        info = calls.get(got["variables"]["HOTLINE_UUID"])
        assert info.direction == "outbound" and info.purpose == "poll" and info.caller == ""
    finally:
        server.close()
        await server.wait_closed()


async def test_fastagi_survives_broken_requests():
    calls = CallRegistry()
    server = await start_agi_server(calls, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # a peer that closes in the middle of the header block, and one for an unknown script
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"agi_network: yes\nagi_network_script: hot")
        w.close()
        got = await agi_request("127.0.0.1", port, "nosuchscript")
        assert got == {"variables": {}, "commands": []}
        assert len(calls) == 0
        got = await agi_request("127.0.0.1", port, "hotline")  # the server still works
        assert "HOTLINE_UUID" in got["variables"]
    finally:
        server.close()
        await server.wait_closed()


async def test_ami_actions_queue_status_and_reconnect_after_asterisk_restarts():
    peer = await AmiPeer(members=[{"Name": "PJSIP/1024", "Status": "1", "Paused": "0", "InCall": "1"},
                                  {"Name": "PJSIP/1025", "Status": "1", "Paused": "0", "InCall": "0"}]).start()
    client = AmiClient(AmiConfig.from_url(f"ami://hotline:s3cret@127.0.0.1:{peer.port}"), reconnect_s=1)
    client.start()
    try:
        assert await client.wait_ready(5)
        assert await client.free_agents("hotline") == 1
        peer.members[1]["InCall"] = "1"
        assert await client.free_agents("hotline") == 0
        await client.setvar("PJSIP/self-00000001", "HOTLINE_NEXT", "queue")
        assert peer.channels["PJSIP/self-00000001"]["HOTLINE_NEXT"] == "queue"
        with pytest.raises(AmiError, match="No such channel"):
            await client.setvar("PJSIP/gone-0000", "X", "1")
        await client.redirect("PJSIP/self-00000001", "hotline-after")
        with pytest.raises(AmiError, match="Channel does not exist"):
            await client.redirect("PJSIP/gone-0000", "hotline-after")
        answered = await client.originate("PJSIP/13800138000@trunk", "hotline-outbound",
                                          variables={"HOTLINE_PURPOSE": "poll"})
        assert answered["Reason"] == "4"
        sent = peer.actions[-1]
        assert sent["action"] == "Originate" and sent["context"] == "hotline-outbound"
        # Asterisk restarts: the client logs in again by itself
        port = peer.port
        await peer.stop()
        await asyncio.sleep(0.3)
        assert not client.logged_in.is_set()
        peer.port = port
        await peer.start()
        for _ in range(100):
            if client.logins >= 2:
                break
            await asyncio.sleep(0.1)
        assert client.logins == 2 and peer.logins == 2  # one login to each Asterisk
        peer.members[0]["InCall"] = "0"
        assert await client.free_agents("hotline") == 1
    finally:
        client.close()
        await peer.stop()


async def test_ami_wrong_secret_and_bad_url_are_clear_errors():
    with pytest.raises(ValueError, match="ami://user:secret@host:port"):
        AmiConfig.from_url("http://127.0.0.1:5038")
    peer = await AmiPeer().start()
    client = AmiClient(AmiConfig.from_url(f"ami://hotline:wrong@127.0.0.1:{peer.port}"))
    client.start()
    try:
        assert not await client.wait_ready(1.0)
        with pytest.raises(AmiError, match="not connected"):
            await client.action({"Action": "Ping"}, timeout=0.5)
    finally:
        client.close()
        await peer.stop()


async def test_ami_events_reach_the_gateway():
    peer = await AmiPeer().start()
    client = AmiClient(AmiConfig.from_url(f"ami://hotline:s3cret@127.0.0.1:{peer.port}"))
    seen = []
    client.listeners.append(seen.append)
    client.start()
    try:
        assert await client.wait_ready(5)
        peer.emit([("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), ("Channel", "PJSIP/self-00000001"),
                   ("Queue", "hotline"), ("Position", "1"), ("Count", "1")])
        peer.emit([("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", "PJSIP/self-00000001"),
                   ("Uniqueid", "1764294123.12"), ("Cause", "16"), ("Cause-txt", "Normal Clearing")])
        for _ in range(50):
            if len([e for e in seen if e.get("Event") in ("QueueCallerJoin", "Hangup")]) == 2:
                break
            await asyncio.sleep(0.05)
        events = {e["Event"]: e for e in seen}
        assert events["Hangup"]["Cause"] == "16" and events["QueueCallerJoin"]["Queue"] == "hotline"
    finally:
        client.close()
        await peer.stop()


def test_the_telephony_allow_list_takes_addresses_and_networks_and_refuses_the_rest():
    from channels.voice.peers import PeerFilter

    default = PeerFilter.for_settings("", ami_host="127.0.0.9")
    assert default.allows(("127.0.0.1", 5000)) and not default.allows(("10.0.0.5", 5000))
    listed = PeerFilter.for_settings("10.0.0.5, 192.168.7.0/24")
    assert listed.allows(("10.0.0.5", 1)) and listed.allows(("192.168.7.200", 1))
    assert not listed.allows(("127.0.0.1", 1)) and not listed.allows(("10.0.0.6", 1))
    assert listed.allows(("::ffff:10.0.0.5", 1, 0, 0))  # an IPv4 peer on a dual-stack socket
    with pytest.raises(ValueError, match="voice_allow"):
        PeerFilter.for_settings("asterisk.example, 10.0.0.1")


async def test_a_telephony_connection_from_an_address_not_allowed_is_closed_unread():
    from channels.voice import VoiceChannel
    from channels.voice.peers import PeerFilter

    channel = VoiceChannel(None, None, agi_port=0, audiosocket_port=0, peers=PeerFilter(["10.0.0.0/8"]))
    assert channel.host == "127.0.0.1"  # the default: loopback only
    await channel.start()
    try:
        for port in (channel.agi_port, channel.audiosocket_port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"agi_network: yes\n\n")
            try:  # closed with what was sent unread: an end of stream or a reset, never an answer
                assert await asyncio.wait_for(reader.read(100), 5) == b""
            except ConnectionResetError:
                pass
            writer.close()
        assert not channel.sessions
    finally:
        await channel.close()
