"""The one settings object: read from a TOML file, then `HOTLINE_*` environment overrides.

Nothing else in the project reads the environment; every part receives this object (or the piece
of it that it needs). Precedence: defaults < file < environment.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import tomli

from .shared import DEFAULT_REDIS_PREFIX, check_redis_prefix


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


@dataclass
class Settings:
    # where the gateway keeps its files (SQLite database, attachments, secret key)
    data_dir: Path = Path("var")
    # SQLAlchemy URL; empty means the embedded default: SQLite under data_dir
    db_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # several gateway processes on one machine share the HTTP, FastAGI and SMTP ports (SO_REUSEPORT;
    # `hotline run --workers N` sets it): the kernel spreads new connections among them
    reuse_port: bool = False
    # public base URL used in mails and links; empty: derived from host and port
    public_url: str = ""
    # the event loop `hotline run` serves on: "asyncio" (Python's own) or "uvloop" (libuv's: its
    # sockets cost less CPU per message, the README's scale-out figures were taken on it). uvloop
    # is refused with ami_url: under it panoramisk took an AMI stream cut mid-block for a fatal
    # transport error (tests/test_asterisk_calls.py), so it suits chat and mail processes only
    event_loop: str = "asyncio"
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh"
    # signing key for CSRF tokens and sessions; empty: generated once into data_dir/secret_key
    secret_key: str = ""
    # what survives a full garbage collection is frozen, so later ones walk only newer objects;
    # every this many minutes everything is walked once, reclaiming cycles that died while frozen
    # (one pause of about a second with the models loaded; hotline/memory.py)
    gc_thaw_minutes: float = 60.0
    log_level: str = "INFO"
    log_json: bool = True

    # request limits
    max_json_bytes: int = 256 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    attachment_max_bytes: int = 20 * 1024 * 1024

    # case lookup brute-force protection: allowed look-ups per window
    lookup_per_client: int = 10
    lookup_per_case: int = 10
    lookup_window_s: float = 60.0

    # argon2id cost for case lookup passwords (six digits: the rate limit is the real
    # protection; the hash keeps a stolen database from revealing them outright)
    case_kdf_time_cost: int = 1
    case_kdf_memory_kib: int = 2048
    # argon2id cost for staff passwords (long-lived secrets: the library's defaults)
    user_kdf_time_cost: int = 3
    user_kdf_memory_kib: int = 65536
    api_token_ttl_s: int = 12 * 3600

    # working day: deadlines fall at this local time on their last working day
    workday_end: str = "18:00"

    # Rasa engine
    bot_enabled: bool = True
    bot_model_dir: Path = Path("models")
    tracker_store_url: str = ""          # empty: same database as the cases
    lock_store_url: str = ""             # e.g. redis://127.0.0.1:6379/0; empty: in-process locks
    redis_url: str = ""                  # fan-out between gateway processes
    # every Redis key and channel the gateway uses starts with this (several gateways, or tests,
    # on one Redis each keep to their own): letters, digits and . _ : - only
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    # turns the engine works on at once: a turn is CPU work on one core, so one after another
    # (first come, first served) answers each sooner than many interleaved at every await
    bot_turn_concurrency: int = 1
    # short texts whose understanding is kept (bot/parse_cache.py); 0 turns the cache off
    bot_parse_cache_entries: int = 4096

    # voice: FastAGI and AudioSocket carry no credentials, so they listen on loopback unless
    # voice_host says otherwise, and serve only the Asterisk addresses in voice_allow (addresses or
    # networks, comma-separated; empty: loopback and the host of ami_url)
    voice_host: str = "127.0.0.1"
    voice_allow: str = ""
    agi_port: int = 4573
    audiosocket_port: int = 9092
    # where Asterisk reaches this process's AudioSocket (host:port), told to the dialplan with each
    # call (HOTLINE_AUDIOSOCKET) so a call's audio reaches the process that announced it; empty:
    # voice_host:audiosocket_port, or the dialplan's own GATEWAY when voice_host is a wildcard
    audiosocket_address: str = ""
    ami_url: str = ""                    # e.g. ami://user:secret@127.0.0.1:5038
    vosk_model: str = ""
    piper_voice: str = ""
    # recognition cost (docs/capacity.md): threads per speech pool (0: one per core), audio handed
    # to a call's recognizer at a time, Kaldi's search settings (0: the model's own conf/model.conf)
    speech_threads: int = 0
    recognizer_batch_ms: int = 200
    vosk_beam: float = 0.0
    vosk_max_active: int = 0
    vosk_lattice_beam: float = 0.0
    # end of a caller's turn: this much quiet after speech (speech/vad.py's default; the reply waits for it:
    # the largest part of the reply latency; shorter cuts callers off at their pauses)
    voice_end_silence_ms: int = 550
    # Asterisk's MixMonitor recordings (deploy/asterisk/extensions.conf, [hotline-record]) as the
    # gateway reaches them; empty: none are linked
    recordings_dir: str = ""
    # calls scheduled from the desk (callbacks, poll calls): tries in all, and the wait between them
    call_attempts: int = 3
    call_retry_s: float = 600.0
    # transfers of a live call (转接): how long the department's or leader's phone rings before the
    # citizen goes back to the agent (deploy/asterisk/extensions.conf, [hotline-transfer*])
    transfer_ring_s: int = 30

    # when people answer the web chat, as told to a citizen who asks for one while no agent or
    # supervisor has the desk open (free text, e.g. "每天 8:00–22:00"); empty: no hours are told
    agent_hours: str = ""

    # similar cases (cases/similar.py): open cases registered within this many days are compared
    # with a new one (same citizen, same place) on intake and on the desk's case page
    similar_window_days: int = 30

    # desk reminders (催办): hours before a deadline at which departments are reminded (comma-separated;
    # past the deadline a case goes to supervision, 督办), and how often the scheduler looks
    reminder_thresholds_h: str = "24"
    reminder_interval_s: float = 60.0

    # email
    imap_url: str = ""
    smtp_url: str = ""
    mail_from: str = ""
    # a CA certificate file (PEM) that the mail servers' certificates are checked against instead
    # of the system's CAs: a site's own CA or a self-signed server certificate
    mail_ca_file: str = ""
    # email channel details (channels/email/): the IMAP keyword that marks a mail as taken, how
    # often to look again when the server has no IDLE (and how long one IDLE lasts), the largest
    # mail fetched whole, how long a claimed mail waits before another reader may take it over,
    # how many mails are worked on at once (mostly waiting on the NLU and the database: the NLU
    # thread parses the waiting mails together, so more at once is more per second)
    mail_keyword: str = "$Hotline12345"
    mail_poll_s: float = 30.0
    mail_max_bytes: int = 25 * 1024 * 1024
    mail_claim_lease_s: float = 120.0
    # several gateway processes (redis_url set): one reads the mailbox; another takes over this long
    # after the reader died
    mail_reader_lease_s: float = 10.0
    mail_workers: int = 16
    # SMTP connections the outbox sends on at once (each loses at most its one mail in flight to a
    # killed process; see channels/email/outbox.py)
    mail_send_lanes: int = 4
    mail_notify_poll_s: float = 2.0
    # accept mail directly over SMTP (aiosmtpd) on this address; port 0: off
    smtpd_host: str = "127.0.0.1"
    smtpd_port: int = 0

    extra: dict = field(default_factory=dict)

    # ---- derived values -------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.http_host}:{self.http_port}"

    def ensure_secret_key(self) -> str:
        """Return the signing key, creating a persistent random one on first use."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            self.secret_key = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.secret_key = secrets.token_hex(32)
            path.write_text(self.secret_key)
            path.chmod(0o600)
        return self.secret_key


_ENV_PREFIX = "HOTLINE_"


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    """Turn a file or environment value into the field's type, naming the field on failure."""
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(str(raw))
        if kind in (dict, "dict"):
            if not isinstance(raw, Mapping):
                raise ValueError(raw)
            return dict(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name!r}: cannot use {raw!r} as {getattr(kind, '__name__', kind)}") from None


def load_settings(path: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults, then the TOML file (if any), then HOTLINE_* variables.

    The file is `path`, else $HOTLINE_CONFIG, else ./hotline.toml when it exists.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_path = path or env.get("HOTLINE_CONFIG") or ("hotline.toml" if Path("hotline.toml").exists() else None)
    known = {f.name: f for f in fields(Settings)}
    if file_path:
        try:
            data = tomli.loads(Path(file_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"settings file {file_path} does not exist") from None
        except tomli.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {file_path}: {exc}") from None
        for key, raw in data.items():
            if key not in known:
                raise SettingsError(f"settings file {file_path}: unknown setting {key!r}")
            values[key] = _coerce(key, known[key].type, raw)
    for name, f in known.items():
        env_name = _ENV_PREFIX + name.upper()
        if env_name in env and name != "extra":
            values[name] = _coerce(name, f.type, env[env_name])
    settings = Settings(**values)
    if settings.http_port <= 0 or settings.http_port > 65535:
        raise SettingsError(f"setting 'http_port': {settings.http_port} is not a TCP port")
    for name in ("speech_threads", "recognizer_batch_ms", "vosk_beam", "vosk_max_active", "vosk_lattice_beam"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"setting {name!r}: {getattr(settings, name)} cannot be negative (0: the default)")
    if not 200 <= settings.voice_end_silence_ms <= 3000:
        raise SettingsError(f"setting 'voice_end_silence_ms': {settings.voice_end_silence_ms} is not between "
                            "200 and 3000 ms")
    try:
        check_redis_prefix(settings.redis_prefix)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if settings.event_loop not in ("uvloop", "asyncio"):
        raise SettingsError(f"setting 'event_loop': {settings.event_loop!r} is neither 'uvloop' nor 'asyncio'")
    if settings.event_loop == "uvloop" and settings.ami_url:
        raise SettingsError("setting 'event_loop': uvloop cannot serve the AMI connection (ami_url): use 'asyncio'")
    if not settings.gc_thaw_minutes > 0:
        raise SettingsError(f"setting 'gc_thaw_minutes': {settings.gc_thaw_minutes} is not a positive number of minutes")
    if not 1 <= settings.transfer_ring_s <= 300:
        raise SettingsError(f"setting 'transfer_ring_s': {settings.transfer_ring_s} is not between 1 and 300 seconds")
    return settings


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy with some values changed (tests and benchmarks use this)."""
    return dataclasses.replace(settings, **changes)
