"""``CASEOPS_TIME_ZONE``: checked at start-up, used by every page, never by the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseops.config import ConfigError, load_settings
from caseops.ui import display

BASE = {"CASEOPS_ENV": "test"}


def test_an_unknown_zone_stops_the_start_naming_the_variable():
    with pytest.raises(ConfigError, match=r"CASEOPS_TIME_ZONE.*Mars/Olympus"):
        load_settings(BASE | {"CASEOPS_TIME_ZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="CASEOPS_TIME_ZONE"):
        load_settings(BASE | {"CASEOPS_TIME_ZONE": "../../etc/passwd"})


def test_default_is_utc_and_a_zone_is_kept():
    assert load_settings(BASE).time_zone == "UTC"
    assert load_settings(BASE | {"CASEOPS_TIME_ZONE": "America/Chicago"}).time_zone == (
        "America/Chicago"
    )


def test_pages_show_the_deployments_local_time(app):
    moment = datetime(2026, 1, 15, 15, 30, tzinfo=UTC)
    assert display.when(moment) == "2026-01-15 15:30 UTC"
    app.config["CASEOPS_TIME_ZONE"] = "America/Chicago"
    try:
        assert display.when(moment) == "2026-01-15 09:30 CST"
        assert display.when(datetime(2026, 7, 15, 15, 30, tzinfo=UTC)) == "2026-07-15 10:30 CDT"
        tag = str(display.time_tag(moment))
        assert 'datetime="2026-01-15T15:30:00+00:00"' in tag and "09:30 CST" in tag
    finally:
        app.config["CASEOPS_TIME_ZONE"] = "UTC"


def test_the_api_stays_iso_8601_with_offsets(app, world, client):
    from tests import factories
    from tests.fixtures.records import bearer

    app.config["CASEOPS_TIME_ZONE"] = "Europe/Paris"
    try:
        response = client.get(
            "/api/v1/referrals", headers=bearer(factories.token_for("hha.case_worker"))
        )
        users = client.get(
            "/api/v1/users/hha.case_worker", headers=bearer(factories.token_for("hha.agency_admin"))
        ).get_json()
    finally:
        app.config["CASEOPS_TIME_ZONE"] = "UTC"
    assert response.status_code == 200
    assert users["created_at"].endswith("+00:00")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)))
def test_local_time_is_the_same_instant_in_the_zones_offset(app, moment):
    aware = moment.replace(tzinfo=UTC)
    app.config["CASEOPS_TIME_ZONE"] = "America/Chicago"
    try:
        shown = display.local(aware)
    finally:
        app.config["CASEOPS_TIME_ZONE"] = "UTC"
    assert shown == aware  # the same instant
    assert shown.utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))
    assert display.when(aware).endswith(" UTC")  # back in UTC
