from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings


def test_defaults_file_then_environment(tmp_path):
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('http_port = 9000\ndata_dir = "/srv/hotline"\nlookup_per_client = 5\n', encoding="utf-8")
    s = load_settings(cfg, environ={"HOTLINE_HTTP_PORT": "8181", "HOTLINE_DB_URL": "postgresql://x@h/db"})
    assert s.http_port == 8181                      # environment beats the file
    assert s.data_dir == Path("/srv/hotline")       # file beats the default
    assert s.lookup_per_client == 5
    assert s.database_url == "postgresql://x@h/db"
    assert s.http_host == "127.0.0.1"


def test_embedded_default_is_sqlite_under_data_dir(tmp_path):
    s = load_settings(None, environ={"HOTLINE_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path.resolve()}/hotline.db"


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(SettingsError, match="http_port"):
        load_settings(None, environ={"HOTLINE_HTTP_PORT": "eighty"})
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_thing = 1\n")
    with pytest.raises(SettingsError, match="no_such_thing"):
        load_settings(cfg, environ={})


def test_a_caller_s_end_of_turn_quiet_is_a_setting_within_reason():
    from speech.vad import VadSettings

    assert load_settings(None, environ={}).voice_end_silence_ms == VadSettings().end_silence_ms
    assert load_settings(None, environ={"HOTLINE_VOICE_END_SILENCE_MS": "700"}).voice_end_silence_ms == 700
    for bad in ("50", "10000"):  # every pause would end the turn; the caller would wait seconds
        with pytest.raises(SettingsError, match="voice_end_silence_ms"):
            load_settings(None, environ={"HOTLINE_VOICE_END_SILENCE_MS": bad})


def test_the_event_loop_is_asyncio_unless_chosen_and_uvloop_never_with_ami(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no hotline.toml here
    assert load_settings(None, environ={}).event_loop == "asyncio"
    assert load_settings(None, environ={"HOTLINE_EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    with pytest.raises(SettingsError, match="event_loop"):
        load_settings(None, environ={"HOTLINE_EVENT_LOOP": "trio"})
    with pytest.raises(SettingsError, match="event_loop.*ami_url"):
        load_settings(None, environ={"HOTLINE_EVENT_LOOP": "uvloop", "HOTLINE_AMI_URL": "ami://u:p@127.0.0.1:5038"})


def test_secret_key_is_created_once_and_kept(tmp_path):
    s = load_settings(None, environ={"HOTLINE_DATA_DIR": str(tmp_path)})
    key = s.ensure_secret_key()
    again = load_settings(None, environ={"HOTLINE_DATA_DIR": str(tmp_path)}).ensure_secret_key()
    assert key == again and len(key) == 64
