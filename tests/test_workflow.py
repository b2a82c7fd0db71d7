import pytest

from cases.workflow import (ACTIONS, IllegalTransition, Role, Status, allowed_actions, transition)


def test_the_main_path_from_registration_to_archive():
    state = Status.REGISTERED
    for action, expected in [("dispatch", Status.DISPATCHED), ("accept", Status.ACCEPTED),
                             ("start", Status.IN_PROGRESS), ("reply", Status.REPLIED),
                             ("follow_up", Status.FOLLOWED_UP), ("close", Status.CLOSED)]:
        state = transition(action, state)
        assert state is expected


def test_consultation_answered_on_the_spot_then_archived():
    assert transition("answer", "registered") is Status.ANSWERED
    assert transition("close", Status.ANSWERED) is Status.CLOSED


def test_return_extension_reopen_and_reminder():
    assert transition("return", Status.ACCEPTED) is Status.RETURNED
    assert transition("dispatch", Status.RETURNED) is Status.DISPATCHED
    assert transition("extend", Status.IN_PROGRESS) is Status.IN_PROGRESS  # an event, no state change
    assert transition("reopen", Status.FOLLOWED_UP) is Status.DISPATCHED
    assert transition("send_back", Status.REPLIED) is Status.IN_PROGRESS
    assert transition("remind", Status.DISPATCHED) is Status.DISPATCHED


def test_illegal_transition_names_both_states():
    with pytest.raises(IllegalTransition) as exc:
        transition("reply", Status.REGISTERED)
    message = str(exc.value)
    assert "'registered'" in message and "'replied'" in message
    with pytest.raises(IllegalTransition):
        transition("dispatch", Status.CLOSED)
    with pytest.raises(IllegalTransition, match="unknown action"):
        transition("teleport", Status.REGISTERED)


def test_nothing_leaves_closed_except_notes():
    movable = [a for a in ACTIONS.values() if Status.CLOSED in a.sources and a.target is not None]
    assert movable == []


def test_roles_decide_which_actions_are_offered():
    agent = {a.code for a in allowed_actions(Status.REGISTERED, Role.AGENT)}
    assert {"dispatch", "answer", "note"} <= agent and "accept" not in agent
    dept = {a.code for a in allowed_actions(Status.DISPATCHED, Role.DEPARTMENT)}
    assert "accept" in dept and "dispatch" not in dept
    # 延期 and 退回 are asked for once signed, and only the hotline centre grants them
    assert not dept & {"extend", "return", "request_extend", "request_return"}
    signed = {a.code for a in allowed_actions(Status.ACCEPTED, Role.DEPARTMENT)}
    assert {"request_extend", "request_return"} <= signed and not signed & {"extend", "return"}
    centre = {a.code for a in allowed_actions(Status.ACCEPTED, Role.SUPERVISOR)}
    assert {"extend", "return", "refuse_request"} <= centre
    assert "refuse_request" not in {a.code for a in allowed_actions(Status.ACCEPTED, Role.AGENT)}
