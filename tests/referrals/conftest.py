"""Maria at hha (housing and economic security), cchc and rrp (Part 2); hha's worker on
her care team; rrp's supervisor for the Part 2 recipient cases."""

from __future__ import annotations

import copy

import pytest

from tests import factories
from tests.fixtures.access import join_care_team, three_agency_maria
from tests.fixtures.records import MARIA, put


@pytest.fixture
def maria(world, client):
    client_id = three_agency_maria(client)
    benefits = copy.deepcopy(MARIA) | {
        "category": "economic_security",
        "data": {"benefits": ["SNAP"], "income_monthly": "1200.00"},
    }
    feed = factories.token_for("hha.integration")
    written = put(client, feed, benefits, srid="H-2").get_json()
    assert written["client_id"] == client_id, written
    factories.make_user("rrp.supervisor", "rrp", ["supervisor"])
    assert join_care_team(client, "hha.case_worker", client_id).status_code == 201
    return client_id
