"""A waiver of agreements is a policy rule that can newly show cross-agency sections, so the
policy-change guard replays it like a record rule (issue 19 item 6 x issue 22): adding one
that would open a section a worker saw withheld as ``no_agreement`` needs the explicit,
logged confirmation; removing one only withholds and is saved as before."""

from __future__ import annotations

from caseops.agreements import waivers
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import consent_for
from tests.fixtures.policies import change, policy_version

REASON = "The agencies share under consent alone (board minute 7)."


def _waiver() -> dict:
    return waivers.rule_for("hha", "cchc") | {"eft": "allow"}


def test_a_waiver_that_newly_shows_a_section_needs_confirmation(client, new_install):
    maria = new_install
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria, by="hha", recipients=["cchc"])
    before = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert before["reason"] == "no_agreement"
    version = policy_version()

    refused = change(client, "post", _waiver())
    assert refused.status_code == 409, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "confirmation_required"
    assert error["details"]["newly_shown"] == ["hha/housing: 1"]
    assert policy_version() == version  # nothing saved
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["reason"] == (
        "no_agreement"
    )

    token = error["details"]["confirmation_token"][0]
    saved = change(client, "post", _waiver(), confirm_disclosure=token, reason=REASON)
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["confirmed_disclosure"]["newly_shown"] == [
        {"agency": "hha", "category": "housing", "count": 1}
    ]
    shown = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert shown["status"] == "shown"

    # Removing it again only withholds: saved without confirmation, counted as withheld.
    removed = change(client, "delete", _waiver())
    assert removed.status_code in (200, 204), removed.get_json()
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["reason"] == (
        "no_agreement"
    )
