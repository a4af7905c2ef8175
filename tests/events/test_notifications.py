"""The notifications list and the event stream (in-process: a test app's stream sends
what is there and ends), who reads what, and what an event may carry."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseops.events import service
from caseops.events.models import Notification
from caseops.events.publish import publish
from caseops.extensions import db
from caseops.users.models import User
from tests import factories
from tests.fixtures.consents import consent_for, source_consent
from tests.fixtures.events import frames
from tests.fixtures.records import bearer
from tests.fixtures.referrals import assign, move, refer, referral_id_of

PAYLOAD_KEYS = {"id", "kind", "created_at", "data"}


def _user_id(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def _tell(username: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        ids += publish(
            "task.assigned",
            users=[username],
            data={"task_id": f"tsk_{i:04d}", "client_id": f"cl_{i:04d}"},
            session=db.session,
        )
    db.session.commit()
    return ids


def test_the_list_pages_after_an_id(events):
    ids = _tell("hha.case_worker", 5)
    first = events.list("hha.case_worker", limit=2)
    assert [n["id"] for n in first] == ids[:2]
    rest = events.list("hha.case_worker", after=first[-1]["id"], limit=10)
    assert [n["id"] for n in rest] == ids[2:]
    assert events.list("hha.case_worker", after=ids[-1]) == []
    assert all(set(n) == PAYLOAD_KEYS for n in first + rest)


def test_one_persons_events_are_theirs_alone(events):
    _tell("hha.case_worker", 2)
    assert len(events.list("hha.case_worker")) == 2
    for other in ("hha.supervisor", "cchc.case_worker", "hha.privacy_officer"):
        assert events.list(other) == []


# 2**31: one past the notification ids' INTEGER key (PostgreSQL failed on it: a 500)
@pytest.mark.parametrize(
    "bad", [{"after": -1}, {"after": "x"}, {"after": 2**31}, {"limit": 0}, {"limit": 501}]
)
def test_bad_list_parameters_are_named(events, client, bad):
    response = client.get(
        "/api/v1/me/notifications",
        query_string=bad,
        headers=bearer(events.token("hha.case_worker")),
    )
    assert response.status_code == 422
    assert set(bad) <= set(response.get_json()["error"]["details"])


def test_the_stream_is_server_sent_events_of_ids_and_kinds(events):
    ids = _tell("hha.case_worker", 3)
    response = events.stream("hha.case_worker", after="0")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert body.startswith("retry: ")
    got = frames(response)
    assert [int(f["id"]) for f in got] == ids
    assert all(f["data"]["id"] == int(f["id"]) for f in got)
    assert all(set(f["data"]) == PAYLOAD_KEYS for f in got)
    assert all(set(f["data"]["data"]) == {"task_id", "client_id"} for f in got)


def test_last_event_id_resumes_after_it_and_wins_over_after(events):
    ids = _tell("hha.case_worker", 4)
    resumed = frames(events.stream("hha.case_worker", last_event_id=str(ids[1]), after="0"))
    assert [int(f["id"]) for f in resumed] == ids[2:]


def test_a_new_stream_starts_now(events):
    _tell("hha.case_worker", 2)
    assert frames(events.stream("hha.case_worker")) == []


@pytest.mark.parametrize("header", ["abc", "-1", "1" * 19, "1.5", str(2**31)])
def test_a_bad_last_event_id_is_named(events, client, header):
    headers = bearer(events.token("hha.case_worker")) | {"Last-Event-ID": header}
    response = client.get("/api/v1/me/events", headers=headers)
    assert response.status_code == 422
    assert "Last-Event-ID" in response.get_json()["error"]["details"]


def test_the_largest_cursor_is_answered_not_failed(events, client):
    """The last id the key can hold is a cursor like any other (nothing after it)."""
    response = client.get(
        "/api/v1/me/notifications",
        query_string={"after": 2**31 - 1},
        headers=bearer(events.token("hha.case_worker")),
    )
    assert response.status_code == 200 and response.get_json() == []


def test_without_credentials_nothing_streams(client, world):
    response = client.get("/api/v1/me/events", headers={"Accept": "application/json"})
    assert response.status_code == 401


def test_an_event_refuses_anything_but_ids_and_kinds(world):
    for data in (
        {"name": "Maria Lopez"},
        {"client_id": "Maria Lopez"},
        {"note": "x"},
        {"category": "gossip"},
        {"client_id": {"nested": "1"}},
    ):
        with pytest.raises(ValueError):
            publish("client.updated", users=["hha.case_worker"], data=data, session=db.session)
    with pytest.raises(ValueError):
        publish("task.assigned", agencies=["hha"], data={"task_id": "t1234"}, session=db.session)
    with pytest.raises(ValueError):
        publish("referral.incoming", agencies=["hha"], data={}, session=db.session)


def test_an_event_exists_only_if_its_cause_committed(world):
    publish("task.assigned", users=["hha.case_worker"], data={"task_id": "t1"}, session=db.session)
    db.session.rollback()
    assert db.session.scalar(select(Notification.id)) is None


def test_agency_events_reach_the_roles_that_read_them(events, client):
    publish(
        "consent.revoked", agencies=["hha"], data={"consent_id": "cns_1234"}, session=db.session
    )
    db.session.commit()
    for role in ("case_worker", "supervisor", "consent_officer"):
        assert events.kinds(f"hha.{role}") == ["consent.revoked"], role
    for role in ("system_admin", "agency_admin", "privacy_officer", "data_steward"):
        assert events.kinds(f"hha.{role}") == [], role
    assert events.kinds("cchc.consent_officer") == []


def test_revoking_a_consent_tells_the_agencies_it_names(events, client, maria_in_care):
    consent_id = consent_for(client, maria_in_care)  # hha housing -> cchc
    response = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "client asked"},
        headers=bearer(events.token("cchc.consent_officer")),
    )
    assert response.status_code == 200, response.get_json()
    expected = [{"consent_id": consent_id}]
    assert [n["data"] for n in events.list("cchc.case_worker")] == expected
    assert [n["data"] for n in events.list("hha.supervisor")] == expected
    assert events.list("rrp.case_worker") == []


def test_a_referral_tells_the_receiving_supervisors_then_the_assigned_worker(
    events, client, maria_in_care
):
    source_consent(client, maria_in_care)  # hha housing -> cchc: the referral's gate
    referral_id = referral_id_of(refer(client, maria_in_care))
    requested = [("referral.requested", {"referral_id": referral_id})]
    seen = [(n["kind"], n["data"]) for n in events.list("cchc.supervisor")]
    assert seen == requested
    assert events.list("cchc.case_worker") == []  # not yet theirs: unassigned
    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    assert move(client, referral_id, "cchc.case_worker", "accepted").status_code == 200
    assert events.kinds("cchc.case_worker") == ["referral.status_changed"]
    assert "referral.status_changed" in events.kinds("hha.case_worker")  # the sender


def test_a_revoked_token_or_a_locked_account_stops_the_stream(events):
    token = events.token("hha.case_worker")
    credential = service.Credential("token", token)
    assert service.recheck(credential).username == "hha.case_worker"
    user = db.session.get(User, _user_id("hha.case_worker"))
    from datetime import timedelta

    from caseops.db_types import utcnow

    user.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert service.recheck(credential) is None
    user.locked_until = None
    db.session.commit()
    from caseops.users import service as users

    (issued,) = [t for t in users.list_tokens(factories.OPERATOR, "hha.case_worker")]
    users.revoke_token(factories.OPERATOR, "hha.case_worker", issued.id)
    assert service.recheck(credential) is None


def test_a_heartbeat_reads_the_roles_in_force_not_those_the_stream_opened_with(events, app):
    credential = service.Credential("token", events.token("hha.supervisor"))
    # A stream's heartbeats run in the context of the request that opened it.
    with app.test_request_context("/api/v1/me/events"):
        assert "supervisor" in service.recheck(credential).roles
        from caseops.users import service as users

        users.change_roles(factories.OPERATOR, "hha.supervisor", ["case_worker"])
        db.session.commit()
        # (the token's scopes were the roles it was issued with: none is left)
        assert "supervisor" not in service.recheck(credential).roles


def test_an_open_stream_ends_at_the_next_heartbeat_once_its_token_is_revoked(events, app):
    app.config["CASEOPS_EVENTS_MAX_LIFETIME"] = 30
    app.config["CASEOPS_EVENTS_HEARTBEAT"] = 0.05
    ids = _tell("hha.case_worker", 1)
    token = events.token("hha.case_worker")
    credential = service.Credential("token", token)
    actor = service.recheck(credential)
    stream = service.open_stream(actor, credential, ids[0] - 1)
    assert next(stream).startswith("retry: ")
    assert next(stream).startswith(f"id: {ids[0]}\n")
    assert next(stream) == ": heartbeat\n\n"  # re-checked, still good
    from caseops.users import service as users

    (issued,) = users.list_tokens(factories.OPERATOR, "hha.case_worker")
    users.revoke_token(factories.OPERATOR, "hha.case_worker", issued.id)
    assert list(stream) == []  # no further heartbeat: it ended at the next check


def test_a_session_stream_never_extends_the_session_and_ends_with_it(events, app):
    from datetime import timedelta

    from caseops.auth.models import UserSession
    from caseops.db_types import utcnow

    now = utcnow()
    row = UserSession(
        id="s" * 43, user_id=_user_id("hha.case_worker"), created_at=now, last_seen_at=now
    )
    db.session.add(row)
    db.session.commit()
    credential = service.Credential("session", row.id)
    assert service.recheck(credential).username == "hha.case_worker"
    assert db.session.get(UserSession, row.id).last_seen_at == now  # not touched
    # idle past the timeout (only the person's own requests keep a session alive)
    row.last_seen_at = now - timedelta(seconds=app.config["CASEOPS_IDLE_TIMEOUT"] + 1)
    db.session.commit()
    assert service.recheck(credential) is None
    row.last_seen_at = now
    row.ended_at = now  # logged out, or ended by an administrator
    db.session.commit()
    assert service.recheck(credential) is None


def test_a_stream_slot_comes_back_whether_or_not_the_stream_ran(events, app):
    app.config["CASEOPS_EVENT_STREAMS"] = 1  # read when this process first opens a stream
    service._slots.clear()
    try:
        token = events.token("hha.case_worker")
        credential = service.Credential("token", token)
        actor = service.recheck(credential)
        first = service.open_stream(actor, credential, 0)
        with pytest.raises(service.TooManyStreams):
            service.open_stream(actor, credential, 0)
        del first  # never iterated (the client went away): the slot is released anyway
        second = service.open_stream(actor, credential, 0)
        sent = list(second)  # ran to its end: released again
        assert sent[0].startswith("retry: ")
        third = service.open_stream(actor, credential, 0)
        third.close()
    finally:
        service._slots.clear()


def test_a_full_server_refuses_a_stream_with_503(events, app, client):
    app.config["CASEOPS_EVENT_STREAMS"] = 1
    service._slots.clear()
    try:
        actor = service.recheck(service.Credential("token", events.token("hha.case_worker")))
        held = service.open_stream(actor, service.Credential("token", "x"), 0)
        response = events.stream("hha.case_worker")
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "too_many_streams"
        held.close()
    finally:
        service._slots.clear()
