"""`hotline models fetch` against a local HTTP server standing in for the model hosts (no test may
reach the internet): progress, the host's SHA-256, the zip's CRCs, and a clear error offline."""
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from hotline.cli import main
from speech.fetch import FetchError, fetch_all


def make_vosk_zip(corrupt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("vosk-model-small-cn-0.22/am/final.mdl", b"m" * 4096)
        z.writestr("vosk-model-small-cn-0.22/conf/model.conf", b"--beam=10.0\n")
    data = bytearray(buf.getvalue())
    if corrupt:
        i = data.index(b"m" * 64)
        data[i] = ord("x")
    return bytes(data)


def make_g2pw() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("g2pw.onnx")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"onx"))
    return buf.getvalue()


@pytest.fixture
def host():
    files: dict[str, tuple[bytes, str | None]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, sha = files.get(self.path.split("?")[0], (None, None))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if sha:
                self.send_header("X-Linked-Etag", f'"{sha}"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", files
    server.shutdown()


def urls(base):
    return dict(vosk_url=f"{base}/vosk-model-small-cn-0.22.zip",
                piper_urls=[f"{base}/zh_CN-huayan-medium.onnx", f"{base}/zh_CN-huayan-medium.onnx.json"],
                g2pw_url=f"{base}/g2pw.tar.gz", progress=False)


def test_fetch_downloads_checks_and_unpacks(host, tmp_path):
    base, files = host
    onnx = b"voice" * 1000
    files["/vosk-model-small-cn-0.22.zip"] = (make_vosk_zip(), None)
    files["/zh_CN-huayan-medium.onnx"] = (onnx, hashlib.sha256(onnx).hexdigest())
    files["/zh_CN-huayan-medium.onnx.json"] = (b'{"audio": {"sample_rate": 22050}}', None)
    files["/g2pw.tar.gz"] = (make_g2pw(), None)
    got = fetch_all(tmp_path, **urls(base))
    assert (got["vosk"] / "am" / "final.mdl").exists() and not (tmp_path / "vosk-model-small-cn-0.22.zip").exists()
    assert (tmp_path / "zh_CN-huayan-medium.onnx").read_bytes() == onnx
    assert (tmp_path / "g2pW" / "g2pw.onnx").exists()
    from speech.models import find_piper_voice, find_vosk_model
    assert find_vosk_model("", tmp_path).source == "fetched"
    assert find_piper_voice("", tmp_path).path == tmp_path / "zh_CN-huayan-medium.onnx"


def test_a_wrong_checksum_or_a_corrupt_zip_keeps_nothing(host, tmp_path):
    base, files = host
    files["/vosk-model-small-cn-0.22.zip"] = (make_vosk_zip(), None)
    files["/zh_CN-huayan-medium.onnx"] = (b"tampered", "0" * 64)
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_all(tmp_path, **urls(base))
    assert not (tmp_path / "zh_CN-huayan-medium.onnx").exists()
    files["/vosk-model-small-cn-0.22.zip"] = (make_vosk_zip(corrupt=True), None)
    with pytest.raises(FetchError, match="corrupt|Bad CRC"):
        fetch_all(tmp_path / "again", **urls(base))


def test_without_internet_the_command_says_what_to_do(tmp_path, capsys, monkeypatch):
    import speech.fetch as fetch

    # a port nothing listens on stands for a machine without internet
    monkeypatch.setattr(fetch, "VOSK_CN", "http://127.0.0.1:9/vosk-model-small-cn-0.22.zip")
    assert main(["models", "fetch", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot download" in err and "HOTLINE_VOSK_MODEL" in err
