"""Access codes as text (pure): what is printed reads back, forgivingly, and nothing else
reads as a code; lifetimes and lockout delays stay within their bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.portal import codes


def test_a_new_code_is_six_groups_of_four_from_the_alphabet():
    made = codes.new_code()
    groups = made.text.split("-")
    assert [len(g) for g in groups] == [4] * 6
    assert set(made.text.replace("-", "")) <= set(codes.ALPHABET)
    assert not set("01ILOU") & set(codes.ALPHABET)


def test_codes_differ():
    assert len({codes.new_code().text for _ in range(200)}) == 200


@given(st.sampled_from(["lower", "spaces", "none"]))
def test_what_is_printed_reads_back_however_it_is_typed(style):
    made = codes.new_code()
    typed = {
        "lower": made.text.lower(),
        "spaces": made.text.replace("-", " "),
        "none": made.text.replace("-", ""),
    }[style]
    assert codes.parse(typed) == made


@given(st.text(max_size=40))
def test_only_code_shaped_text_parses(text):
    parsed = codes.parse(text)
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t")
    if len(cleaned) != codes.LENGTH or set(cleaned) - set(codes.ALPHABET):
        assert parsed is None
    else:
        assert parsed is not None and parsed.code_id + parsed.secret == cleaned


@given(st.integers(min_value=1, max_value=codes.MAX_DAYS))
def test_a_lifetime_within_bounds_is_kept(days):
    assert codes.lifetime(days) == timedelta(days=days)


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=codes.MAX_DAYS + 1)))
def test_a_lifetime_out_of_bounds_is_refused(days):
    with pytest.raises(ValueError, match="expires_in_days"):
        codes.lifetime(days)


def test_the_default_lifetime_is_ninety_days():
    assert codes.lifetime(None) == timedelta(days=90)


# --- the client's words (pure) ---------------------------------------------------------------


def test_days_and_moments_name_the_month_and_the_zone():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from caseops.portal import words

    at = datetime(2026, 3, 3, 23, 30, tzinfo=UTC)
    assert words.day(at) == "3 March 2026"
    chicago = ZoneInfo("America/Chicago")
    assert words.moment(at, chicago, "America/Chicago") == "3 March 2026 at 17:30 America/Chicago"


def test_bases_in_words():
    from caseops.portal import words

    assert words.basis("own_agency") == "their own record"
    assert words.basis("consent", consent_days=["3 March 2026"]) == "your consent of 3 March 2026"
    assert words.basis("consent", consent_days=["3 March 2026"], through_referral=True) == (
        "your consent of 3 March 2026, through a referral"
    )
    assert words.basis("referral") == "a referral"
    assert words.basis("break_glass_part2") == (
        "an emergency (break-the-glass), under review by a privacy officer"
    )
    assert words.basis("emergency", review="acknowledged") == (
        "an emergency (break-the-glass), reviewed by a privacy officer"
    )


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=6))
def test_listing_names_each_item_once_in_order(items):
    from caseops.portal import words

    text = words.listing(items)
    unique = list(dict.fromkeys(items))
    for item in unique:
        assert item in text
    if len(unique) > 1:
        assert text.endswith(" and " + unique[-1])
