"""`hotline parse`: what the bot understands, one JSON line per text, for people tuning it."""
import json

import pytest

from cases.migrate import upgrade
from hotline import cli
from conftest import MODEL_DIR

pytestmark = pytest.mark.bot


def test_parse_prints_intent_entities_kind_and_category(tmp_path, monkeypatch, capsys, bot_agent):
    data = tmp_path / "data"
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(data))
    monkeypatch.setenv("HOTLINE_BOT_MODEL_DIR", str(MODEL_DIR))
    upgrade(f"sqlite:///{data.resolve()}/hotline.db")
    assert cli.main(["demo-data", "--no-users"]) == 0
    capsys.readouterr()
    texts = ["我要投诉楼下工地半夜施工噪音太大", "社保卡丢了怎么补办", "我的电话是幺三八一二三四五六七八"]
    assert cli.main(["parse", *texts]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["text"] for line in lines] == texts
    assert lines[0]["intent"] == "complain" and lines[0]["kind"] == "complaint"
    assert lines[0]["category"] == "hjbh.zswr" and lines[0]["confidence"] > 0.5
    assert lines[1]["intent"] == "ask_policy" and lines[1]["kind"] == "consultation"
    assert {"entity": "phone", "value": "13812345678"} in lines[2]["entities"]
    assert len(lines[2]["entities"]) == len({(e["entity"], e["value"]) for e in lines[2]["entities"]})


def test_parse_on_a_fresh_checkout_migrates_and_says_why_no_category(tmp_path, monkeypatch, capsys, bot_agent):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("HOTLINE_BOT_MODEL_DIR", str(MODEL_DIR))
    assert cli.main(["parse", "我要投诉楼下工地半夜施工噪音太大 电话13812345678"]) == 0
    out, err = capsys.readouterr()
    line = json.loads(next(x for x in out.splitlines() if x.startswith("{")))
    assert line["kind"] == "complaint" and line["category"] is None
    assert line["entities"].count({"entity": "phone", "value": "13812345678"}) == 1
    assert "hotline demo-data" in err
