"""The telephony readers fuzzed (hypothesis): AudioSocket frames, FastAGI requests and AMI blocks that
are malformed, truncated, oversize or sent slowly end in a refusal or a clean close: never an
exception escaping to the event loop, never a task left waiting for ever."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.voice import agi as agi_module
from channels.voice import audiosocket as aso
from channels.voice.ami import AmiClient, AmiConfig
from channels.voice.calls import CallRegistry

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def run(scenario):
    """Run a scenario on a fresh loop; any exception the loop's handler receives is a failure."""
    async def main():
        problems: list = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))
        await scenario()
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        return problems, left

    # asyncio's own loop, as every other test gets (tests/conftest.py): an earlier import may have
    # installed uvloop's policy, under which panoramisk handles a stream cut mid-block differently
    loop = asyncio.DefaultEventLoopPolicy().new_event_loop()
    try:
        problems, left = loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    assert not problems, problems
    assert not left, left


# ---- AudioSocket ---------------------------------------------------------------------------------------
frame_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda kind, payload: aso.HEADER.pack(kind, len(payload)) + payload,
              st.integers(0, 255), st.binary(max_size=400)),
    st.builds(lambda kind, length, payload: aso.HEADER.pack(kind, length) + payload,  # a length that lies
              st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=64)),
)


@FUZZ
@given(st.lists(frame_bytes, max_size=6), st.integers(1, 64))
def test_audiosocket_reader_refuses_or_ends(parts, chunk):
    data = b"".join(parts)

    async def scenario():
        reader = asyncio.StreamReader()
        for i in range(0, len(data), chunk):  # however the bytes arrive
            reader.feed_data(data[i:i + chunk])
        reader.feed_eof()
        for _ in range(len(data) + 1):
            try:
                frame = await asyncio.wait_for(aso.read_frame(reader), 5)
            except aso.ProtocolError:
                return
            if frame is None:
                return
            assert len(frame.payload) <= aso.MAX_PAYLOAD
        pytest.fail("more frames than bytes")

    run(scenario)


def test_audiosocket_oversize_frame_is_refused_before_it_is_read():
    async def scenario():
        reader = asyncio.StreamReader()
        reader.feed_data(aso.HEADER.pack(aso.Kind.AUDIO, aso.MAX_PAYLOAD + 2))  # and nothing else comes
        with pytest.raises(aso.ProtocolError, match="announces"):
            await asyncio.wait_for(aso.read_frame(reader), 5)

    run(scenario)


# ---- FastAGI -------------------------------------------------------------------------------------------
header_line = st.one_of(
    st.sampled_from(["agi_network_script: hotline", "agi_network_script: hotline/next?uuid=x",
                     "agi_network_script: /hotline?direction=outbound&poll=1", "agi_callerid: 13800138000",
                     "agi_channel: PJSIP/1-0001", "agi_uniqueid: 1.1", "agi_arg_1:", "agi_network_script: nope"]),
    st.text(max_size=80).filter(lambda s: "\n" not in s),
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"").decode("latin-1")),
)
agi_answer = st.one_of(st.just(""), st.sampled_from(["200 result=1\n", "510 Invalid or unknown command\n",
                                                    "200 result=\n", "520-Invalid\n", "HANGUP\n"]),
                       st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


@pytest.fixture
def quick_agi(monkeypatch):
    monkeypatch.setattr(agi_module, "HEADER_TIMEOUT_S", 0.3)


@FUZZ
@given(lines=st.lists(header_line, max_size=12), end=st.sampled_from(["\n\n", "\n", ""]), answer=agi_answer,
       oversize=st.booleans())
def test_agi_requests_are_answered_or_closed(quick_agi, lines, end, answer, oversize):
    block = "\n".join(lines) + end
    if oversize:
        block = "agi_x: " + "y" * (agi_module.MAX_HEADER_BYTES + 10) + "\n" + block

    async def scenario():
        server = await agi_module.start_agi_server(CallRegistry(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(block.encode("utf-8", "surrogateescape"))
            if answer:
                writer.write(answer.encode("latin-1"))
            await writer.drain()
            writer.write_eof()  # the peer has nothing more to say: the server must end the request
            await asyncio.wait_for(reader.read(), 10)  # until the server closes
        except ConnectionError:
            pass  # the server may close before all of it is sent
        finally:
            writer.close()
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0.05)

    run(scenario)


def test_agi_peer_that_never_finishes_its_header_is_dropped(quick_agi):
    async def scenario():
        server = await agi_module.start_agi_server(CallRegistry(), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"agi_network_script: hotline\nagi_chan")  # and then silence, connection open
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        writer.close()
        server.close()
        await server.wait_closed()

    run(scenario)


# ---- AMI -----------------------------------------------------------------------------------------------
ami_block = st.one_of(
    st.sampled_from(["Response: Success\r\nMessage: Authentication accepted\r\n\r\n",
                     "Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n",
                     "Event: OriginateResponse\r\nReason: 4\r\nUniqueid: 1.2\r\n\r\n",
                     "Response: Error\r\nMessage: Authentication failed\r\n\r\n"]),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@FUZZ
@given(st.lists(ami_block, max_size=6), st.booleans())
def test_ami_client_survives_what_the_manager_port_sends(blocks, banner):
    async def scenario():
        async def fake_asterisk(reader, writer):
            if banner:
                writer.write(b"Asterisk Call Manager/9.0.0\r\n")
            for block in blocks:
                writer.write(block.encode("utf-8", "surrogateescape"))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()

        server = await asyncio.start_server(fake_asterisk, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = AmiClient(AmiConfig("127.0.0.1", port, "hotline", "s3cret"), reconnect_s=60, ping_s=60)
        client.start()
        await asyncio.sleep(0.2)
        client.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)
        for task in asyncio.all_tasks():  # panoramisk's own timers end with the client
            if task is not asyncio.current_task():
                task.cancel()

    run(scenario)


def test_ami_secret_is_never_logged(caplog):
    """Not even at debug level, where panoramisk writes each action it sends (the Login included)."""
    caplog.set_level("DEBUG")
    sent = []

    async def scenario():
        async def fake_asterisk(reader, writer):
            writer.write(b"Asterisk Call Manager/9.0.0\r\n")
            sent.append(await reader.readuntil(b"\r\n\r\n"))  # the Login action
            writer.write(b"Response: Error\r\nMessage: Authentication failed\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(fake_asterisk, "127.0.0.1", 0)
        client = AmiClient(AmiConfig("127.0.0.1", server.sockets[0].getsockname()[1], "hotline", "Sup3r-s3cret"),
                           reconnect_s=60, ping_s=60)
        client.start()
        await asyncio.sleep(0.3)
        client.close()
        server.close()
        await server.wait_closed()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    run(scenario)
    assert b"Sup3r-s3cret" in sent[0] and "Authentication failed" in caplog.text  # the exchange happened
    assert "Sup3r-s3cret" not in caplog.text
