"""The one audit writer: what it records, its two transaction modes, and failing closed."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from caseops.audit.service import record
from caseops.authz.actor import Actor
from caseops.context import Origin, origin_scope
from caseops.errors import AuditUnavailable
from caseops.extensions import db
from caseops.users.models import User
from tests import factories

ACTOR = Actor(username="ana", user_id=7, agency="hha", roles=frozenset({"case_worker"}))


def test_an_entry_records_who_what_where_and_how_it_ended(app):
    origin = Origin(request_id="req-12345678", ip="10.1.2.3", user_agent="pytest-agent")
    with origin_scope(origin):
        event = record(
            "client.view",
            actor=ACTOR,
            outcome="denied",
            target_type="client",
            target_id="c1",
            client_id="c1",
            purpose="care_coordination",
            detail={"reasons": {"health": "no_consent"}},
        )
    [stored] = factories.events("client.view")
    assert stored.seq == event.seq
    assert (stored.actor, stored.actor_user_id, stored.actor_agency) == ("ana", 7, "hha")
    assert stored.actor_roles == ["case_worker"]
    assert (stored.outcome, stored.client_id, stored.purpose) == (
        "denied",
        "c1",
        "care_coordination",
    )
    assert (stored.request_id, stored.ip, stored.user_agent) == (
        "req-12345678",
        "10.1.2.3",
        "pytest-agent",
    )
    assert stored.detail == {"reasons": {"health": "no_consent"}}
    assert stored.occurred_at.tzinfo is not None


def test_sequence_numbers_increase_strictly(app):
    seqs = [record("test.tick", actor=ACTOR).seq for _ in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_unknown_outcome_is_a_programming_error(app):
    with pytest.raises(ValueError, match="outcome"):
        record("test.event", actor=ACTOR, outcome="maybe")


def test_an_independent_entry_survives_the_callers_rollback(app):
    factories.make_agency("hha")
    db.session.add(User(username="ghost", agency_id=1))
    db.session.flush()
    db.session.rollback()
    record("auth.login", actor=ACTOR, outcome="failure")
    assert [e.action for e in factories.events("auth.login")] == ["auth.login"]


def test_an_entry_in_the_callers_transaction_rolls_back_with_it(app):
    record("admin.change", actor=ACTOR, session=db.session)
    db.session.rollback()
    assert factories.events("admin.change") == []


@pytest.fixture
def broken_log(app, database_url):
    """Make every insert into the log fail in the database, as a full disk or lost
    permission would."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if database_url.startswith("sqlite"):
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION break_log() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "FOR EACH ROW EXECUTE FUNCTION break_log()"
                )
            )
    engine.dispose()


def test_writer_raises_audit_unavailable_when_the_log_cannot_be_written(broken_log):
    with pytest.raises(AuditUnavailable):
        record("client.view", actor=ACTOR)


def test_login_fails_closed_when_the_log_cannot_be_written(app, client, database_url):
    """No session (the protected thing a login hands out) leaves without its log entry."""
    factories.make_agency("hha")
    person = factories.make_user("hha.worker", "hha", ["case_worker"])
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
        },
    )
    page = client.get(response.headers["Location"])
    token = factories.csrf_token(page.get_data(as_text=True))

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE access_events"))  # the log is gone
    engine.dispose()

    response = client.post(
        "/login/second-factor", data={"code": person.code(), "csrf_token": token}
    )
    assert response.status_code == 503
    assert "audit unavailable" in response.get_data(as_text=True)
    # The session row was rolled back with the failed entry: the cookie unlocks nothing.
    assert client.get("/").status_code == 302
    from caseops.auth.models import UserSession

    db.session.expire_all()
    assert db.session.query(UserSession).count() == 0
