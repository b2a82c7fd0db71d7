"""`hotline models fetch`: the Chinese speech models from their official hosts into models/speech/,
with a progress bar and a checksum, never at run time. Where there is no internet it fails with a
message that says what to do instead.

Checksums: Hugging Face sends each stored file's SHA-256 (`X-Linked-Etag`); it is compared with
what arrived. The Vosk archive's host publishes none, so every member's CRC-32 inside the zip is
checked (`zipfile.testzip`) and the model's files must be there."""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

VOSK_CN = "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip"
PIPER_BASE = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/zh/zh_CN/huayan/medium/"
PIPER_CN = [PIPER_BASE + "zh_CN-huayan-medium.onnx", PIPER_BASE + "zh_CN-huayan-medium.onnx.json"]
# Piper's Chinese phonemizer (g2pW); Piper would fetch it on first use, so it is fetched here
G2PW = "https://huggingface.co/datasets/rhasspy/piper-checkpoints/resolve/main/zh/zh_CN/_resources/g2pw.tar.gz"


class FetchError(Exception):
    pass


@dataclass
class Downloaded:
    path: Path
    sha256: str
    expected: str | None


def download(url: str, dest: Path, *, progress: bool = True, timeout: float = 30.0) -> Downloaded:
    """Stream `url` to `dest` (via a .part file), checking the host's SHA-256 when it sends one."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = (response.headers.get("X-Linked-Etag") or response.headers.get("X-Checksum-Sha256") or "")
            expected = expected.strip('"').lower() or None
            if expected and len(expected) != 64:
                expected = None  # an ordinary ETag, not a SHA-256
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                                               disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {url}: {reason}. Without internet, copy the model onto this "
                         f"machine and set vosk_model / piper_voice (HOTLINE_VOSK_MODEL, HOTLINE_PIPER_VOICE)") from None
    got = digest.hexdigest()
    if expected and got != expected:
        part.unlink(missing_ok=True)
        raise FetchError(f"{dest.name}: checksum mismatch (expected {expected}, got {got}); nothing was kept")
    part.replace(dest)
    return Downloaded(dest, got, expected)


def unpack_vosk(archive: Path, target_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise FetchError(f"{archive.name}: {bad} is corrupt (CRC mismatch)")
            top = {n.split("/")[0] for n in z.namelist()}
            if len(top) != 1:
                raise FetchError(f"{archive.name}: not a single model folder")
            with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
                z.extractall(tmp)
                model = Path(tmp) / top.pop()
                if not (model / "am" / "final.mdl").exists():
                    raise FetchError(f"{archive.name}: no am/final.mdl inside: not a Vosk model")
                final = target_dir / model.name
                if final.exists():
                    shutil.rmtree(final)
                model.replace(final)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive.name}: {exc}") from None
    archive.unlink()
    return final


def fetch_all(target_dir: Path, *, vosk_url: str | None = None, piper_urls: list[str] | None = None,
              g2pw_url: str | None = "", progress: bool = True) -> dict:
    """Everything a Mandarin line needs (default: the official hosts); returns where each piece went."""
    vosk_url, piper_urls = vosk_url or VOSK_CN, piper_urls or PIPER_CN
    g2pw_url = G2PW if g2pw_url == "" else g2pw_url
    target_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    archive = download(vosk_url, target_dir / vosk_url.rsplit("/", 1)[-1].split("?")[0], progress=progress)
    out["vosk"] = unpack_vosk(archive.path, target_dir)
    for url in piper_urls:
        got = download(url, target_dir / url.rsplit("/", 1)[-1].split("?")[0], progress=progress)
        out.setdefault("piper", []).append(got.path)
    if g2pw_url:
        got = download(g2pw_url, target_dir / "g2pw.tar.gz", progress=progress)
        with tarfile.open(got.path) as tar:
            tar.extractall(target_dir / "g2pW", filter="data") if hasattr(tarfile, "data_filter") \
                else tar.extractall(target_dir / "g2pW")
        got.path.unlink()
        out["g2pw"] = target_dir / "g2pW"
    return out
