"""The demo shows 42 CFR Part 2 as amended in 2024: Daniel's single TPO consent under the
general designation reaches the treating provider on his care team, and no one else."""

from __future__ import annotations

from caseops.access import service as access
from caseops.audit import part2_list
from caseops.auth.service import actor_for
from caseops.demo.clients import seed_clients
from caseops.demo.part2 import seed_part2
from caseops.demo.seed import seed
from caseops.users.service import get_user


def actor(username):
    return actor_for(get_user(username))


def listed(view):
    return {(s["agency"], s["category"]): s for s in view["sections"]}


def test_the_demo_patient_is_seen_by_the_treating_provider_on_the_care_team_only(app):
    seed()
    seed_clients()
    assert "Daniel Reyes" in seed_part2()
    assert "already present" in seed_part2()
    [request] = part2_list.open_requests(actor("rrp.consent"))
    daniel = request["client_id"]
    assert request["days_left"] == 30

    treating = listed(access.view_record(actor("cchc.worker"), daniel, "treatment"))
    assert treating[("rrp", "substance_use")]["status"] == "shown"
    assert "42 CFR part 2" in treating[("rrp", "substance_use")]["notice"]
    # not TPO: the single consent does not reach it, and the section is not even listed
    other = listed(access.view_record(actor("cchc.worker"), daniel, "care_coordination"))
    assert ("rrp", "substance_use") not in other
    # a treating provider without the relationship: nothing of rrp's record
    clinic = listed(access.view_record(actor("bmc.worker"), daniel, "treatment"))
    assert ("rrp", "substance_use") not in clinic
    assert clinic[("bmc", "health")]["reason"] == "no_relationship"

    answer = part2_list.produce(actor("rrp.consent"), daniel)
    assert [i["recipient_agency"] for i in answer["items"]] == ["cchc", "cchc"]
