"""Access volume per day and anomaly flags: who may ask, the counts, each flag, logged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseops.audit import service
from caseops.audit.service import record
from caseops.authz.actor import Actor
from tests import factories
from tests.fixtures.consents import break_glass
from tests.fixtures.records import bearer

PATH = "/api/v1/audit/activity"
DAY1 = datetime(2026, 1, 5, tzinfo=UTC)
PERIOD = {"since": "2026-01-05T00:00:00+00:00", "until": "2026-01-07T00:00:00+00:00"}


def worker(name: str, agency: str) -> Actor:
    return Actor(username=name, agency=agency, roles=frozenset({"case_worker"}))


def officer() -> dict[str, str]:
    return bearer(factories.token_for("hha.privacy_officer"))


@pytest.fixture
def views(world, monkeypatch):
    """Views written at chosen times (the writer's clock is set per entry), read by hha's
    privacy officer with organisation-wide scope (cchc's dan is in the counts)."""
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")

    def at(when: datetime, who: Actor, client_id: str, reasons=None, action="client.view"):
        monkeypatch.setattr(service, "utcnow", lambda: when)
        return record(action, actor=who, client_id=client_id, detail={"reasons": reasons or {}}).seq

    amy, ben, cat = worker("amy", "hha"), worker("ben", "hha"), worker("cat", "hha")
    dan = worker("dan", "cchc")
    noon = DAY1.replace(hour=12)
    seqs = {
        "amy_night": at(DAY1.replace(hour=3), amy, "c1"),
        "ben_unrelated": at(noon, ben, "c2", {"cchc/health": "no_relationship"}),
    }
    at(noon, amy, "c1")
    for i in range(10):  # cat: 10 distinct clients against an hha median of 1
        at(noon.replace(day=6), cat, f"k{i}")
    for i in range(20):  # dan is cchc's only viewer: no norm, no flag
        at(noon.replace(day=6), dan, f"d{i}")
    at(noon.replace(day=6, hour=18, minute=59), amy, "c1")  # still working hours
    at(noon.replace(day=7), amy, "c1")  # after the period
    at(noon, amy, "c1", action="client.view_check")  # not a view
    at(DAY1.replace(hour=19), cat, "search", action="client.search")  # not a view
    monkeypatch.undo()
    return seqs


@pytest.mark.parametrize(
    "username",
    ["hha.case_worker", "hha.supervisor", "hha.agency_admin", "hha.system_admin"],
)
def test_only_privacy_officers_see_activity(client, views, username):
    response = client.get(PATH, headers=bearer(factories.token_for(username)))
    assert response.status_code == 403
    assert client.get(PATH).status_code == 401


def test_counts_per_day_agency_and_user(client, views):
    response = client.get(PATH, query_string=PERIOD, headers=officer())
    assert response.status_code == 200
    body = response.get_json()
    first, second = body["days"]
    assert first == {
        "date": "2026-01-05",
        "views": 3,
        "agencies": {"hha": 3},
        "users": {"amy": 2, "ben": 1},
    }
    assert second["date"] == "2026-01-06"
    assert second["views"] == 31
    assert second["agencies"] == {"cchc": 20, "hha": 11}
    assert second["users"] == {"amy": 1, "cat": 10, "dan": 20}
    users = {u["username"]: u for u in body["users"]}
    assert users["amy"] == {"username": "amy", "agency": "hha", "views": 3, "distinct_clients": 1}
    assert users["dan"]["distinct_clients"] == 20


def test_flags_and_their_explanations(client, views):
    body = client.get(PATH, query_string=PERIOD, headers=officer()).get_json()
    flags = {(f["kind"], f.get("username")): f for f in body["flags"]}
    assert set(flags) == {("high_volume", "cat"), ("off_hours", "amy"), ("no_relationship", "ben")}
    high = flags[("high_volume", "cat")]
    assert high["count"] == 10 and high["agency_median"] == 1
    assert "median" in high["explanation"]
    assert flags[("off_hours", "amy")]["seqs"] == [views["amy_night"]]
    assert flags[("no_relationship", "ben")]["seqs"] == [views["ben_unrelated"]]
    assert set(body["rules"]) == {
        "high_volume",
        "off_hours",
        "no_relationship",
        "unreviewed_break_glass",
    }
    assert body["working_hours_utc"] == [7, 19]


def test_unreviewed_break_glass_is_flagged_until_reviewed(client, maria):
    grant = break_glass(client, "hha.supervisor", maria)
    body = client.get(PATH, headers=officer()).get_json()
    [flag] = [f for f in body["flags"] if f["kind"] == "unreviewed_break_glass"]
    assert flag["grant_ids"] == [grant] and flag["count"] == 1
    reviewed = client.post(
        f"/api/v1/audit/break-glass/{grant}/review",
        json={"decision": "acknowledge", "note": "Confirmed with ER"},
        headers=officer(),
    )
    assert reviewed.status_code == 201
    body = client.get(PATH, headers=officer()).get_json()
    assert [f for f in body["flags"] if f["kind"] == "unreviewed_break_glass"] == []


def test_period_is_validated_and_the_request_logged(client, views):
    bad = {"since": PERIOD["until"], "until": PERIOD["since"]}
    assert client.get(PATH, query_string=bad, headers=officer()).status_code == 422
    long = {"since": "2020-01-01T00:00:00Z", "until": PERIOD["until"]}
    assert client.get(PATH, query_string=long, headers=officer()).status_code == 422
    client.get(PATH, query_string=PERIOD, headers=officer())
    [entry] = factories.events("audit.activity")
    assert entry.actor == "hha.privacy_officer"
    assert entry.detail["views"] == 34 and entry.detail["flags"] == 3
