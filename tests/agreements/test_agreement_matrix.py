"""The matrix of issue 22 against the live decision, through the API, on a new installation:

agreement states {none, pending, active, expired, terminated, amended narrower}
  x consent states {none, active, revoked}
  x agency pairs {own, cross, Part 2 program}
  x {without, with a waiver}.

Each agreement state is held by its own pair of source agencies (a plain one holding
housing, a Part 2 program holding substance use) with the recipient ``rcp``; the recipient
``wvd`` has a waiver with every source (the policy rule an upgrade writes). Each consent
state is its own client. Readers are case workers on each client's care team.
"""

from __future__ import annotations

from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.agreements import (
    accept,
    active_agreement,
    amend_accepted,
    expired_agreement,
    make_new_install,
    record_agreement,
    terminate,
)
from tests.fixtures.consents import permit
from tests.fixtures.records import MARIA, bearer, put

STATES = ["none", "pending", "active", "expired", "terminated", "amended"]
CONSENTS = ["none", "active", "revoked"]
RECIPIENTS = {"rcp": False, "wvd": True}  # recipient -> waived with every source
PLAIN, PART2 = "housing", "substance_use"


def _sources() -> dict[str, tuple[str, str, bool]]:
    """source agency -> (agreement state, category it holds, is a Part 2 program)."""
    out = {}
    for state in STATES:
        out[f"s{state}"] = (state, PLAIN, False)
        out[f"q{state}"] = (state, PART2, True)
    return out


SOURCES = _sources()


def _person(n: int) -> dict:
    who = dict(MARIA)
    who["person"] = dict(MARIA["person"]) | {
        "given_name": ["Ana", "Bea", "Cleo"][n],
        "family_name": ["Arden", "Brook", "Crane"][n],
        "birth_date": f"198{n}-0{n + 1}-1{n}",
        "ssn": f"55{n}-4{n}-66{n}{n}",
        "phone": f"415-555-02{n}{n}",
    }
    return who


def _build(client) -> dict[str, str]:
    agencies = {code: {"part2_program": part2} for code, (_, _, part2) in SOURCES.items()}
    agencies |= {code: {} for code in RECIPIENTS}
    make_new_install(agencies)
    _waive_recipient("wvd")
    feeds = {code: factories.token_for(f"{code}.integration") for code in agencies}
    clients = {}
    for n, state in enumerate(CONSENTS):
        who = _person(n)
        client_id = None
        for code in agencies:
            category = SOURCES[code][1] if code in SOURCES else PLAIN
            body = dict(who) | {"category": category, "data": {"notes": f"{code}-{state}"}}
            response = put(client, feeds[code], body, agency=code, srid=f"{code}-{n}")
            assert response.status_code in (200, 201), response.get_json()
            assert client_id in (None, response.get_json()["client_id"])
            client_id = response.get_json()["client_id"]
        clients[state] = client_id
        for recipient in RECIPIENTS:
            assert join_care_team(client, f"{recipient}.case_worker", client_id).status_code == 201
        if state == "none":
            continue
        for code, (_, category, _) in SOURCES.items():
            officer = bearer(factories.token_for(f"{code}.consent_officer"))
            recorded = client.post(
                f"/api/v1/clients/{client_id}/consents",
                json=permit(
                    source_agencies=[code], categories=[category], recipients=list(RECIPIENTS)
                ),
                headers=officer,
            )
            assert recorded.status_code == 201, recorded.get_json()
            if state == "revoked":
                revoked = client.post(
                    f"/api/v1/consents/{recorded.get_json()['id']}/revoke",
                    json={"reason": "The client withdrew."},
                    headers=officer,
                )
                assert revoked.status_code == 200, revoked.get_json()
    for code, (state, category, _) in SOURCES.items():
        parties = [code, "rcp"]
        if state == "pending":
            accept(client, record_agreement(client, parties, categories=[category]), code)
        elif state == "active":
            active_agreement(client, parties, categories=[category])
        elif state == "expired":
            expired_agreement(parties, [category])
        elif state == "terminated":
            agreement_id = active_agreement(client, parties, categories=[category])
            assert terminate(client, agreement_id, "rcp.agency_admin").status_code == 200
        elif state == "amended":
            agreement_id = active_agreement(client, parties, categories=[category, "health"])
            amend_accepted(client, agreement_id, parties, ["health"])  # narrower: no longer
    return clients


def _waive_recipient(recipient: str) -> None:
    """The waivers an upgrade writes, for ``recipient`` with every source (Casbin rules)."""
    from caseops.agreements import waivers
    from caseops.authz import policy
    from caseops.authz.models import CasbinRule
    from caseops.extensions import db

    for source in SOURCES:
        rule = waivers.rule_for(source, recipient)
        db.session.add(
            CasbinRule(ptype="p", v0=rule["sub"], v1="*", v2=rule["obj"], v3="waive", v4="allow")
        )
    policy.bump_version(db.session)
    db.session.commit()


def _expected(agreement: str, consent: str, part2: bool, waived: bool) -> tuple[str, str | None]:
    """(status, reason): status ``shown``, ``withheld`` or ``hidden`` (not listed)."""
    agreed = waived or agreement == "active"
    consented = consent == "active"
    if part2 and not consented:
        return "hidden", None  # Part 2: not listed unless a consent lets this agency know
    if not agreed:
        return "withheld", "no_agreement"
    if not consented:
        return "withheld", {"none": "no_consent", "revoked": "consent_revoked"}[consent]
    return "shown", None


def test_agreement_states_x_consent_states_x_pairs_x_waiver(client, app):
    clients = _build(client)
    failures, cells = [], 0
    for consent_state, client_id in clients.items():
        for recipient, waived in RECIPIENTS.items():
            got = sections(view(client, f"{recipient}.case_worker", client_id))
            own = got.get((recipient, PLAIN))
            cells += 1
            if not own or own["status"] != "shown":
                failures.append(f"{recipient} own record, consent {consent_state}: {own}")
            for source, (agreement, category, part2) in SOURCES.items():
                cells += 1
                status, reason = _expected(agreement, consent_state, part2, waived)
                section = got.get((source, category))
                actual = (
                    ("hidden", None)
                    if section is None
                    else (
                        section["status"],
                        section.get("reason"),
                    )
                )
                if actual != (status, reason):
                    failures.append(
                        f"{recipient} <- {source} (agreement {agreement}, consent "
                        f"{consent_state}, waived {waived}): got {actual}, want {(status, reason)}"
                    )
                if section is not None and section["status"] == "shown":
                    assert section["data"]["notes"] == f"{source}-{consent_state}"
    assert cells == len(CONSENTS) * len(RECIPIENTS) * (1 + len(SOURCES))
    assert not failures, "\n".join(failures)
