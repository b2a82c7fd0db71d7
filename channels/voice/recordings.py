"""Asterisk MixMonitor recordings on a configured path (`recordings_dir`).

The sample dialplan (deploy/asterisk/extensions.conf, [hotline-record]) records each call once, on
its first channel, to `<recordings_dir>/<YYYYMMDD>/<linkedid>.wav`: the linkedid is the uniqueid of
the call's first channel (`<epoch seconds>.<sequence>`), shared by every channel of the call and
reported by AMI (OriginateResponse's Uniqueid for calls the gateway places, CoreShowChannels'
Linkedid for live ones), and the folder is the UTC day of those epoch seconds. So the gateway finds a
call's recording from its linkedid alone, with no shared database and no listing of the folder.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

LINKEDID = re.compile(r"^(\d{9,11})\.(\d{1,10})$")


class BadRecording(ValueError):
    """Not a call id, or a path outside the recordings folder."""


def relative_path(linkedid: str) -> str:
    m = LINKEDID.match(linkedid or "")
    if not m:
        raise BadRecording(f"not an Asterisk call id: {linkedid!r}")
    day = dt.datetime.fromtimestamp(int(m.group(1)), dt.timezone.utc).strftime("%Y%m%d")
    return f"{day}/{linkedid}.wav"


def resolve(root: Path, relative: str) -> Path:
    """`relative` under `root`, refused when it leads out of it (.., an absolute path, a symlink)."""
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise BadRecording(f"{relative!r} is outside the recordings folder")
    return path


def recording_for(root: Path | str | None, linkedid: str) -> Path | None:
    """The call's recording file when it exists; None when there is none (or no folder configured)."""
    if not root:
        return None
    path = resolve(Path(root), relative_path(linkedid))
    return path if path.is_file() else None
