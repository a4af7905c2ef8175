"""The activity report's flag rules as pure functions: no app, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

from caseops.audit.activity import rules, shaping


def user(name: str, agency: str, distinct: int) -> dict:
    return {"username": name, "agency": agency, "views": distinct, "distinct_clients": distinct}


def test_high_volume_is_more_than_three_times_the_agency_median():
    assert rules.HIGH_VOLUME_FACTOR == 3
    users = [user("amy", "a", 2), user("ben", "a", 2), user("cat", "a", 7), user("dan", "a", 6)]
    # median of (2, 2, 6, 7) is 4: 7 is not more than 12
    assert rules.high_volume_flags(users) == []
    users = [user("amy", "a", 2), user("ben", "a", 2), user("cat", "a", 7)]
    [flag] = rules.high_volume_flags(users)  # median 2: 7 > 6
    assert (flag["kind"], flag["username"], flag["count"], flag["agency_median"]) == (
        "high_volume",
        "cat",
        7,
        2,
    )
    exactly = [user("amy", "a", 2), user("ben", "a", 2), user("cat", "a", 6)]
    assert rules.high_volume_flags(exactly) == []  # 6 is not more than 3 x 2


def test_high_volume_needs_two_users_in_the_agency():
    assert rules.high_volume_flags([user("amy", "a", 50), user("ben", "b", 1)]) == []


def test_off_hours_is_outside_seven_to_nineteen_utc():
    assert rules.WORKING_HOURS == (7, 19)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert rules.off_hours(day + timedelta(hours=6, minutes=59))
    assert not rules.off_hours(day + timedelta(hours=7))
    assert not rules.off_hours(day + timedelta(hours=18, minutes=59))
    assert rules.off_hours(day + timedelta(hours=19))
    # read in UTC: 20:00 at +10:00 is 10:00 UTC
    assert not rules.off_hours(datetime(2026, 3, 2, 20, tzinfo=timezone(timedelta(hours=10))))


def test_views_without_relationship_are_flagged_per_user():
    assert rules.withheld_without_relationship({"notes": "no_relationship"})
    assert not rules.withheld_without_relationship({"notes": "part2"})
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    rows = [
        SimpleNamespace(seq=1, occurred_at=at, actor="ben", actor_agency="a", client_id="c1"),
        SimpleNamespace(seq=2, occurred_at=at, actor="amy", actor_agency="a", client_id="c2"),
    ]
    counts = shaping.tally(rows, lambda row: {"notes": "no_relationship"} if row.seq == 1 else {})
    flags = rules.view_flags("no_relationship", counts.unrelated, counts.agency_of)
    assert [(f["username"], f["count"], f["seqs"]) for f in flags] == [("ben", 1, [1])]
    assert rules.view_flags("off_hours", counts.late, counts.agency_of) == []


def test_unreviewed_break_glass_grants_raise_one_flag():
    assert rules.break_glass_flags([]) == []
    [flag] = rules.break_glass_flags(["bg_1", "bg_2"])
    assert (flag["kind"], flag["count"], flag["grant_ids"]) == (
        "unreviewed_break_glass",
        2,
        ["bg_1", "bg_2"],
    )
