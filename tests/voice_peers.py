"""Test peers that stand in for Asterisk, which cannot be installed here. Each follows the published
protocol byte for byte, as Asterisk 22 was observed to behave (../shared/ASTERISK.md):

- AudioSocketCaller: Asterisk's AudioSocket() dialplan application (res/app_audiosocket.c,
  res/res_audiosocket.c): a UUID frame first, then 320-byte 0x10 slin frames every 20 ms, DTMF as one
  0x03 frame at the end of a key press with no audio while the key is sent, 0x00 to hang up; it hangs
  up after 2 s with no frame from the server, and treats any frame kind other than audio or hangup
  from the server as a failure.
- agi_request: a FastAGI client as res/res_agi.c (launch_netscript, setup_env) sends the 24 agi_*
  lines and a blank line, then answers commands as Asterisk does (200 result=..., 510 for unknown).
- AmiPeer: an Asterisk Manager Interface server (main/manager.c): banner, Login, Ping, Setvar,
  Getvar, Redirect, Originate (+ OriginateResponse), QueueStatus (EventList start ... QueueStatusComplete)
  and the Hangup / queue events; it can be restarted on the same port like a restarted Asterisk.
"""
from __future__ import annotations

import asyncio
import queue
import socket
import struct
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field

AUDIO_KINDS = set(range(0x10, 0x19))


# ---- AudioSocket ---------------------------------------------------------------------------------
@dataclass
class Received:
    at: float
    kind: int
    payload: bytes

    @property
    def voiced(self) -> bool:
        if self.kind not in AUDIO_KINDS or not self.payload:
            return False
        samples = struct.unpack(f"<{len(self.payload) // 2}h", self.payload)
        return max(abs(s) for s in samples) > 200


@dataclass
class AudioSocketCaller:
    """Runs in its own thread with a blocking socket, like Asterisk in its own process: its clock
    and its 2-second timeout do not depend on the gateway's event loop (the tests share a process
    with the gateway)."""
    host: str
    port: int
    call_uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    kind: int = 0x10
    frame_bytes: int = 320
    received: list[Received] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    timed_out: bool = False          # Asterisk's 2-second inactivity hang-up happened
    hung_up_by_server: bool = False
    closed: bool = False
    sent_voiced_until: float = 0.0   # when the last voiced frame went out
    speech_starts: list[float] = field(default_factory=list)  # when each stretch of speech began

    async def connect(self) -> "AudioSocketCaller":
        self._sock = socket.create_connection((self.host, self.port), timeout=5)
        self._sock.settimeout(2.0)  # Asterisk: "Reached timeout after 2000 ms of no activity"
        self._out: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._send_raw(bytes([0x01]) + struct.pack(">H", 16) + uuidlib.UUID(self.call_uuid).bytes)
        self._threads = [threading.Thread(target=self._send_loop, daemon=True),
                         threading.Thread(target=self._receive_loop, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def _send_raw(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    # what Asterisk sends: a frame every 20 ms, the caller's audio or line silence
    def _send_loop(self) -> None:
        next_at = time.monotonic()
        quiet = bytes(self.frame_bytes)
        try:
            while not self.closed:
                try:
                    item = self._out.get_nowait()
                except queue.Empty:
                    item = quiet
                if item == "hangup":
                    self._send_raw(b"\x00\x00\x00")
                    break
                if isinstance(item, tuple):  # a key press: no audio while the key is sent
                    time.sleep(item[1])
                    self._send_raw(bytes([0x03]) + struct.pack(">H", 1) + item[0].encode())
                    next_at = time.monotonic()
                    continue
                if item is not quiet and any(item):
                    if time.monotonic() - self.sent_voiced_until > 0.5:  # a new stretch of speech
                        self.speech_starts.append(time.monotonic())
                    self.sent_voiced_until = time.monotonic()
                self._send_raw(bytes([self.kind]) + struct.pack(">H", len(item)) + item)
                next_at += 0.02
                time.sleep(max(0.0, next_at - time.monotonic()))
        except OSError:
            self.closed = True

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _receive_loop(self) -> None:
        try:
            while True:
                try:
                    header = self._read_exactly(3)
                except socket.timeout:
                    self.timed_out = True
                    break
                kind, length = header[0], struct.unpack(">H", header[1:])[0]
                payload = self._read_exactly(length) if length else b""
                if kind == 0x00:
                    self.hung_up_by_server = True
                    break
                if kind not in AUDIO_KINDS:
                    self.protocol_errors.append(f"Received AudioSocket message other than hangup or audio: {kind:#x}")
                    break
                self.received.append(Received(time.monotonic(), kind, payload))
        except (OSError, ConnectionError):
            pass
        finally:
            self.closed = True
            try:
                self._sock.close()
            except OSError:
                pass

    def say(self, pcm: bytes) -> None:
        """Queue the caller's speech (8 kHz slin) to go out at real-time pace."""
        for i in range(0, len(pcm), self.frame_bytes):
            chunk = pcm[i:i + self.frame_bytes]
            self._out.put_nowait(chunk + bytes(self.frame_bytes - len(chunk)))

    def pause(self, seconds: float) -> None:
        self.say(bytes(int(seconds * 50) * self.frame_bytes))

    def press(self, keys: str, key_s: float = 0.1) -> None:
        for k in keys:
            self._out.put_nowait((k, key_s))

    def send_raw(self, data: bytes) -> None:
        self._send_raw(data)

    async def hang_up(self) -> None:
        if not self.closed:
            self._out.put_nowait("hangup")
            await asyncio.sleep(0.1)
        await self.close()

    async def close(self) -> None:
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    async def finished(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self._threads[1].is_alive():
            if time.monotonic() > end:
                raise asyncio.TimeoutError(f"call still up after {timeout} s")
            await asyncio.sleep(0.05)

    def first_voiced_after(self, t: float) -> float | None:
        return next((r.at for r in list(self.received) if r.at > t and r.voiced), None)

    def last_voiced(self) -> float | None:
        return next((r.at for r in reversed(list(self.received)) if r.voiced), None)

    async def wait_voiced_after(self, t: float, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            at = self.first_voiced_after(t)
            if at is not None:
                return at
            if self.closed:
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no reply audio within {timeout} s (closed={self.closed}, timed_out={self.timed_out})")

    def stopped_talking_after(self, t: float, quiet_s: float = 0.5) -> float | None:
        """When the gateway's audio went quiet (for `quiet_s`) after t: the end of a prompt."""
        voiced = [r.at for r in list(self.received) if r.at >= t - 0.02 and r.voiced]
        last = t
        for at in voiced:
            if at - last >= quiet_s:
                return last
            last = at
        return last if self.received and self.received[-1].at - last >= quiet_s else None

    def max_gap(self) -> float:
        times = [r.at for r in list(self.received)]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


# ---- FastAGI -------------------------------------------------------------------------------------
def agi_env(script: str, host: str, port: int, *, callerid: str = "5551234", uniqueid: str = "1764294123.12",
            args: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The agi_* lines Asterisk 22.10.1 sends, in its order (24 with two arguments)."""
    env = [("agi_network", "yes"), ("agi_network_script", script),
           ("agi_request", f"agi://{host}:{port}/{script}"), ("agi_channel", "PJSIP/self-00000001"),
           ("agi_language", "en"), ("agi_type", "PJSIP"), ("agi_uniqueid", uniqueid), ("agi_version", "22.10.1"),
           ("agi_callerid", callerid), ("agi_calleridname", "GW test"), ("agi_callingpres", "0"),
           ("agi_callingani2", "0"), ("agi_callington", "0"), ("agi_callingtns", "0"), ("agi_dnid", "12345"),
           ("agi_rdnis", "unknown"), ("agi_context", "hotline-inbound"), ("agi_extension", "12345"),
           ("agi_priority", "3"), ("agi_enhanced", "0.0"), ("agi_accountcode", ""),
           ("agi_threadid", "140105843025600")]
    env += [(f"agi_arg_{i}", a) for i, a in enumerate(args, 1)]
    return env


async def agi_request(host: str, port: int, script: str, **kw) -> dict:
    """Run one FastAGI request as Asterisk does; returns the channel variables the server set
    and the commands it sent."""
    reader, writer = await asyncio.open_connection(host, port)
    # res_agi.c writes "agi_%s: %s\n" for each, so an empty value leaves "name: " with its space
    block = "".join(f"{k}: {v}\n" for k, v in agi_env(script, host, port, **kw)) + "\n"
    writer.write(block.encode())
    variables: dict[str, str] = {}
    commands: list[str] = []
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            break
        text = line.decode().rstrip("\n")
        commands.append(text)
        words = text.split(" ", 3)
        verb = " ".join(words[:2]).upper()
        if verb == "SET VARIABLE" and len(words) == 4:
            variables[words[2]] = words[3].strip('"')
            reply = "200 result=1"
        elif verb == "GET VARIABLE" and len(words) >= 3:
            value = variables.get(words[2])
            reply = f"200 result=1 ({value})" if value is not None else "200 result=0"
        elif words[0].upper() == "VERBOSE":
            reply = "200 result=1"
        elif verb == "CHANNEL STATUS":
            reply = "200 result=6"
        elif words[0].upper() == "NOOP":
            reply = "200 result=0"
        else:
            reply = "510 Invalid or unknown command"
        writer.write((reply + "\n").encode())
    writer.close()
    return {"variables": variables, "commands": commands}


# ---- AMI -----------------------------------------------------------------------------------------
def _block(fields: list[tuple[str, str]]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode()


class AmiPeer:
    def __init__(self, username: str = "hotline", secret: str = "s3cret", *, members: list[dict] | None = None):
        self.username, self.secret = username, secret
        self.port = 0
        self.channels: dict[str, dict] = {"PJSIP/self-00000001": {}}
        self.members = members if members is not None else [
            {"Name": "PJSIP/1024", "Status": "1", "Paused": "0", "InCall": "0"}]
        self.actions: list[dict] = []
        self.logins = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.server = None

    async def start(self) -> "AmiPeer":
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Asterisk going down: the listener closes and every manager session is cut."""
        self.server.close()
        for w in list(self._writers):
            w.close()
        await self.server.wait_closed()

    async def _client(self, reader, writer) -> None:
        self._writers.add(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        authed = False
        try:
            while True:
                fields: list[tuple[str, str]] = []
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    line = line.decode().rstrip("\r\n")
                    if not line:
                        break
                    k, _, v = line.partition(":")
                    fields.append((k.strip(), v.strip()))
                if not fields:
                    continue
                action = {k.lower(): v for k, v in fields}
                self.actions.append(action)
                aid = [("ActionID", action["actionid"])] if "actionid" in action else []
                name = action.get("action", "").lower()
                if name == "login":
                    if action.get("username") == self.username and action.get("secret") == self.secret:
                        authed = True
                        self.logins += 1
                        writer.write(_block([("Response", "Success"), *aid, ("Message", "Authentication accepted")]))
                        writer.write(_block([("Event", "FullyBooted"), ("Privilege", "system,all"),
                                             ("Uptime", "5"), ("LastReload", "5"), ("Status", "Fully Booted")]))
                    else:
                        writer.write(_block([("Response", "Error"), *aid, ("Message", "Authentication failed")]))
                elif not authed:
                    writer.write(_block([("Response", "Error"), *aid, ("Message", "Permission denied")]))
                elif name == "ping":
                    writer.write(_block([("Response", "Success"), *aid, ("Ping", "Pong"),
                                         ("Timestamp", f"{time.time():.6f}")]))
                elif name == "setvar":
                    ch = self.channels.get(action.get("channel", ""))
                    if ch is None:
                        writer.write(_block([("Response", "Error"), *aid, ("Message", "No such channel")]))
                    else:
                        ch[action.get("variable", "")] = action.get("value", "")
                        writer.write(_block([("Response", "Success"), *aid, ("Message", "Variable Set")]))
                elif name == "redirect":
                    if action.get("channel") not in self.channels:
                        writer.write(_block([("Response", "Error"), *aid, ("Message", "Channel does not exist")]))
                    else:
                        writer.write(_block([("Response", "Success"), *aid, ("Message", "Redirect successful")]))
                elif name == "originate":
                    writer.write(_block([("Response", "Success"), *aid, ("Message", "Originate successfully queued")]))
                    await asyncio.sleep(0.05)
                    writer.write(_block([("Event", "OriginateResponse"), ("Privilege", "call,all"), *aid,
                                         ("Response", "Success"), ("Channel", action.get("channel", "")),
                                         ("Context", action.get("context", "")), ("Exten", action.get("exten", "")),
                                         ("Reason", "4"), ("Uniqueid", "1764294200.20"),
                                         ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]))
                elif name == "queuestatus":
                    queue = action.get("queue") or "hotline"
                    writer.write(_block([("Response", "Success"), *aid, ("EventList", "start"),
                                         ("Message", "Queue status will follow")]))
                    writer.write(_block([("Event", "QueueParams"), ("Queue", queue), ("Max", "0"),
                                         ("Strategy", "ringall"), ("Calls", "0"), ("Holdtime", "0"),
                                         ("TalkTime", "0"), ("Completed", "0"), ("Abandoned", "0"),
                                         ("ServiceLevel", "60"), ("ServicelevelPerf", "0.0"), ("Weight", "0"), *aid]))
                    for m in self.members:
                        writer.write(_block([("Event", "QueueMember"), ("Queue", queue), ("Name", m["Name"]),
                                             ("Location", m["Name"]), ("StateInterface", m["Name"]),
                                             ("Membership", "static"), ("Penalty", "0"), ("CallsTaken", "0"),
                                             ("LastCall", "0"), ("LastPause", "0"), ("InCall", m["InCall"]),
                                             ("Status", m["Status"]), ("Paused", m["Paused"]),
                                             ("PausedReason", ""), ("Wrapuptime", "0"), *aid]))
                    writer.write(_block([("Event", "QueueStatusComplete"), *aid, ("EventList", "Complete"),
                                         ("ListItems", str(1 + len(self.members)))]))
                else:
                    writer.write(_block([("Response", "Error"), *aid, ("Message", "Invalid/unknown command")]))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def emit(self, fields: list[tuple[str, str]]) -> None:
        for w in list(self._writers):
            w.write(_block(fields))
