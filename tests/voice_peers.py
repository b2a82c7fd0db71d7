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
  Getvar, Redirect (one channel, or two with ExtraChannel: "Dual Redirect successful"), Originate
  (Async: "Originate successfully queued", then an OriginateResponse event with the request's
  ActionID, Response Success/Failure and the Reason code; "Extension does not exist." when the
  context/extension is not in the dialplan, which it reads from deploy/asterisk/extensions.conf),
  CoreShowChannels (EventList start ... CoreShowChannelsComplete), QueueStatus (EventList start ...
  QueueStatusComplete) and the Hangup / queue events; it can be restarted on the same port like a
  restarted Asterisk.
"""
from __future__ import annotations

import asyncio
import queue
import re
import socket
import struct
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

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
    # a phone or trunk with silence suppression: nothing is sent while the caller is quiet
    silence_suppression: bool = False

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
                    if self.silence_suppression:
                        next_at += 0.02
                        time.sleep(max(0.0, next_at - time.monotonic()))
                        continue
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


SAMPLE_DIALPLAN = Path(__file__).resolve().parent.parent / "deploy" / "asterisk" / "extensions.conf"

# Originate's Reason is the last control frame read from the new channel (include/asterisk/frame.h):
# 0 the channel could not be created, 1 hung up, 3 rang without an answer (timeout), 4 answered,
# 5 busy, 8 congestion
ANSWERED, NO_ANSWER, BUSY, CONGESTION, HANGUP, NOT_CREATED = 4, 3, 5, 8, 1, 0


class Dialplan:
    """The contexts and extensions of an extensions.conf, to answer what Asterisk answers when
    asked for an extension: exact names, and `_` patterns (X Z N [..] . !) as pbx.c matches them;
    dashes are ignored, `include =>` is followed."""

    def __init__(self, text: str):
        self.contexts: dict[str, dict[str, dict[int, str]]] = {}
        self.includes: dict[str, list[str]] = {}
        context, last = None, None
        for raw in text.splitlines():
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                context = line[1:line.index("]")]
                self.contexts.setdefault(context, {})
                self.includes.setdefault(context, [])
                continue
            key, sep, value = line.partition("=>")
            if not sep:
                key, sep, value = line.partition("=")
            key, value = key.strip().lower(), value.strip()
            if context is None:
                continue
            if key == "include":
                self.includes[context].append(value)
            elif key in ("exten", "same"):
                if key == "exten":
                    name, priority, app = (value.split(",", 2) + ["", ""])[:3]
                    last = name.strip()
                else:
                    priority, app = (value.split(",", 1) + [""])[:2]
                    name = last
                steps = self.contexts[context].setdefault(name, {})
                priority = priority.split("(")[0].strip()
                number = 1 if priority == "1" else len(steps) + 1 if priority == "n" else int(priority)
                steps[number] = app.strip()

    @classmethod
    def sample(cls) -> "Dialplan":
        return cls(SAMPLE_DIALPLAN.read_text())

    @staticmethod
    def _matches(pattern: str, exten: str) -> bool:
        # dashes are decoration, except in a [a-b] range
        pattern, exten = re.sub(r"-(?![^\[]*\])", "", pattern), exten.replace("-", "")
        if not pattern.startswith("_"):
            return pattern == exten
        regex, i, body = "", 0, pattern[1:]
        while i < len(body):
            c = body[i]
            if c in "Xx":
                regex += "[0-9]"
            elif c in "Zz":
                regex += "[1-9]"
            elif c in "Nn":
                regex += "[2-9]"
            elif c == "[":
                j = body.index("]", i)
                regex += "[" + body[i + 1:j] + "]"
                i = j
            elif c == ".":
                regex += ".+"
            elif c == "!":
                regex += ".*"
            else:
                regex += re.escape(c)
            i += 1
        return re.fullmatch(regex, exten) is not None

    def application(self, context: str, exten: str, priority: int = 1, _seen=None) -> str | None:
        """The application at context,exten,priority, or None where Asterisk has no such extension."""
        seen = _seen or set()
        if context in seen or context not in self.contexts:
            return None
        seen.add(context)
        for name, steps in self.contexts[context].items():
            if self._matches(name, exten) and priority in steps:
                return steps[priority]
        for inc in self.includes.get(context, []):
            found = self.application(inc, exten, priority, seen)
            if found is not None:
                return found
        return None

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        return self.application(context, exten, priority) is not None


class AmiPeer:
    def __init__(self, username: str = "hotline", secret: str = "s3cret", *, members: list[dict] | None = None,
                 dialplan: Dialplan | None = None):
        self.username, self.secret = username, secret
        self.port = 0
        self.channels: dict[str, dict] = {"PJSIP/self-00000001": {}}  # live channels and their variables
        # what CoreShowChannels reports for each live channel (main/manager.c, action_coreshowchannels)
        self.shown: dict[str, dict] = {}
        self.members = members if members is not None else [
            {"Name": "PJSIP/1024", "Status": "1", "Paused": "0", "InCall": "0"}]
        self.dialplan = dialplan or Dialplan.sample()
        # how each originated call ends, by the dialled number or channel: a list of Reason codes taken
        # in turn (the last one stays); anything not listed is answered
        self.outcomes: dict[str, list[int]] = {}
        self.ring_s = 0.05
        self.actions: list[dict] = []
        self.logins = 0
        self._seq = 0x20
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

    # ---- the channels Asterisk would have ---------------------------------------------------------
    def _next_id(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq}"

    def add_channel(self, name: str, *, uniqueid: str | None = None, linkedid: str | None = None,
                    caller: str = "", connected: str = "", context: str = "", exten: str = "s",
                    bridge: str = "", application: str = "", data: str = "") -> dict:
        uniqueid = uniqueid or self._next_id()
        self.channels.setdefault(name, {})
        self.shown[name] = {
            "Channel": name, "ChannelState": "6", "ChannelStateDesc": "Up",
            "CallerIDNum": caller or "<unknown>", "CallerIDName": "<unknown>",
            "ConnectedLineNum": connected or "<unknown>", "ConnectedLineName": "<unknown>",
            "Language": "en", "AccountCode": "", "Context": context, "Exten": exten, "Priority": "1",
            "Uniqueid": uniqueid, "Linkedid": linkedid or uniqueid, "BridgeId": bridge,
            "Application": application, "ApplicationData": data, "Duration": "00:00:12"}
        return self.shown[name]

    def add_bridged_call(self, agent_no: str, number: str, *, context: str = "hotline-desk-dial") -> tuple[str, str]:
        """An answered desk call as Asterisk holds it: the agent's channel (first, so its uniqueid is the
        call's linkedid) running Dial() in `context`, and the dialled party's channel, both in one bridge."""
        self._seq += 1
        agent = f"PJSIP/{agent_no}-{self._seq:08x}"
        other = f"PJSIP/trunk-{self._seq + 1:08x}"
        bridge = str(uuidlib.uuid4())
        first = self.add_channel(agent, caller=agent_no, connected=number, context=context, exten=number,
                                 bridge=bridge, application="Dial", data=f"PJSIP/{number}@trunk,60")
        self.add_channel(other, linkedid=first["Linkedid"], caller=number, connected=agent_no, context=context,
                         exten=number, bridge=bridge, application="AppDial", data="(Outgoing Line)")
        self._seq += 1
        return agent, other

    def hang_up(self, name: str) -> None:
        self.channels.pop(name, None)
        self.shown.pop(name, None)

    def _outcome(self, channel: str) -> int:
        tech, _, data = channel.partition("/")
        number = re.split(r"[@/]", data)[0]
        for key in (channel, number):
            if key in self.outcomes:
                codes = self.outcomes[key]
                return codes.pop(0) if len(codes) > 1 else codes[0]
        return ANSWERED

    def _goto(self, name: str, context: str, exten: str, priority: str) -> None:
        """A redirected channel leaves its bridge and runs the dialplan at the new place."""
        shown = self.shown.get(name)
        if shown is not None:
            app = self.dialplan.application(context, exten, int(priority) if priority.isdigit() else 1) or ""
            app_name, _, app_data = app.partition("(")
            # the application runs with its arguments substituted from the channel's variables
            app_data = re.sub(r"\$\{(\w+)\}", lambda m: self.channels.get(name, {}).get(m.group(1), ""),
                              app_data[:-1] if app_data.endswith(")") else app_data)
            # ConfBridge puts the channel into the conference's bridge (one per conference name)
            bridge = str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, app_data.split(",")[0])) if app_name == "ConfBridge" else ""
            shown.update(Context=context, Exten=exten, Priority=priority, BridgeId=bridge,
                         Application=app_name, ApplicationData=app_data)

    # ---- the manager session ----------------------------------------------------------------------
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
                # a header given more than once (Variable) is kept whole, as astman_get_variables reads it
                action["variables"] = [v for k, v in fields if k.lower() == "variable"]
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
                    response, message = self._redirect(action)
                    writer.write(_block([("Response", response), *aid, ("Message", message)]))
                elif name == "originate":
                    await self._originate(action, aid, writer)
                elif name == "coreshowchannels":
                    writer.write(_block([("Response", "Success"), *aid, ("EventList", "start"),
                                         ("Message", "Channels will follow")]))
                    for shown in list(self.shown.values()):
                        writer.write(_block([("Event", "CoreShowChannel"), *aid, *shown.items()]))
                    writer.write(_block([("Event", "CoreShowChannelsComplete"), *aid, ("EventList", "Complete"),
                                         ("ListItems", str(len(self.shown)))]))
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

    def _redirect(self, a: dict) -> tuple[str, str]:
        """manager.c action_redirect: the same checks in the same order, the same messages."""
        name, name2 = a.get("channel", ""), a.get("extrachannel", "")
        context, exten, priority = a.get("context", ""), a.get("exten", ""), a.get("priority", "")
        context2, exten2, priority2 = a.get("extracontext", ""), a.get("extraexten", ""), a.get("extrapriority", "")
        checks = [(not name, "Channel not specified"), (not context, "Context not specified"),
                  (not exten, "Exten not specified"), (not priority, "Priority not specified"),
                  (not priority.isdigit() or int(priority) < 1, "Priority is invalid")]
        if name2 and context2:
            checks += [(not exten2, "ExtraExten not specified"), (not priority2, "ExtraPriority not specified"),
                       (not priority2.isdigit() or int(priority2) < 1, "ExtraPriority is invalid")]
        checks.append((name not in self.channels, f"Channel does not exist: {name}"))
        for failed, message in checks:
            if failed:
                return "Error", message
        if not name2:
            self._goto(name, context, exten, priority)
            return "Success", "Redirect successful"
        if name2 not in self.channels:
            return "Error", f"ExtraChannel does not exist: {name2}"
        self._goto(name, context, exten, priority)
        if context2:
            self._goto(name2, context2, exten2, priority2)
        else:
            self._goto(name2, context, exten, priority)
        return "Success", "Dual Redirect successful"

    async def _originate(self, a: dict, aid: list, writer) -> None:
        """manager.c action_originate + fast_originate: checks, then (Async) the ack at once and the
        OriginateResponse when the new channel answers or fails; without Async, the reply waits."""
        channel, context, exten = a.get("channel", ""), a.get("context", ""), a.get("exten", "")
        priority = a.get("priority", "")
        error = None
        if not channel:
            error = "Channel not specified"
        elif priority and not priority.isdigit():
            error = "Invalid priority"
        elif "/" not in channel:
            error = "Invalid channel"
        elif exten and context and priority and not self.dialplan.exists(context, exten, int(priority)):
            error = "Extension does not exist."
        elif not a.get("application") and not (exten and context and priority):
            error = "Originate with 'Exten' requires 'Context' and 'Priority'"
        if error:
            writer.write(_block([("Response", "Error"), *aid, ("Message", error)]))
            return
        is_async = a.get("async", "").lower() in ("1", "true", "yes", "y", "t", "on")
        if is_async:
            writer.write(_block([("Response", "Success"), *aid, ("Message", "Originate successfully queued")]))
            await writer.drain()
        await asyncio.sleep(self.ring_s)  # it rings
        reason = self._outcome(channel)
        answered = reason == ANSWERED
        if answered:
            self._seq += 1
            tech_data = channel.split("@")[0] if channel.startswith("PJSIP/") else channel
            name = f"{channel}-{self._seq:08x};1" if channel.startswith("Local/") else f"{tech_data}-{self._seq:08x}"
            shown = self.add_channel(name, uniqueid=a.get("channelid") or None, context=context, exten=exten,
                                     caller=a.get("callerid", ""))
            self.channels[name].update(v.split("=", 1) for v in a["variables"] if "=" in v)
            uniqueid = shown["Uniqueid"]
        else:
            name, uniqueid = channel, a.get("channelid") or "<null>"
        if not is_async:
            writer.write(_block([("Response", "Success"), *aid, ("Message", "Originate successfully queued")])
                         if answered else _block([("Response", "Error"), *aid, ("Message", "Originate failed")]))
            return
        cid = a.get("callerid", "")
        cid_num = cid[cid.find("<") + 1:cid.find(">")] if "<" in cid else cid
        if answered:  # the answered channel runs the dialplan: a Dial() there rings the next party
            dials = [app for p, app in sorted(self._steps(context, exten).items()) if app.startswith("Dial(")]
            if dials:
                asyncio.get_running_loop().call_later(self.ring_s, self._dial, name, exten)
        cid_name = cid.split("<")[0].strip().strip('"') if "<" in cid else ""
        writer.write(_block([("Event", "OriginateResponse"), ("Privilege", "call,all"), *aid,
                             ("Response", "Success" if answered else "Failure"), ("Channel", name),
                             ("Context", context), ("Exten", exten), ("Application", a.get("application", "")),
                             ("Data", a.get("data", "")), ("Reason", str(reason)), ("Uniqueid", uniqueid),
                             ("CallerIDNum", cid_num or "<unknown>"), ("CallerIDName", cid_name or "<unknown>")]))

    def _steps(self, context: str, exten: str) -> dict[int, str]:
        for name, steps in self.dialplan.contexts.get(context, {}).items():
            if self.dialplan._matches(name, exten):
                return steps
        return {}

    def _dial(self, caller: str, number: str) -> None:
        """app_dial on `caller`: DialBegin, then DialEnd with the DialStatus the outcome says; answered,
        both channels are bridged (stasis bridging events are left out)."""
        shown = self.shown.get(caller)
        if shown is None:
            return
        reason = self._outcome(number)
        status = {ANSWERED: "ANSWER", BUSY: "BUSY", NO_ANSWER: "NOANSWER", CONGESTION: "CONGESTION",
                  HANGUP: "CANCEL"}.get(reason, "CHANUNAVAIL")
        self._seq += 1
        dest = f"PJSIP/trunk-{self._seq:08x}"
        dest_fields = {"Channel": dest, "ChannelState": "5", "ChannelStateDesc": "Ringing", "CallerIDNum": number,
                       "CallerIDName": "<unknown>", "ConnectedLineNum": shown["CallerIDNum"],
                       "ConnectedLineName": "<unknown>", "Language": "en", "AccountCode": "",
                       "Context": shown["Context"], "Exten": number, "Priority": "1",
                       "Uniqueid": self._next_id(), "Linkedid": shown["Linkedid"]}
        caller_fields = [(k, shown[k]) for k in ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
                                                 "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
                                                 "Language", "AccountCode", "Context", "Exten", "Priority",
                                                 "Uniqueid", "Linkedid")]
        dest_list = [("Dest" + k, v) for k, v in dest_fields.items()]
        self.emit([("Event", "DialBegin"), ("Privilege", "call,all"), *caller_fields, *dest_list,
                   ("DialString", f"{number}@trunk")])
        self.emit([("Event", "DialEnd"), ("Privilege", "call,all"), *caller_fields, *dest_list,
                   ("DialStatus", status)])
        if status == "ANSWER":
            bridge = str(uuidlib.uuid4())
            shown.update(BridgeId=bridge, Application="Dial", ApplicationData=f"PJSIP/{number}@trunk,60")
            self.add_channel(dest, uniqueid=dest_fields["Uniqueid"], linkedid=shown["Linkedid"], caller=number,
                             connected=shown["CallerIDNum"], context=shown["Context"], exten=number, bridge=bridge,
                             application="AppDial", data="(Outgoing Line)")
        else:
            self.hang_up(caller)  # the dialplan's Hangup() after a failed Dial

    def emit(self, fields: list[tuple[str, str]]) -> None:
        for w in list(self._writers):
            w.write(_block(fields))
