"""Real Asterisk 22 instances for the tests (the tier in tests/test_asterisk_*.py).

`../shared/asterisk/build.sh` builds Asterisk once per machine into a cache folder (keyed by the
tarballs) and prints the path of sbin/asterisk; each instance here then runs from its own
generated asterisk.conf in a short temporary folder, on loopback addresses, as `asterisk -C <conf> -f`:

- the hotline's PBX: the project's own deploy/asterisk/*.conf, installed the way the README tells a
  deployer (copied, then GATEWAY, the ports, REC_DIR, the secrets and the trunk's address set), on
  127.0.0.1;
- the outside world: a carrier on 127.0.0.2 (a SIP trunk that sends A-law and RFC 4733 keys; the
  callers are its channels, driven over its AMI: Originate, PlayDTMF, Redirect to play audio,
  Hangup; each records what it hears with MixMonitor) and the agents' phones on 127.0.0.3
  (registered to the PBX as 1024 and 1025; they answer and talk).

Without the build the tier is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "asterisk"
BUILD_SH = Path(os.environ.get("HOTLINE_ASTERISK_SRC", ROOT.parent / "shared" / "asterisk")) / "build.sh"
CACHE = Path(os.environ.get("HOTLINE_ASTERISK_PREFIX", Path.home() / ".cache" / "hotline-asterisk" / "22.10.1"))

PBX_IP, CARRIER_IP, PHONES_IP = "127.0.0.1", "127.0.0.2", "127.0.0.3"
AMI_USER, AMI_SECRET = "hotline", "test-ami-secret"
WORLD_AMI_SECRET = "world-secret"
AGENTS = {"1024": "agent-1024-pw", "1025": "agent-1025-pw"}


def asterisk_binary() -> Path:
    """sbin/asterisk, built (or reused) by build.sh; skips, or fails under CI=true, without it."""
    ci = os.environ.get("CI", "").lower() == "true"
    if not BUILD_SH.exists():
        msg = f"no Asterisk sources at {BUILD_SH.parent}"
        pytest.fail(msg) if ci else pytest.skip(msg)
    try:
        out = subprocess.run([str(BUILD_SH), str(CACHE)], capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        out = None
    lines = out.stdout.strip().splitlines() if out else []
    binary = Path(lines[-1]) if out and out.returncode == 0 and lines else None
    if binary is None or not binary.is_file():
        msg = "Asterisk build failed: " + ((out.stderr or out.stdout)[-2000:] if out else "timed out")
        pytest.fail(msg) if ci else pytest.skip(msg)
    return binary


def free_port(host: str = "127.0.0.1", kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Asterisk:
    """One running instance with its own folders (a short path: the control socket's name is
    limited to 108 bytes)."""

    def __init__(self, name: str, binary: Path, configs: dict[str, str], rtp: tuple[int, int], *,
                 samples: bool = False):
        self.name = name
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix=f"ast-{name}-"))
        self.etc = self.root / "etc"
        self.etc.mkdir()
        prefix = binary.parent.parent
        dirs = {"astetcdir": self.etc, "astmoddir": prefix / "lib" / "asterisk" / "modules",
                "astvarlibdir": self.root / "lib", "astdbdir": self.root / "lib", "astkeydir": self.root / "lib",
                "astdatadir": prefix / "var" / "lib" / "asterisk", "astagidir": self.root / "lib" / "agi-bin",
                "astspooldir": self.root / "spool", "astrundir": self.root / "run", "astlogdir": self.root / "log",
                "astcachedir": self.root / "cache", "astsbindir": prefix / "sbin"}
        for d in dirs.values():
            Path(d).mkdir(parents=True, exist_ok=True)
        (self.root / "lib" / "sounds").mkdir(exist_ok=True)
        if samples:  # a deployer's /etc/asterisk: the stock sample configs, then the project's files
            for sample in (prefix / "etc" / "asterisk").iterdir():
                if sample.is_file() and sample.name != "asterisk.conf":
                    shutil.copy(sample, self.etc / sample.name)
        self.conf = self.etc / "asterisk.conf"
        self.conf.write_text("[directories]\n" + "".join(f"{k} => {v}\n" for k, v in dirs.items())
                             + "[options]\nnocolor = yes\nhideconnect = yes\n")
        base = {"logger.conf": "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
                "rtp.conf": f"[general]\nrtpstart = {rtp[0]}\nrtpend = {rtp[1]}\n",
                "musiconhold.conf": "[default]\nmode = files\ndirectory = moh\n"}
        for fname, text in {**base, **configs}.items():
            (self.etc / fname).write_text(text)
        self.proc: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "messages.log"

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def start(self, timeout: float = 60) -> "Asterisk":
        self.proc = subprocess.Popen([str(self.binary), "-C", str(self.conf), "-f", "-n"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"asterisk {self.name} exited: {self.log_text()[-3000:]}")
            try:
                out = self.cli("core waitfullybooted", timeout=10)
                if "fully booted" in out.lower():
                    return self
            except subprocess.SubprocessError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"asterisk {self.name} did not boot: {self.log_text()[-3000:]}")

    def cli(self, command: str, timeout: float = 15) -> str:
        out = subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise subprocess.SubprocessError(out.stderr or out.stdout)
        return out.stdout

    def restart(self, timeout: float = 60) -> None:
        """`core restart now`: every call and AMI session dropped, the same process boots again."""
        self.cli("core restart now")
        time.sleep(1.0)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if "fully booted" in self.cli("core waitfullybooted", timeout=10).lower():
                    return
            except subprocess.SubprocessError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"asterisk {self.name} did not come back")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.cli("core stop now", timeout=10)
                self.proc.wait(10)
            except (subprocess.SubprocessError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


# ---- the hotline's PBX: deploy/asterisk installed as the README says --------------------------------
def _set(text: str, pattern: str, replacement: str, fname: str) -> str:
    new, n = re.subn(pattern, replacement, text, flags=re.M)
    if not n:
        raise AssertionError(f"deploy/asterisk/{fname}: no line matches {pattern!r}; the install steps "
                             "in the README (and this test) no longer fit the file")
    return new


def installed_deploy_configs(*, agi_port: int, audiosocket_port: int, ami_port: int, sip_port: int,
                             carrier_port: int, rec_dir: Path) -> dict[str, str]:
    """The README's step 1 for a deployer: copy the files, set GATEWAY, REC_DIR, every secret and
    the carrier's address; here also the loopback addresses and free ports the test uses."""
    files = {p.name: p.read_text() for p in DEPLOY.glob("*.conf")}
    ext = files["extensions.conf"]
    ext = _set(ext, r"^GATEWAY=\S+", "GATEWAY=127.0.0.1", "extensions.conf")
    ext = _set(ext, r"^AGI_PORT=\S+", f"AGI_PORT={agi_port}", "extensions.conf")
    ext = _set(ext, r"^AUDIOSOCKET_PORT=\S+", f"AUDIOSOCKET_PORT={audiosocket_port}", "extensions.conf")
    ext = _set(ext, r"^REC_DIR=\S+", f"REC_DIR={rec_dir}", "extensions.conf")
    files["extensions.conf"] = ext
    man = files["manager.conf"]
    man = _set(man, r"^port = \d+", f"port = {ami_port}", "manager.conf")
    man = _set(man, r"^bindaddr = \S+", f"bindaddr = {PBX_IP}", "manager.conf")
    man = _set(man, r"^secret = \S+", f"secret = {AMI_SECRET}", "manager.conf")
    files["manager.conf"] = man
    sip = files["pjsip.conf"]
    sip = _set(sip, r"^bind = \S+", f"bind = {PBX_IP}:{sip_port}", "pjsip.conf")
    sip = _set(sip, r"sip\.carrier\.example:5060", f"{CARRIER_IP}:{carrier_port}", "pjsip.conf")
    sip = _set(sip, r"^from_domain = sip\.carrier\.example", f"from_domain = {CARRIER_IP}", "pjsip.conf")
    sip = _set(sip, r"^match = sip\.carrier\.example", f"match = {CARRIER_IP}", "pjsip.conf")
    for agent, pw in AGENTS.items():
        sip = _set(sip, rf"^password = change-this-{agent}", f"password = {pw}", "pjsip.conf")
    files["pjsip.conf"] = sip
    return files


# ---- the outside world: the carrier's callers and the agents' phones --------------------------------
def world_configs(*, ami_port: int, carrier_port: int, phones_port: int, pbx_sip_port: int,
                  rec_dir: Path) -> dict[str, str]:
    agents = "".join(f"""
[agent{a}]
type = endpoint
transport = phones
context = citizen
disallow = all
allow = alaw
dtmf_mode = rfc4733
outbound_auth = agent{a}-auth
aors = agent{a}
[agent{a}]
type = aor
contact = sip:{a}@{PBX_IP}:{pbx_sip_port}
[agent{a}-auth]
type = auth
auth_type = userpass
username = {a}
password = {pw}
[agent{a}-reg]
type = registration
transport = phones
outbound_auth = agent{a}-auth
server_uri = sip:{PBX_IP}:{pbx_sip_port}
client_uri = sip:{a}@{PBX_IP}:{pbx_sip_port}
contact_user = {a}
retry_interval = 2
expiration = 120
endpoint = agent{a}
line = yes
""" for a, pw in AGENTS.items())
    pjsip = f"""
[carrier]
type = transport
protocol = udp
bind = {CARRIER_IP}:{carrier_port}

[phones]
type = transport
protocol = udp
bind = {PHONES_IP}:{phones_port}

; the hotline as the carrier sees it: calls to 12345 go there, its callbacks come from there
[hotline]
type = endpoint
transport = carrier
context = citizen
disallow = all
allow = alaw
dtmf_mode = rfc4733
aors = hotline
[hotline]
type = aor
contact = sip:{PBX_IP}:{pbx_sip_port}
[hotline-identify]
type = identify
endpoint = hotline
match = {PBX_IP}
{agents}"""
    extensions = f"""
[globals]
REC_DIR={rec_dir}

; a caller: records what it hears, then waits for the test (PlayDTMF, Redirect to speak, Hangup)
[caller]
exten => listen,1,UserEvent(Listening,Tag: ${{CALLER_TAG}})
 same => n,MixMonitor(${{REC_DIR}}/heard-${{CALLER_TAG}}.wav,r(${{REC_DIR}}/heard-${{CALLER_TAG}}-in.wav))
 same => n,Wait(600)
 same => n,Hangup()
exten => speak,1,Playback(${{SPEECH}})
 same => n,UserEvent(SpeechDone,Tag: ${{CALLER_TAG}})
 same => n,Wait(600)
 same => n,Hangup()

; what the hotline dials: a citizen's phone (callbacks, poll calls, click-to-call) or, for the
; agents' extensions, an agent's phone (the PBX's calls come from one address, so one context)
[citizen]
exten => _[+0-9].,1,Answer()
 same => n,Set(CALLER_TAG=out-${{EXTEN}})
 same => n,UserEvent(CitizenAnswered,Number: ${{EXTEN}},Phone: ${{CHANNEL}})
 same => n,Goto(caller,listen,1)
; an agent's phone: answers after a ring and talks until hung up; with the global AGENTS_AWAY=yes
; (agents_away()) it rings and nobody answers
exten => _1XXX,1,GotoIf($["${{AGENTS_AWAY}}" = "yes"]?away)
 same => n,Wait(0.5)
 same => n,Answer()
 same => n,UserEvent(AgentAnswered,Agent: ${{EXTEN}},Phone: ${{CHANNEL}})
 same => n,Set(CALLER_TAG=agent-${{EXTEN}}-${{UNIQUEID}})
 same => n,Goto(caller,listen,1)
 same => n(away),UserEvent(AgentRinging,Agent: ${{EXTEN}})
 same => n,Wait(600)
 same => n,Hangup()
"""
    # timestampevents: each event says when Asterisk sent it (the benchmark times the callers by it,
    # not by when the gateway's busy event loop got round to reading it)
    manager = f"""[general]
enabled = yes
timestampevents = yes
port = {ami_port}
bindaddr = {CARRIER_IP}
[world]
secret = {WORLD_AMI_SECRET}
permit = 127.0.0.0/255.0.0.0
read = all
write = all
"""
    modules = "[modules]\nautoload = yes\n"
    return {"pjsip.conf": pjsip, "extensions.conf": extensions, "manager.conf": manager, "modules.conf": modules}


# ---- the lab: both instances, the gateway's ports, and the callers -----------------------------------
def department_phones(answers: str, busy: str, silent: str, *, dept_hz: int = 1000, agent_hz: int = 600) -> str:
    """More of the outside world's dialplan (Lab(world_dialplan=...)): three department duty
    phones, `answers` (rings 0.5 s, answers, "talks": a `dept_hz` tone), `busy` and `silent` (rings
    and never answers), each announcing itself with UserEvent DeptRinging; and agent 1024's phone
    "talking" too (an `agent_hz` tone), so what a caller hears tells who it is with."""
    return f"""
[citizen]
exten => {answers},1,UserEvent(DeptRinging,Number: ${{EXTEN}})
 same => n,Ringing()
 same => n,Wait(0.5)
 same => n,Answer()
 same => n,UserEvent(DeptAnswered,Number: ${{EXTEN}},Phone: ${{CHANNEL}})
 same => n,Playtones({dept_hz})
 same => n,Wait(600)
exten => {busy},1,UserEvent(DeptRinging,Number: ${{EXTEN}})
 same => n,Busy(5)
exten => {silent},1,UserEvent(DeptRinging,Number: ${{EXTEN}})
 same => n,Ringing()
 same => n,Wait(600)
exten => 1024,1,Wait(0.3)
 same => n,Answer()
 same => n,UserEvent(AgentAnswered,Agent: ${{EXTEN}},Phone: ${{CHANNEL}})
 same => n,Playtones({agent_hz})
 same => n,Wait(600)
"""


class Lab:
    """The PBX and the outside world, started once per test module; the gateway (a VoiceChannel in
    the test's event loop) binds the ports the PBX's dialplan was given. `world_dialplan` adds to
    the outside world's extensions.conf (department_phones())."""

    def __init__(self, world_dialplan: str = ""):
        self.binary = asterisk_binary()
        self.rec_dir = Path(tempfile.mkdtemp(prefix="ast-rec-"))
        self.rec_dir.chmod(0o777)
        self.agi_port, self.audiosocket_port = free_port(), free_port()
        self.ami_port, self.world_ami_port = free_port(), free_port(CARRIER_IP)
        udp = socket.SOCK_DGRAM
        self.sip_port, self.carrier_port = free_port(PBX_IP, udp), free_port(CARRIER_IP, udp)
        self.phones_port = free_port(PHONES_IP, udp)
        self.pbx = Asterisk("pbx", self.binary, installed_deploy_configs(
            agi_port=self.agi_port, audiosocket_port=self.audiosocket_port, ami_port=self.ami_port,
            sip_port=self.sip_port, carrier_port=self.carrier_port, rec_dir=self.rec_dir), (20000, 20999))
        self.world = Asterisk("world", self.binary, world_configs(
            ami_port=self.world_ami_port, carrier_port=self.carrier_port, phones_port=self.phones_port,
            pbx_sip_port=self.sip_port, rec_dir=self.rec_dir), (21000, 21999))
        if world_dialplan:
            with open(self.world.etc / "extensions.conf", "a") as f:
                f.write(world_dialplan)

    @property
    def ami_url(self) -> str:
        return f"ami://{AMI_USER}:{AMI_SECRET}@{PBX_IP}:{self.ami_port}"

    @property
    def world_ami_url(self) -> str:
        return f"ami://world:{WORLD_AMI_SECRET}@{CARRIER_IP}:{self.world_ami_port}"

    def start(self) -> "Lab":
        self.pbx.start()
        self.world.start()
        self.wait_agents_registered()
        return self

    def wait_agents_registered(self, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            contacts = self.pbx.cli("pjsip show contacts")
            if all(f"{a}/sip:{a}@{PHONES_IP}" in contacts for a in AGENTS):
                return
            time.sleep(0.3)
        raise RuntimeError("agent phones did not register: " + contacts)

    def channels(self) -> str:
        return self.pbx.cli("core show channels concise")

    def agents_away(self, away: bool) -> None:
        """The agents' phones ring and nobody answers (or they answer again)."""
        self.world.cli(f"dialplan set global AGENTS_AWAY {'yes' if away else 'no'}")

    def set_global(self, name: str, value) -> None:
        """A global of the PBX's dialplan, as `[globals]` sets it (QUEUE_WAIT, AGI_PORT, ...)."""
        self.pbx.cli(f"dialplan set global {name} {value}")

    def ami_sessions(self, user: str = AMI_USER) -> int:
        """How many manager sessions `user` has open on the PBX (`manager show connected`)."""
        return sum(1 for line in self.pbx.cli("manager show connected").splitlines()
                   if line.split()[:1] == [user])

    def in_audiosocket(self) -> int:
        """How many of the PBX's channels are in AudioSocket() now (talking to a gateway)."""
        return sum(1 for line in self.channels().splitlines() if "!AudioSocket!" in line)

    def conference(self, name: str) -> list[tuple[str, str]]:
        """(channel, flags) of each member of a ConfBridge conference (`confbridge list NAME`); M:
        marked, E: ends when the marked user leaves."""
        out = self.pbx.cli(f"confbridge list {name}")
        return [(line.split()[0], line.split()[1]) for line in out.splitlines()
                if line.startswith(("PJSIP/", "Local/")) and len(line.split()) > 1]

    def hang_up_all(self) -> None:
        for a in (self.world, self.pbx):
            try:
                a.cli("channel request hangup all")
            except subprocess.SubprocessError:
                pass

    def stop(self) -> None:
        self.world.stop()
        self.pbx.stop()
        shutil.rmtree(self.rec_dir, ignore_errors=True)


class GatewayProcess:
    """`hotline run` as an operator starts it, in a process of its own (JSON console in `console`),
    its telephony pointed at the lab's PBX: FastAGI/AudioSocket on the given ports, AMI, MixMonitor's
    folder. The bot model and the speech models are the ones the tests use."""

    def __init__(self, lab: Lab, folder: Path, *, agi_port: int, audiosocket_port: int, nice: int = 0):
        import sys

        self.agi_port, self.audiosocket_port, self.http_port = agi_port, audiosocket_port, free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(HOTLINE_DATA_DIR=str(folder / "data"), HOTLINE_HTTP_PORT=str(self.http_port),
                   HOTLINE_LOG_JSON="true", HOTLINE_BOT_MODEL_DIR=str(ROOT / "models"),
                   HOTLINE_AGI_PORT=str(agi_port), HOTLINE_AUDIOSOCKET_PORT=str(audiosocket_port),
                   HOTLINE_AMI_URL=lab.ami_url, HOTLINE_RECORDINGS_DIR=str(lab.rec_dir), PYTHONPATH=str(ROOT))
        self.console = folder / "console.log"
        with open(self.console, "wb") as out:
            # `nice` execs the command: the pid is the gateway's own
            command = (["nice", "-n", str(nice)] if nice else []) + [sys.executable, "-m", "hotline.cli", "run"]
            self.proc = subprocess.Popen(command, env=env, cwd=folder,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def records(self) -> list[dict]:
        """The console's JSON records (lines that are not JSON, a library's, are left out)."""
        import json

        out = []
        for line in self.console.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_listening(self, timeout: float = 900) -> dict:
        """The start's last record ("gateway listening"): the bot, voice and HTTP are up."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = next((r for r in self.records() if r.get("msg") == "gateway listening"), None)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"hotline run did not start (exit {self.proc.poll()}): "
                           + self.console.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Caller:
    """A citizen's phone on the carrier's side: dials the hotline over the SIP trunk (A-law, RFC 4733
    keys), records what it hears (`heard`), presses keys, plays a WAV into the call, hangs up."""

    def __init__(self, lab: Lab, world_ami, tag: str):
        self.lab, self.ami, self.tag = lab, world_ami, tag
        self.channel = ""

    @property
    def heard(self) -> Path:
        return self.lab.rec_dir / f"heard-{self.tag}-in.wav"

    async def dial(self, number: str = "12345", caller_id: str = "13800138000") -> "Caller":
        target = f"PJSIP/{number}@hotline" if number else "PJSIP/hotline"
        event = await self.ami.originate(target, "caller", "listen", caller_id=caller_id, timeout_ms=15000,
                                         variables={"CALLER_TAG": self.tag})
        if event.get("Response") != "Success":
            raise AssertionError(f"the hotline did not answer {number!r}: {event}")
        self.channel = event["Channel"]
        return self

    async def press(self, keys: str, gap_s: float = 0.25) -> None:
        import asyncio

        for key in keys:
            # "DTMF successfully queued": panoramisk then reads the action's Async header
            await self.ami.action({"Action": "PlayDTMF", "Channel": self.channel, "Digit": key, "Duration": "120",
                                   "Async": "false"})
            await asyncio.sleep(gap_s)

    async def say(self, wav: Path) -> None:
        """Play a WAV (8 kHz mono 16-bit) into the call; the caller goes on listening afterwards."""
        await self.ami.setvar(self.channel, "SPEECH", str(wav.with_suffix("")))
        await self.ami.redirect(self.channel, "caller", "speak")

    async def hang_up(self) -> None:
        try:
            await self.ami.action({"Action": "Hangup", "Channel": self.channel})
        except Exception:  # already gone
            pass

    async def alive(self) -> bool:
        try:
            await self.ami.action({"Action": "Getvar", "Channel": self.channel, "Variable": "CHANNEL"})
            return True
        except Exception:
            return False


async def heard_voiced_s(caller: Caller, timeout: float = 10) -> float:
    """Seconds of voice in what the caller heard, once the call is over (MixMonitor finishes the
    WAV's header when the channel goes)."""
    import asyncio

    end = time.monotonic() + timeout
    while await caller.alive() and time.monotonic() < end:
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    return voiced_seconds(caller.heard)


def voiced_blocks(path: Path, threshold: int = 200):
    """Which 20 ms blocks of a recording are not silence (their peak passes `threshold`, as
    tests/voice_peers.py counts a voiced frame); an empty array when there is no recording."""
    import wave

    import numpy as np

    if not path.exists():
        return np.zeros(0, bool)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    block = rate // 50
    n = len(pcm) // block
    return np.abs(pcm[: n * block].astype(np.int32)).reshape(n, block).max(axis=1) > threshold


def voiced_seconds(path: Path, threshold: int = 200) -> float:
    """How much of a recording is not silence."""
    return float(voiced_blocks(path, threshold).sum()) / 50


def voiced_times(path: Path, started: float, threshold: int = 200) -> list[float]:
    """time.monotonic() of each voiced 20 ms block of a recording that began at `started` (the
    caller's Listening event: MixMonitor starts right after it)."""
    import numpy as np

    return [started + i * 0.02 for i in np.nonzero(voiced_blocks(path, threshold))[0]]


class Events:
    """AMI events of one kind collected from a client (AmiClient.listeners)."""

    def __init__(self, ami, name: str, **match):
        self.name, self.match, self.got = name, match, []
        ami.listeners.append(self._on)

    def _on(self, event: dict) -> None:
        if (event.get("Event") == self.name or event.get("UserEvent") == self.name) and all(
                event.get(k) == v for k, v in self.match.items()):
            at = time.monotonic()  # when it arrived; "_sent": when Asterisk sent it, on the same clock
            stamp = event.get("Timestamp")
            sent = min(at, float(stamp) - (time.time() - at)) if stamp else at
            self.got.append({**event, "_at": at, "_sent": sent})

    async def wait(self, count: int = 1, timeout: float = 60) -> list[dict]:
        import asyncio

        end = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < end:
            await asyncio.sleep(0.1)
        if len(self.got) < count:
            raise AssertionError(f"no {self.name} event within {timeout} s (got {len(self.got)})")
        return self.got


def kill_gateway_sockets(channel) -> None:
    """What a killed gateway process leaves Asterisk: every call's connection reset (the kernel closes
    a dead process's sockets; unread audio makes it a reset) and the listeners gone."""
    import struct

    for server in channel._servers:
        server.close()
    for session in list(channel.sessions):
        for sock in (session.writer.get_extra_info("socket"), getattr(session.player, "_sock", None)):
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
        if session.player is not None:
            session.player.closed = True
        session.writer.transport.abort()


@pytest.fixture
async def world(lab):
    """An AMI client on the carrier's Asterisk (the citizens' and departments' side) of a test
    module's `lab` fixture; import it into the module beside `lab`."""
    from channels.voice.ami import AmiClient, AmiConfig

    client = AmiClient(AmiConfig.from_url(lab.world_ami_url))
    client.start()
    assert await client.wait_ready(10)
    yield client
    client.close()
