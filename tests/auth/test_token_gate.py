"""The token's gate: the SQL that lets a view's reads ride in the bearer token's own
statement (issue 20, ``caseops.auth.current.reads_ahead``).

Two properties carry the guarantee that nothing about a client is read for a caller not
yet known:

* the gate finds a row **exactly** when ``resolve_token`` accepts the token and answers
  the guessed user of the guessed agency — checked over every combination of the states
  a token and its user can be in (not a sample);
* when it finds none, PostgreSQL runs none of the reads behind it: read from PostgreSQL's
  own account of the statement (``EXPLAIN ANALYZE``: each scan of a client's table ran
  zero times), with a valid token as the control that shows the check can fail.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from caseops.auth import service
from caseops.auth.models import ApiToken
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.storage.pipeline import column_rows, drop_carried
from caseops.users.models import User
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.records import bearer

# expiry relative to the instant asked: none, passed, exactly now (expired: ``<=``), ahead
EXPIRIES = (None, timedelta(minutes=-5), timedelta(0), timedelta(minutes=5))


@pytest.fixture
def two_agencies(app):
    factories.make_agency("hha")
    factories.make_agency("cchc")
    factories.make_user("hha.worker", "hha", ["case_worker"])
    factories.make_user("cchc.worker", "cchc", ["case_worker"])


def _set_state(public_id: str, user_id: int, *, revoked: bool, expiry, active: bool, now):
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.public_id == public_id)
        .values(
            revoked_at=now - timedelta(minutes=1) if revoked else None,
            expires_at=None if expiry is None else now + expiry,
            # used recently: resolving writes nothing, so every combination starts alike
            last_used_at=now,
        )
    )
    db.session.execute(update(User).where(User.id == user_id).values(active=active))
    db.session.commit()


def test_the_gate_holds_exactly_when_the_token_is_accepted_as_the_guessed_caller(app, two_agencies):
    token = factories.token_for("hha.worker")
    _, public_id, secret = token.split("_", 2)
    hha = db.session.scalar(select(User).where(User.username == "hha.worker"))
    other = db.session.scalar(select(User).where(User.username == "cchc.worker"))
    hha_id, other_id = hha.id, other.id
    forged = f"cop_{public_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    unknown = f"cop_{'0' * len(public_id)}_{secret}"
    seen = {True: 0, False: 0}
    for revoked, expiry, active, raw, guess_user, guess_agency in itertools.product(
        (False, True),
        EXPIRIES,
        (True, False),
        (token, forged, unknown),
        (hha_id, other_id),
        ("hha", "cchc"),
    ):
        now = utcnow()
        _set_state(public_id, hha_id, revoked=revoked, expiry=expiry, active=active, now=now)
        parts = service._token_parts(raw)
        assert parts is not None
        statement, values = (
            service._TOKEN_GATE,
            {
                "public_id": parts[0],
                "secret_hash": service._hash_secret(parts[1]),
                "now": now,
                "user_id": guess_user,
                "agency": guess_agency,
            },
        )
        gate = bool(column_rows(db.session, statement, values))
        resolved = service.resolve_token(raw, now)
        accepted = (
            not isinstance(resolved, str)
            and resolved.id == guess_user
            and resolved.agency == guess_agency
        )
        assert gate == accepted, (revoked, expiry, active, raw == token, guess_user, guess_agency)
        seen[gate] += 1
    # both sides were reached: the valid token, not expired, active, guessed right
    assert seen[True] == 2 and seen[False] == 2 * 4 * 2 * 3 * 2 * 2 - 2


def test_the_recent_caller_is_remembered_only_for_an_accepted_value(app, two_agencies):
    token = factories.token_for("hha.worker")
    now = utcnow()
    assert service.recent_caller(token, now) is None  # never accepted in this process
    assert not isinstance(service.resolve_token(token, now), str)
    caller, (_, values) = service.recent_caller(token, now)
    assert (caller.username, values["agency"], values["now"]) == ("hha.worker", "hha", now)
    assert service.resolve_token(token + "x", now) == "unknown"
    assert service.recent_caller(token + "x", now) is None
    public_id = token.split("_")[1]
    db.session.execute(
        update(ApiToken).where(ApiToken.public_id == public_id).values(revoked_at=now)
    )
    db.session.commit()
    assert service.resolve_token(token, now) == "revoked"
    assert service.recent_caller(token, now) is None  # a refusal forgets it


def _scans(plan: dict) -> list[tuple[str, int]]:
    """(table, times its scan ran) for every scan in an EXPLAIN (FORMAT JSON) plan."""
    found = []
    if "Relation Name" in plan:
        found.append((plan["Relation Name"], plan.get("Actual Loops", 0)))
    for child in plan.get("Plans", ()):
        found.extend(_scans(child))
    return found


CALLER_TABLES = {"api_tokens", "users", "agencies", "policy_version"}


@pytest.mark.skipif(BACKEND != "postgres", reason="the one statement exists on PostgreSQL only")
def test_a_refused_token_runs_none_of_the_reads_behind_its_gate(
    app, client, maria_at_three_agencies, monkeypatch
):
    import psycopg

    from tests.fixtures.access import join_care_team
    from tests.fixtures.consents import consent_for

    maria = maria_at_three_agencies
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria)
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria}/record"
    for _ in range(3):  # the first views learn the plans, the gate and the one statement
        assert client.get(url, headers=bearer(token)).status_code == 200

    sent: list[tuple[str, list]] = []

    class Recording(psycopg.RawCursor):
        def execute(self, query, params=None, **kwargs):
            sent.append((query, list(params or ())))
            return super().execute(query, params, **kwargs)

    monkeypatch.setattr(psycopg, "RawCursor", Recording)

    def scans_of(response_status: int) -> list[tuple[str, int]]:
        gated = [(q, p) for q, p in sent if q.startswith("SELECT (CASE WHEN EXISTS")]
        assert len(gated) == 1, "the view's reads did not go behind the token's gate"
        query, params = gated[0]
        sent.clear()
        raw = db.session.connection().connection.driver_connection
        with psycopg.RawCursor(raw) as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
            (explained,) = cursor.fetchone()
        db.session.rollback()
        scans = _scans(explained[0]["Plan"])
        assert {table for table, _ in scans} - CALLER_TABLES  # the client's reads are there
        return scans

    assert client.get(url, headers=bearer(token)).status_code == 200
    accepted = scans_of(200)
    # the control: a caller accepted reads the client's tables (the check can fail)
    assert any(loops > 0 for table, loops in accepted if table not in CALLER_TABLES)

    public_id = token.split("_")[1]
    db.session.execute(
        update(ApiToken).where(ApiToken.public_id == public_id).values(revoked_at=utcnow())
    )
    db.session.commit()
    assert client.get(url, headers=bearer(token)).status_code == 401
    refused = scans_of(401)
    assert [(t, n) for t, n in refused if t not in CALLER_TABLES and n > 0] == []


def test_reads_sent_ahead_end_with_their_request(app, client, maria_at_three_agencies):
    """A request that reads ahead and then fails before its handler (422: no purpose)
    leaves nothing for the next request of the thread."""
    from caseops.storage import pipeline

    maria = maria_at_three_agencies
    token = factories.token_for("cchc.case_worker")
    for _ in range(3):
        client.get(f"/api/v1/clients/{maria}/record", headers=bearer(token))
    response = client.get(f"/api/v1/clients/{maria}/record?purpose=nonsense", headers=bearer(token))
    assert response.status_code == 422
    assert getattr(pipeline._state, "carried", None) is None
    drop_carried()


def test_a_guess_that_fails_costs_the_request_nothing(
    app, client, maria_at_three_agencies, monkeypatch
):
    """Reads ahead are a guess: if building them fails, the view answers as it would have,
    its handler reading for itself."""
    from contextlib import contextmanager

    from caseops.authz import policy

    maria = maria_at_three_agencies
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria}/record"
    expected = client.get(url, headers=bearer(token)).get_json()

    @contextmanager
    def broken():
        raise RuntimeError("no guess today")
        yield True  # pragma: no cover

    monkeypatch.setattr(policy, "last_loaded", broken)
    for _ in range(3):
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 200
        assert response.get_json()["sections"] == expected["sections"]
