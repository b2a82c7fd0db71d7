"""The poll editor in the desk's data maintenance, over HTTP on SQLite and PostgreSQL: admins only,
CSRF, questions and options in order, errors named in Chinese with nothing changed, one active poll
at a time, answered polls keep their questions, every change recorded; and the bot then asks the
edited questions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from cases.models import DataChange, Poll, PollResponse
from desk_support import csrf_of, login, make_users, post

NEW_POLL = {
    "slug": "lvhua-2027", "title": "城市绿化满意度调查", "title_en": "Urban greening survey",
    "intro": "只有两个问题。",
    # typed in the second block with order 1, so it is asked first
    "q0_position": "2", "q0_text": "您家附近的公园够用吗？", "q0_options": "1 够用 | 足够，挺多\n2 不够 | 太少\n3 说不清",
    "q1_position": "1", "q1_text": "您对小区绿化满意吗？", "q1_options": "1 满意 | 很满意，挺好\n2 一般\n3 不满意 | 很差",
    "q2_position": "", "q2_text": "", "q2_options": "",
}


@pytest.fixture
async def admin(services, client_factory):
    await make_users(services)
    clients = {}
    for name in ("admin1", "agent1", "super1"):
        clients[name] = await client_factory(services)
        assert (await login(clients[name], name)).status == 302
    return clients


async def polls(services) -> dict[str, Poll]:
    async with services.db.read() as s:
        return {p.slug: p for p in (await s.execute(select(Poll).order_by(Poll.id))).scalars()}


async def changes(services) -> list[tuple[str, str, dict]]:
    async with services.db.read() as s:
        rows = (await s.execute(select(DataChange).where(DataChange.entity == "polls").order_by(DataChange.id))).scalars()
        return [(c.actor, c.action, c.data) for c in rows]


async def create(client, data=NEW_POLL):
    return await post(client, "/desk/admin/polls/new", data, page="/desk/admin/polls/new", allow_redirects=False)


async def test_only_admins_edit_polls_and_csrf_is_required(services, admin):
    for name in ("agent1", "super1"):
        assert (await admin[name].get("/desk/admin/polls")).status == 403
        token = await csrf_of(admin[name], "/desk/cases")
        resp = await admin[name].post("/desk/admin/polls/new", data={**NEW_POLL, "csrf_token": token})
        assert resp.status == 403
    resp = await admin["admin1"].post("/desk/admin/polls/new", data=NEW_POLL)  # no token
    assert resp.status == 400
    assert "lvhua-2027" not in await polls(services)


async def test_admin_creates_a_poll_with_questions_and_options_in_order(services, admin):
    page = await (await admin["admin1"].get("/desk/admin/polls")).text()
    assert "gongjiao-2026" in page and "正在使用" in page  # the sample poll, active
    resp = await create(admin["admin1"])
    assert resp.status == 302, await resp.text()
    poll = (await polls(services))["lvhua-2027"]
    assert resp.headers["Location"] == f"/desk/admin/polls/{poll.id}"
    assert not poll.active and poll.title == "城市绿化满意度调查"
    assert [q.text for q in poll.questions] == ["您对小区绿化满意吗？", "您家附近的公园够用吗？"]
    assert [q.position for q in poll.questions] == [0, 1]
    assert poll.questions[0].options == [
        {"key": "1", "text": "满意", "synonyms": ["很满意", "挺好"]}, {"key": "2", "text": "一般", "synonyms": []},
        {"key": "3", "text": "不满意", "synonyms": ["很差"]}]
    assert await changes(services) == [("user:admin1", "create", {
        "fields": ["intro", "slug", "title", "title_en"], "questions": ["您对小区绿化满意吗？", "您家附近的公园够用吗？"]})]
    # the editor shows it back in the same form, with the change history
    page = await (await admin["admin1"].get(f"/desk/admin/polls/{poll.id}")).text()
    assert "1 满意 | 很满意，挺好" in page and "修改记录" in page and "新建" in page

    # editing: a question removed (cleared), one reworded, an option added, the order swapped back
    edit = {"slug": "lvhua-2027", "title": "城市绿化调查", "title_en": "", "intro": "",
            "q0_position": "1", "q0_text": "附近公园够用吗？", "q0_options": "1 够用\n2 不够\n0 说不清",
            "q1_position": "2", "q1_text": "", "q1_options": ""}
    resp = await post(admin["admin1"], f"/desk/admin/polls/{poll.id}", edit, page=f"/desk/admin/polls/{poll.id}",
                      allow_redirects=False)
    assert resp.status == 302, await resp.text()
    poll = (await polls(services))["lvhua-2027"]
    assert [q.text for q in poll.questions] == ["附近公园够用吗？"]
    assert [o["key"] for o in poll.questions[0].options] == ["1", "2", "0"]
    assert (await changes(services))[-1] == ("user:admin1", "update", {
        "fields": ["intro", "title", "title_en"], "questions": ["附近公园够用吗？"]})


@pytest.mark.parametrize("field, value, message", [
    ("slug", "", "请填写标识"),
    ("slug", "Bad Slug!", "标识只能包含小写字母"),
    ("title", "", "请填写标题"),
    ("q1_options", "a 满意\n2 一般", "第2题：选项第1行的按键必须是 0 到 9 的一个数字"),
    ("q1_options", "1 满意\n1 一般", "第2题：按键 1 重复了"),
    ("q1_options", "1 满意", "第2题：需要 2 到 10 个选项"),
    ("q1_options", "1\n2 一般", "第2题：选项第1行缺少选项文字"),
    ("q0_text", "", "第1题：请填写题目"),
    ("q0_position", "第一", "第1题排序必须是非负整数"),
])
async def test_bad_input_is_named_in_chinese_and_changes_nothing(services, admin, field, value, message):
    before = await polls(services)
    resp = await create(admin["admin1"], {**NEW_POLL, field: value})
    text = await resp.text()
    assert resp.status == 400 and message in text, text[:2000]
    assert 'value="城市绿化满意度调查"' in text or field == "title"  # what was typed is shown again
    assert (await polls(services)).keys() == before.keys() and await changes(services) == []


async def test_a_poll_needs_a_question_and_a_free_slug(services, admin):
    empty = {k: v for k, v in NEW_POLL.items() if not k.startswith("q")}
    resp = await create(admin["admin1"], empty)
    assert resp.status == 400 and "问卷至少需要一道题目" in await resp.text()
    resp = await create(admin["admin1"], {**NEW_POLL, "slug": "gongjiao-2026"})
    assert resp.status == 400 and "该标识已被其他问卷使用" in await resp.text()


async def test_one_poll_is_active_at_a_time_and_every_switch_is_recorded(services, admin):
    await create(admin["admin1"])
    new, sample = (await polls(services))["lvhua-2027"], (await polls(services))["gongjiao-2026"]
    assert sample.active
    resp = await post(admin["admin1"], f"/desk/admin/polls/{new.id}/activate", page=f"/desk/admin/polls/{new.id}")
    text = await resp.text()
    assert resp.status == 200 and "已启用本问卷" in text and "公共交通服务满意度调查" in text and "已同时停用" in text
    now = await polls(services)
    assert now["lvhua-2027"].active and not now["gongjiao-2026"].active
    assert [(a, d) for _, a, d in (await changes(services))[1:]] == [
        ("deactivate", {"because": "lvhua-2027"}), ("activate", {"retired": ["gongjiao-2026"]})]
    resp = await post(admin["admin1"], f"/desk/admin/polls/{new.id}/deactivate", page=f"/desk/admin/polls/{new.id}")
    assert resp.status == 200 and "已停用本问卷" in await resp.text()
    assert not any(p.active for p in (await polls(services)).values())
    assert (await changes(services))[-1][1] == "deactivate"
    assert (await admin["agent1"].post(f"/desk/admin/polls/{new.id}/activate")).status in (400, 403)


async def test_an_answered_poll_keeps_its_questions_and_can_be_copied(services, admin):
    sample = (await polls(services))["gongjiao-2026"]
    async with services.db.write() as s:
        s.add(PollResponse(poll_id=sample.id, conversation_id="t-1", channel="webchat"))
    page = await (await admin["admin1"].get(f"/desk/admin/polls/{sample.id}")).text()
    assert "已有 1 份答卷" in page and "题目和选项不能再修改" in page and 'name="q0_text"' not in page
    questions = [q.text for q in sample.questions]
    resp = await post(admin["admin1"], f"/desk/admin/polls/{sample.id}",
                      {"slug": "gongjiao-2026", "title": "公交满意度调查（修订）", "intro": sample.intro,
                       "q0_text": "改过的题目", "q0_options": "1 是\n2 否"},
                      page=f"/desk/admin/polls/{sample.id}", allow_redirects=False)
    assert resp.status == 302
    after = (await polls(services))["gongjiao-2026"]
    assert after.title == "公交满意度调查（修订）" and [q.text for q in after.questions] == questions
    resp = await post(admin["admin1"], f"/desk/admin/polls/{sample.id}/copy", page=f"/desk/admin/polls/{sample.id}",
                      allow_redirects=False)
    assert resp.status == 302
    copy = (await polls(services))["gongjiao-2026-2"]
    assert not copy.active and [q.text for q in copy.questions] == questions
    assert resp.headers["Location"] == f"/desk/admin/polls/{copy.id}"
    assert [a for _, a, _ in await changes(services)] == ["update", "copy"]


async def test_other_data_maintenance_changes_are_recorded_too(services, admin):
    resp = await post(admin["admin1"], "/desk/admin/departments", {"code": "xfj", "name": "信访局", "active": "1"},
                      page="/desk/admin/departments", allow_redirects=False)
    assert resp.status == 302
    async with services.db.read() as s:
        rows = list((await s.execute(select(DataChange).where(DataChange.entity == "departments"))).scalars())
    assert [(r.actor, r.action) for r in rows] == [("user:admin1", "create")] and "code" in rows[0].data["fields"]


# ---- the bot asks what was edited ------------------------------------------------------------------------
@pytest.mark.bot
async def test_the_bot_asks_the_edited_questions(services, admin, engine):
    from bot_support import new_sender, requested_slot, say
    from cases.models import PollAnswer

    await create(admin["admin1"])
    new = (await polls(services))["lvhua-2027"]
    await post(admin["admin1"], f"/desk/admin/polls/{new.id}/activate", page=f"/desk/admin/polls/{new.id}")
    sender = new_sender()
    result = await say(engine, sender, "我要参加民意调查")
    assert "城市绿化满意度调查" in result.text and "第1题：您对小区绿化满意吗？" in result.text, result.text
    assert "1 满意" in result.text and "3 不满意" in result.text and "请按" not in result.text  # chat wording
    result = await say(engine, sender, "挺好")  # a synonym typed in the editor
    assert "第2题：您家附近的公园够用吗？" in result.text, result.text
    result = await say(engine, sender, "2")
    assert await requested_slot(engine, sender) != "poll_answer" and "感谢您的参与" in result.text
    async with services.db.read() as s:
        answers = dict((await s.execute(select(PollAnswer.question_id, PollAnswer.option_key))).all())
        response = (await s.execute(select(PollResponse))).scalar()
    assert response.poll_id == new.id
    assert [answers[q.id] for q in new.questions] == ["1", "2"]
