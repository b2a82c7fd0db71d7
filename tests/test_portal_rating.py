"""The citizen rates the outcome of their own case on the portal (issue 20: "no rating of the
outcome"): once replied, the page 受理查询 shows carries a rating form (a signed, short-lived grant
instead of the password, which is never shown again); the rating is the case's OUTCOME rating, as
a 回访 records it (the case leaves the follow-up list, 满意率 counts it); a second rating, a case not
replied, a forged or expired grant and a bad value are refused and change nothing."""
from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from cases.models import CaseEvent, ServiceRating
from cases.store import Actor
from channels.portal import rate_token, rate_token_ok
from desk_support import make_users
from test_portal import post_form, submit


def rating_form(page: str) -> dict:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "no rating form on the page"
    return {"number": re.search(r'name="number" value="(\d+)"', page).group(1), "token": found.group(1)}


async def test_the_citizen_rates_the_reply(client, services):
    number, password, _ = await submit(client)
    _, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert 'id="rate-form"' not in page  # nothing to rate before the reply

    users = await make_users(services)
    agent, dept = Actor.for_user(users["agent1"]), Actor.for_user(users["dept1"])
    await services.store.apply(number, "dispatch", agent, department_code="zjj")
    await services.store.apply(number, "accept", dept)
    await services.store.apply(number, "reply", dept, reply="已责令饭店加装油烟净化器。")
    resp, page = await post_form(client, "/lookup", {"number": number, "password": password})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    form = rating_form(page)
    assert password not in page and "对办理结果的评价" in page

    # no choice: named, nothing kept; a forged grant: refused
    resp, page = await post_form(client, "/rate", {**form, "comment": "还行"}, form_page="/lookup")
    assert resp.status == 400 and "请选择满意、一般或不满意" in page
    resp, _ = await post_form(client, "/rate", {**form, "token": form["token"][:-4] + "0000", "satisfaction": "1"},
                              form_page="/lookup")
    assert resp.status == 403
    other, _, _ = await submit(client)
    resp, _ = await post_form(client, "/rate", {**form, "number": other, "satisfaction": "1"}, form_page="/lookup")
    assert resp.status == 403  # a grant is for its own case only
    assert (await services.store.get(number)).satisfaction is None

    resp, page = await post_form(client, "/rate", {**form, "satisfaction": "2", "comment": "处理慢了点"},
                                 form_page="/lookup")
    assert resp.status == 200 and "感谢您的评价" in page and 'id="rate-form"' not in page
    assert "市民评价办理结果：一般" in page and "处理慢了点" in page  # in the case's public history
    case = await services.store.get(number)
    assert case.satisfaction == 2 and case.status == "followed_up"
    async with services.db.read() as s:
        last = (await s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.id.desc()).limit(1))).scalar()
        service_ratings = (await s.execute(select(func.count()).select_from(ServiceRating))).scalar()
    assert (last.action, last.actor, last.channel, last.data) == ("follow_up", "citizen", "web",
                                                                  {"satisfaction": 2, "by": "citizen"})
    assert last.comment == "处理慢了点" and service_ratings == 0  # the outcome, not the service

    # rated once: a second rating is refused and the first stays
    resp, page = await post_form(client, "/rate", {**form, "satisfaction": "1"}, form_page="/lookup")
    assert resp.status == 409 and "不能评价" in page
    assert (await services.store.get(number)).satisfaction == 2


def test_a_rating_grant_expires():
    issued = rate_token("secret", "2612010000017", now=time.time() - 7200)
    assert not rate_token_ok("secret", "2612010000017", issued)
    fresh = rate_token("secret", "2612010000017")
    assert rate_token_ok("secret", "2612010000017", fresh) and not rate_token_ok("other", "2612010000017", fresh)
    assert not rate_token_ok("secret", "2612010000017", "garbage")
