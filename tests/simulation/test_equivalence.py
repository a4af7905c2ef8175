"""For random worlds, a simulation equals the live view: the same sections listed, the
same shown / withheld, the same reasons, bases, relationships and referrals (both asked in
the same database, the simulation first so it sees the state the view then decides on)."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.records import MARIA, bearer, put

RECORDS = [
    ("hha", "housing"),
    ("hha", "health"),
    ("cchc", "health"),
    ("cchc", "behavioral_health"),
    ("rrp", "substance_use"),
]
CONSENTS = [  # (source, category, recipient, purposes)
    ("cchc", "health", "hha", ["care_coordination"]),
    ("hha", "housing", "cchc", ["care_coordination", "treatment"]),
    ("rrp", "substance_use", "hha", ["treatment"]),
    ("cchc", "behavioral_health", "hha", ["treatment"]),
    ("hha", "health", "cchc", ["treatment"]),
]
VIEWERS = [
    "hha.case_worker",
    "hha.supervisor",
    "cchc.case_worker",
    "cchc.supervisor",
    "hha.consent_officer",
]
PURPOSES = ["care_coordination", "treatment"]
_people = itertools.count(1)


@pytest.fixture
def setting(world, client):
    for name, roles in (
        ("rrp.integration", ["integration"]),
        ("rrp.consent_officer", ["consent_officer"]),
        ("ops.privacy_officer", ["privacy_officer"]),
    ):
        factories.make_user(name, name.split(".")[0], roles)
    factories.grant_organisation_scope("privacy_officer", "ops", "audit")
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc", "rrp")}
    tokens = {
        name: factories.token_for(name)
        for name in [
            *VIEWERS,
            "ops.privacy_officer",
            "hha.consent_officer",
            "cchc.consent_officer",
            "rrp.consent_officer",
            "cchc.case_worker",
        ]
    }
    return feeds, tokens


def _person(n: int) -> dict:
    body = copy.deepcopy(MARIA)
    body["person"] |= {
        "given_name": f"Quinn{n}",
        "family_name": f"Tester{n}",
        "birth_date": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 9}",
        "ssn": f"{100 + n % 500:03d}-{10 + n % 80:02d}-{1000 + n % 9000:04d}",
        "phone": f"415-555-{2000 + n:04d}",
    }
    body["person"]["address"] = body["person"]["address"] | {"street_number": str(100 + n)}
    return body


def _listing(sections):
    return {
        (s["agency"], s["category"]): (
            s["status"] == "shown",
            s.get("reason"),
            s.get("basis"),
            s.get("relationship"),
            s.get("referral_id"),
        )
        for s in sections
    }


def _simulated(sections):
    return {
        (s["agency"], s["category"]): (
            s["would_show"],
            s["reason"],
            s["basis"],
            s["relationship"],
            s["referral_id"],
        )
        for s in sections
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.sets(st.sampled_from(RECORDS), min_size=1, max_size=4),
    consents=st.sets(st.sampled_from(range(len(CONSENTS))), max_size=3),
    care_team=st.sets(st.sampled_from(["hha.case_worker", "cchc.case_worker"]), max_size=2),
    viewer=st.sampled_from(VIEWERS),
    viewer_joins=st.booleans(),
    glass=st.sampled_from([False, False, True]),
    purpose=st.sampled_from(PURPOSES),
)
def test_simulation_equals_the_live_view(
    client, setting, records, consents, care_team, viewer, viewer_joins, glass, purpose
):
    feeds, tokens = setting
    n = next(_people)
    person = _person(n)
    client_id = None
    for i, (agency, category) in enumerate(sorted(records)):
        answer = put(
            client,
            feeds[agency],
            person | {"category": category, "data": {}},
            agency=agency,
            srid=f"{agency.upper()}-{n}-{i}",
        )
        assert answer.status_code in (200, 201), answer.get_json()
        got = answer.get_json()["client_id"]
        assert client_id in (None, got)
        client_id = got
    held = {a for a, _ in records}
    for index in sorted(consents):
        source, category, recipient, purposes = CONSENTS[index]
        if source not in held:
            continue
        body = {
            "provision": "permit",
            "source_agencies": [source],
            "categories": [category],
            "recipients": [recipient],
            "purposes": purposes,
            "effective_from": "2026-01-01T00:00:00Z",
            "expires_at": "2030-01-01T00:00:00Z",
            "grantor": {"kind": "self", "name": "Quinn"},
            "signed_at": "2026-01-01T00:00:00Z",
            "evidence": {"method": "written"},
            "revocation_right_acknowledged": True,
        }
        client.post(
            f"/api/v1/clients/{client_id}/consents",
            json=body,
            headers=bearer(tokens[f"{source}.consent_officer"]),
        )
    for worker in sorted(care_team | ({viewer} if viewer_joins else set())):
        join_care_team(client, worker, client_id)  # refused when the agency holds no record
    if glass:  # refused for roles that may not break the glass, or a client hidden
        client.post(
            f"/api/v1/clients/{client_id}/break-glass",
            json={
                "justification": "Client collapsed at the shelter, needs history now.",
                "purpose": purpose,
            },
            headers=bearer(tokens[viewer]),
        )

    simulated = client.post(
        "/api/v1/simulate/view",
        json={"username": viewer, "client_id": client_id, "purpose": purpose},
        headers=bearer(tokens["ops.privacy_officer"]),
    )
    assert simulated.status_code == 200, simulated.get_json()
    sim = simulated.get_json()
    live = view(client, viewer, client_id, purpose)
    expected_outcome = {200: "view", 404: "not_found", 403: "refused"}[live.status_code]
    assert sim["outcome"] == expected_outcome
    event(f"outcome {sim['outcome']}")
    event(f"shown {sum(s['would_show'] for s in sim['sections'])}")
    if live.status_code == 200:
        assert _simulated(sim["sections"]) == _listing(live.get_json()["sections"])
