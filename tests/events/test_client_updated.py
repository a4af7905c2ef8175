"""``client.updated``: a record change reaches exactly the workers who see that section,
decided by the record view's own decision; nothing else reaches anyone."""

from __future__ import annotations

import copy

from caseops.events.models import RecordChange
from caseops.extensions import db
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import consent_for
from tests.fixtures.events import housing_update
from tests.fixtures.records import MARIA


def health_update(version: int) -> dict:
    body = copy.deepcopy(MARIA) | {"category": "health", "source_version": version}
    body["data"] = {"conditions": ["asthma", "flu"], "notes": "new inhaler"}
    return body


def test_a_change_to_a_section_the_worker_sees_tells_them_with_the_client_id_only(
    events, maria_in_care
):
    events.write("hha", "H-1", housing_update(2))
    assert events.drain() == 1
    (notice,) = events.list("hha.case_worker")
    assert notice["kind"] == "client.updated"
    assert notice["data"] == {"client_id": maria_in_care}
    assert set(notice) == {"id", "kind", "created_at", "data"}


def test_a_change_to_a_section_the_worker_cannot_see_tells_nobody(events, maria_in_care):
    # cchc's health record: hha has no consent for it, so its change is not hha's business
    events.write("cchc", "C-1", health_update(2))
    assert events.drain() == 0
    assert events.list("hha.case_worker") == []
    # rrp's Part 2 record: not even listed for hha
    treatment = copy.deepcopy(MARIA) | {"category": "substance_use", "source_version": 2}
    treatment["data"] = {"program": "residential"}
    events.write("rrp", "R-1", treatment)
    assert events.drain() == 0
    assert events.list("hha.case_worker") == []


def test_another_agency_without_a_relationship_hears_nothing(events, maria_in_care):
    events.write("hha", "H-1", housing_update(2))
    events.drain()
    for other in ("cchc.case_worker", "cchc.supervisor", "rrp.case_worker", "hha.supervisor"):
        assert events.list(other) == [], other


def test_another_agencys_change_is_news_exactly_when_the_view_shows_it(
    events, client, maria_in_care
):
    """The notifier asks the record view's decision: whatever that decides for cchc's
    worker about hha's housing (consent, and whatever else the decision requires), the
    event follows it."""
    join_care_team(client, "cchc.case_worker", maria_in_care)
    events.write("hha", "H-1", housing_update(2))
    events.drain()
    assert events.kinds("cchc.case_worker") == []  # no consent yet: housing withheld
    consent_for(client, maria_in_care)  # hha housing -> cchc, attested
    shown = sections(view(client, "cchc.case_worker", maria_in_care))[("hha", "housing")]
    events.write("hha", "H-1", housing_update(3))
    events.drain()
    expected = ["client.updated"] if shown["status"] == "shown" else []
    assert events.kinds("cchc.case_worker") == expected, shown


def test_withdrawing_a_shown_record_tells_the_worker(events, client, maria_in_care):
    response = client.delete(
        "/api/v1/agencies/hha/records/H-1",
        headers={"Authorization": f"Bearer {events.feed('hha')}"},
    )
    assert response.status_code == 200, response.get_json()
    assert events.drain() == 1
    assert events.kinds("hha.case_worker") == ["client.updated"]


def test_the_queue_is_consumed_once(events, maria_in_care):
    events.write("hha", "H-1", housing_update(2))
    assert db.session.query(RecordChange).count() == 1
    assert events.drain() == 1
    assert db.session.query(RecordChange).count() == 0
    assert events.drain() == 0
    assert len(events.list("hha.case_worker")) == 1
