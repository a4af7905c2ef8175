"""Round trips to PostgreSQL per request on the hot paths, counted from the wire (libpq's
protocol trace, ``tests/fixtures/roundtrips.py``) so the number cannot creep back
(issue 20). A view costs two exchanges: one statement reads the caller (token, user,
policy version) and, behind a gate equal to the token's acceptance, everything the
decision needs (``caseops.auth.current.reads_ahead``); the log entry's commit is the
second. The client's reads run only for a caller the token's resolution accepts, so a
refused token's timing cannot depend on a client's records (tests/auth/test_token_gate.py
reads PostgreSQL's own account of that).

SQLite has no network round trip to count: these run in the PostgreSQL pass of
``make test`` (``.ci/run`` runs both)."""

from __future__ import annotations

import copy

import pytest

from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.access import join_care_team, sections
from tests.fixtures.consents import consent_for
from tests.fixtures.pages import signed_in
from tests.fixtures.records import MARIA, bearer, put
from tests.fixtures.roundtrips import round_trips

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="round trips exist on PostgreSQL only (the PostgreSQL pass)"
)

# reads (the caller, and behind its gate the decision's) + the log entry's commit
VIEW_ROUND_TRIPS = 2
# what the caller and the decision read in their one exchange: the token with its user and
# the policy version, the client known, its consents and their attestations, the client's
# facts, records and notes. Once each read's plan and shape are known (a process's first
# views learn them) they go as ONE statement (caseops.storage.pipeline: one wait on the
# socket, not one per read).
VIEW_READ_STATEMENTS = 1
# a process's first requests learn the reads' plans and shapes and the token's gate
WARM_UP = 3


@pytest.fixture
def maria(maria_at_three_agencies, client):
    join_care_team(client, "cchc.case_worker", maria_at_three_agencies)
    consent_for(client, maria_at_three_agencies)
    return maria_at_three_agencies


def someone(given: str, family: str, birth: str, ssn: str, category: str) -> dict:
    """A person nobody would link to Maria."""
    body = copy.deepcopy(MARIA) | {"category": category}
    body["person"] |= {"given_name": given, "family_name": family, "birth_date": birth}
    body["person"] |= {"ssn": ssn, "phone": "415-555-0" + ssn[-3:]}
    body["person"]["address"] |= {"street_number": ssn[-2:], "street": f"{family} St"}
    if category == "health":
        body["data"] = {"conditions": ["asthma"], "notes": "inhaler"}
    if category == "substance_use":
        body["data"] = {"program": "outpatient", "substances": ["opioids"]}
    return body


def revoke(app, token: str) -> None:
    """Revoke the bearer token as its holder's administrator would, committed."""
    from caseops.auth.models import ApiToken
    from caseops.db_types import utcnow
    from caseops.extensions import db

    public_id = token.split("_")[1]
    with app.app_context():
        row = db.session.query(ApiToken).filter_by(public_id=public_id).one()
        row.revoked_at = utcnow()
        db.session.commit()


def counted(app, client, method: str, url: str, token: str, **kwargs):
    """(round trips of one request, its response), on a warm pool and with the reads'
    plans learnt: the first requests open the connections and learn them, the next is
    counted."""
    from caseops.extensions import db
    from caseops.storage.pools import side_engine

    with app.app_context():
        engines = (db.engine, side_engine(db.engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"]))
    with app.app_context(), round_trips(*engines) as trace:
        for _ in range(WARM_UP):
            client.open(url, method=method, headers=bearer(token), **kwargs)
        before = trace.count
        response = client.open(url, method=method, headers=bearer(token), **kwargs)
        return trace.count - before, response


def test_a_consented_view_costs_two_round_trips(app, client, maria):
    token = factories.token_for("cchc.case_worker")
    trips, response = counted(app, client, "GET", f"/api/v1/clients/{maria}/record", token)
    shown = sections(response)
    assert shown[("hha", "housing")]["status"] == "shown"  # a real disclosure was counted
    assert shown[("cchc", "health")]["status"] == "shown"
    assert trips == VIEW_ROUND_TRIPS


def test_a_view_reads_in_one_statement_and_a_refused_token_reads_no_client(app, client, maria):
    """The token, its user, their agency, the policy version and the decision's six reads
    are one statement (no pipeline), then the log entry. A token refused reads the token
    alone (and logs the refusal), whether it is forged or was accepted before and is
    revoked now."""
    from caseops.extensions import db
    from caseops.storage.pools import side_engine

    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria}/record"
    with app.app_context():
        engines = (db.engine, side_engine(db.engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"]))
    with app.app_context(), round_trips(*engines) as trace:
        for _ in range(WARM_UP):  # a process's first views learn the plans and shapes
            client.get(url, headers=bearer(token))
        before = trace.statements
        response = client.get(url, headers=bearer(token))
        viewed = trace.statements - before
        before = trace.statements
        forged = client.get(url, headers=bearer(token + "x"))
        forging = trace.statements - before
        revoke(app, token)
        before = trace.statements
        revoked = client.get(url, headers=bearer(token))
        revoking = trace.statements - before
    assert response.status_code == 200
    assert forged.status_code == revoked.status_code == 401
    assert viewed == VIEW_READ_STATEMENTS + 1
    # a refused token: one statement and the log entry of the refusal (what that statement
    # ran for a token accepted before: tests/auth/test_token_gate.py)
    assert forging == revoking == 2


def test_the_fingerprint_poll_costs_two_round_trips(app, client, maria):
    token = factories.token_for("cchc.case_worker")
    url = f"/api/v1/clients/{maria}/record/fingerprint"
    trips, response = counted(app, client, "GET", url, token)
    assert response.status_code == 200 and response.get_json()["fingerprint"]
    assert trips == VIEW_ROUND_TRIPS


def test_a_hidden_client_costs_what_an_unknown_one_does(app, client, maria):
    """404 either way, and the same work on the wire: the count does not tell them apart."""
    token = factories.token_for("hha.case_worker")  # rrp's Part 2 record alone: hidden
    only_part2 = someone("Ines", "Okafor", "1990-07-01", "555-11-2222", "substance_use")
    feed = factories.token_for("rrp.integration")
    hidden = put(client, feed, only_part2, agency="rrp", srid="R-9").get_json()["client_id"]
    hidden_trips, hidden_answer = counted(
        app, client, "GET", f"/api/v1/clients/{hidden}/record", token
    )
    unknown_trips, unknown_answer = counted(
        app, client, "GET", "/api/v1/clients/0123456789abcdef0123456789abcdef/record", token
    )
    assert hidden_answer.status_code == unknown_answer.status_code == 404
    assert hidden_trips == unknown_trips


def test_authenticating_costs_one_round_trip_for_a_token_and_for_a_browser(app, client, world):
    """Every signed-in request, the event stream's included, pays one exchange to know its
    caller: a bearer token with its user, agency and the policy version in one statement;
    a browser session with its user and the policy version in one pipeline. Counted on
    requests the event stream refuses after authenticating and before its own work (a bad
    ``Last-Event-ID``: 422), so nothing but authentication reaches the database."""
    from caseops.extensions import db

    refused = {"Last-Event-ID": "abc"}
    token = factories.token_for("hha.case_worker")
    browser = signed_in(app, world, "hha.case_worker")
    counts = {}
    with app.app_context():
        engine = db.engine
    for kind, send in (
        ("token", lambda: client.get("/api/v1/me/events", headers=bearer(token) | refused)),
        ("browser", lambda: browser.get("/api/v1/me/events", headers=refused)),
    ):
        with app.app_context(), round_trips(engine) as trace:
            for _ in range(WARM_UP):
                assert send().status_code == 422
            before = trace.count
            response = send()
            counts[kind] = trace.count - before
        assert "Last-Event-ID" in response.get_json()["error"]["details"]
    assert counts == {"token": 1, "browser": 1}


def test_the_notifications_poll_costs_two_round_trips(app, client, world):
    """The event stream's list form, for callers that cannot hold a stream: the caller,
    then its notifications; no transaction around either."""
    token = factories.token_for("hha.case_worker")
    trips, response = counted(app, client, "GET", "/api/v1/me/notifications", token)
    assert response.status_code == 200 and response.get_json() == []
    assert trips == 2


# the caller, the hits, the consents of hits another agency's Part 2 record may hide
# (read for no client when there is none: the time taken says nothing), the log entry
SEARCH_ROUND_TRIPS = 4


def test_search_costs_four_round_trips(app, client, maria):
    token = factories.token_for("hha.case_worker")
    feed = factories.token_for("hha.integration")
    rosa = someone("Rosa", "Lindqvist", "1975-05-05", "321-54-9876", "housing")
    assert put(client, feed, rosa, srid="H-7").status_code in (200, 201)
    trips, response = counted(app, client, "GET", "/api/v1/clients?q=lindqvist", token)
    assert [hit["name"] for hit in response.get_json()] == ["Rosa Lindqvist"]
    assert trips == SEARCH_ROUND_TRIPS


def test_hidden_part2_hits_change_nothing_in_the_exchanges_of_a_search(app, client, maria):
    """A hit whose only record is another agency's Part 2 record is shown only if a
    consent names the searcher's agency: the consents of all such hits are read in one
    exchange, which happens anyway — none, one or two hidden hits cost the same."""
    token = factories.token_for("hha.case_worker")
    none, response = counted(app, client, "GET", "/api/v1/clients?q=sorensen", token)
    assert response.get_json() == []
    feed = factories.token_for("rrp.integration")
    put(
        client,
        feed,
        someone("Ana", "Sorensen", "1981-02-02", "444-55-6666", "substance_use"),
        agency="rrp",
        srid="R-2",
    )
    one, response = counted(app, client, "GET", "/api/v1/clients?q=sorensen", token)
    assert response.get_json() == []  # hidden: no consent names hha
    put(
        client,
        feed,
        someone("Eva", "Sorensen", "1982-03-03", "777-88-9999", "substance_use"),
        agency="rrp",
        srid="R-3",
    )
    two, response = counted(app, client, "GET", "/api/v1/clients?q=sorensen", token)
    assert response.get_json() == []
    assert none == one == two == SEARCH_ROUND_TRIPS


def test_the_caseload_does_not_cost_a_round_trip_per_client(app, client, maria):
    """The "changed since my last view" marks decide every client in one pipeline: three
    viewed clients cost what one does."""
    token = factories.token_for("cchc.case_worker")
    client.get(f"/api/v1/clients/{maria}/record", headers=bearer(token))
    one, response = counted(app, client, "GET", "/api/v1/me/caseload", token)
    assert len(response.get_json()["clients"]) == 1
    feed = factories.token_for("cchc.integration")
    for given, ssn in (("Rosa", "111-22-3333"), ("Lena", "222-33-4444")):
        body = someone(given, f"Family{given}", "1970-01-0" + ssn[0], ssn, "health")
        other = put(client, feed, body, agency="cchc", srid=f"C-{given}").get_json()["client_id"]
        join_care_team(client, "cchc.case_worker", other)
        client.get(f"/api/v1/clients/{other}/record", headers=bearer(token))
    three, response = counted(app, client, "GET", "/api/v1/me/caseload", token)
    listed = response.get_json()["clients"]
    assert len(listed) == 3
    assert not any(entry["changed_since_my_last_view"] for entry in listed)
    assert three == one


def test_reads_sent_ahead_that_are_not_the_handlers_answer_nothing(app, client, maria, monkeypatch):
    """The reads sent with the token are a guess: when they are not exactly the handler's
    (here for another client the caller also sees, or for the same client at another
    instant) they cost the round trip they would have saved, and the handler's answer is
    its own."""
    from datetime import timedelta

    from caseops.access import service as access
    from caseops.auth.current import READS_AHEAD_ATTR

    token = factories.token_for("cchc.case_worker")
    feed = factories.token_for("cchc.integration")
    body = someone("Rosa", "Lindqvist", "1975-05-05", "321-54-9876", "health")
    other = put(client, feed, body, agency="cchc", srid="C-R").get_json()["client_id"]
    join_care_team(client, "cchc.case_worker", other)
    url = f"/api/v1/clients/{maria}/record"
    trips, response = counted(app, client, "GET", url, token)
    assert trips == VIEW_ROUND_TRIPS
    expected = response.get_json()["sections"]
    handler = app.view_functions["access.view_record"]
    for guess in (
        lambda actor, args, at: access.view_reads(actor, other, at),
        lambda actor, args, at: access.view_reads(
            actor, args["client_id"], at - timedelta(seconds=1)
        ),
    ):
        monkeypatch.setattr(handler, READS_AHEAD_ATTR, guess)
        trips, response = counted(app, client, "GET", url, token)
        assert response.status_code == 200
        assert response.get_json()["sections"] == expected
        assert trips == VIEW_ROUND_TRIPS + 1
