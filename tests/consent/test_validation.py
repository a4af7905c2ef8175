"""Example tests for validate_consent: one per rule and per error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from consent import (
    ANY,
    Consent,
    Evidence,
    Grantor,
    ValidationContext,
    validate_consent,
)

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
CONTEXT = ValidationContext(now=NOW)
MINOR = date(2010, 6, 1)
ADULT = date(1990, 6, 1)


def general_draft(**changes: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "client_id": "client-1",
        "provision": "permit",
        "source_agencies": ["HOUSING"],
        "categories": ["housing"],
        "recipients": ["CLINIC"],
        "purposes": ["care_coordination"],
        "effective_from": "2025-02-01T00:00:00Z",
        "signed_at": "2025-01-31T10:00:00+00:00",
        "grantor": {"kind": "self", "name": "Ann Lee"},
        "evidence": {"method": "written"},
    }
    draft.update(changes)
    return draft


def part2_draft(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source_agencies": ["TREAT"],
        "categories": ["substance_use"],
        "purposes": ["treatment"],
        "expires_at": "2026-02-01T00:00:00Z",
        "revocation_right_acknowledged": True,
    }
    fields.update(changes)
    return general_draft(**fields)


def ferpa_draft(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source_agencies": ["SCHOOL"],
        "categories": ["education"],
        "grantor": {"kind": "parent", "name": "Pat Lee"},
    }
    fields.update(changes)
    return general_draft(**fields)


def without(draft: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in draft.items() if key not in keys}


def errors_of(draft: dict[str, Any] | Consent, **context: Any) -> dict[str, list[str]]:
    return validate_consent(draft, ValidationContext(now=NOW, **context))


def only(errors: dict[str, list[str]], field: str) -> list[str]:
    """The messages of `field`, asserting that no other field has an error."""
    assert set(errors) == {field}, errors
    return errors[field]


# --- valid drafts --------------------------------------------------------------------------


def test_valid_general_consent_has_no_errors() -> None:
    assert errors_of(general_draft()) == {}
    assert errors_of(general_draft(recipients=[ANY], purposes=[ANY], categories=[ANY])) == {}


def test_valid_part2_consent_has_no_errors() -> None:
    assert errors_of(part2_draft()) == {}
    assert errors_of(part2_draft(expires_at=None, expiry_event="end of treatment")) == {}


def test_valid_ferpa_consent_has_no_errors() -> None:
    assert errors_of(ferpa_draft(), client_birth_date=MINOR) == {}
    adult_signed = ferpa_draft(grantor={"kind": "self", "name": "Sam Lee"})
    assert errors_of(adult_signed, client_birth_date=ADULT) == {}


def test_a_consent_value_can_be_validated() -> None:
    consent = Consent(
        id="c1",
        client_id="client-1",
        grantor=Grantor(kind="self", name="Ann Lee"),
        provision="permit",
        source_agencies={"TREAT"},
        categories={"substance_use"},
        recipients={"CLINIC"},
        purposes={"treatment"},
        effective_from=datetime(2025, 2, 1, tzinfo=UTC),
        expires_at=datetime(2026, 2, 1, tzinfo=UTC),
        signed_at=datetime(2025, 1, 31, tzinfo=UTC),
        evidence=Evidence(method="electronic", document_sha256="ab" * 32),
        revocation_right_acknowledged=True,
        recorded_by="officer",
        recorded_at=NOW,
    )
    assert errors_of(consent) == {}


def test_deny_needs_no_part2_or_ferpa_elements() -> None:
    deny = general_draft(
        provision="deny", categories=["substance_use", "education"], recipients=[ANY]
    )
    assert errors_of(deny, part2_source=True) == {}


# --- general rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("client_id", "client_id"),
        ("provision", "provision"),
        ("source_agencies", "source_agencies"),
        ("categories", "categories"),
        ("recipients", "recipients"),
        ("purposes", "purposes"),
        ("effective_from", "effective_from"),
        ("signed_at", "signed_at"),
        ("evidence", "evidence.method"),
    ],
)
def test_required_field_left_out(key: str, field: str) -> None:
    [message] = only(errors_of(without(general_draft(), key)), field)
    assert message.endswith(".")


def test_grantor_left_out_needs_kind_and_name() -> None:
    errors = errors_of(without(general_draft(), "grantor"))
    assert set(errors) == {"grantor.kind", "grantor.name"}
    assert errors["grantor.name"] == ["Enter the name of the person who signed."]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provision": "maybe"}, "provision"),
        ({"provision": ""}, "provision"),
        ({"grantor": {"kind": "friend", "name": "x"}}, "grantor.kind"),
        ({"grantor": {"kind": "self", "name": "  "}}, "grantor.name"),
        ({"evidence": {"method": "fax"}}, "evidence.method"),
        ({"evidence": {"method": ["written"]}}, "evidence.method"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_out_of_vocabulary_or_blank_values(changes: dict[str, Any], field: str) -> None:
    only(errors_of(general_draft(**changes)), field)


def test_vocabulary_message_lists_the_allowed_values() -> None:
    [message] = only(errors_of(general_draft(provision="maybe")), "provision")
    assert message == (
        "'maybe' is not allowed here; say whether the consent permits or denies sharing: "
        "one of 'permit', 'deny'."
    )


@pytest.mark.parametrize("value", [[], "HOUSING", {"code": "HOUSING"}, 7])
def test_scope_must_be_a_non_empty_list(value: Any) -> None:
    [message] = only(errors_of(general_draft(source_agencies=value)), "source_agencies")
    assert message == "List at least one source agency, or '*' for any source agency."


@pytest.mark.parametrize("value", [[""], ["CLINIC", 3], [None]])
def test_scope_items_must_be_codes(value: list[Any]) -> None:
    assert only(errors_of(general_draft(recipients=value)), "recipients") == [
        "Each recipient agency must be a non-empty code."
    ]


def test_any_cannot_be_mixed_with_codes() -> None:
    assert only(errors_of(general_draft(recipients=[ANY, "CLINIC"])), "recipients") == [
        "'*' already means any recipient agency; list specific codes or '*' alone."
    ]


def test_categories_and_purposes_come_from_the_vocabulary() -> None:
    [message] = only(errors_of(general_draft(categories=["housing", "gossip"])), "categories")
    assert message.startswith("'gossip' is not a known category; use one of: behavioral_health")
    [message] = only(errors_of(general_draft(purposes=["marketing"])), "purposes")
    assert message.startswith("'marketing' is not a known purpose")


def test_vocabularies_are_configurable() -> None:
    draft = general_draft(categories=["pets"], purposes=["walks"])
    assert errors_of(draft, categories=frozenset({"pets"}), purposes=frozenset({"walks"})) == {}
    assert set(errors_of(draft)) == {"categories", "purposes"}


def test_expiry_must_follow_the_start() -> None:
    for expires_at in ("2025-02-01T00:00:00Z", "2025-01-01T00:00:00Z"):
        assert only(errors_of(general_draft(expires_at=expires_at)), "expires_at") == [
            "The expiry must be later than the date the consent takes effect."
        ]


def test_signed_at_cannot_be_in_the_future() -> None:
    assert only(errors_of(general_draft(signed_at="2025-03-01T12:00:01Z")), "signed_at") == [
        "The signing date cannot be in the future."
    ]
    assert errors_of(general_draft(signed_at=NOW)) == {}


@pytest.mark.parametrize("value", ["2025-02-01T00:00:00", datetime(2025, 2, 1)])
def test_naive_datetimes_are_rejected(value: Any) -> None:
    [message] = only(errors_of(general_draft(effective_from=value)), "effective_from")
    assert "time zone" in message


def test_unreadable_datetimes_are_rejected() -> None:
    [message] = only(errors_of(general_draft(signed_at="last tuesday")), "signed_at")
    assert message.startswith("'last tuesday' is not a date and time; use ISO 8601")
    only(errors_of(general_draft(signed_at=20250101)), "signed_at")


def test_document_fingerprint_must_be_sha256() -> None:
    good = general_draft(evidence={"method": "written", "document_sha256": "0" * 64})
    assert errors_of(good) == {}
    for bad in ("abc", "G" * 64, "AB" * 32):
        draft = general_draft(evidence={"method": "written", "document_sha256": bad})
        only(errors_of(draft), "evidence.document_sha256")


def test_revocation_acknowledgement_must_be_boolean() -> None:
    only(
        errors_of(general_draft(revocation_right_acknowledged="yes")),
        "revocation_right_acknowledged",
    )


def test_expiry_event_must_be_text_when_given() -> None:
    only(errors_of(general_draft(expiry_event="  ")), "expiry_event")


def test_nested_objects_must_be_objects() -> None:
    errors = errors_of(general_draft(grantor="Ann Lee"))
    assert errors["grantor"] == ["The grantor must be an object with its own fields."]


# --- 42 CFR Part 2 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "cite"),
    [
        ("source_agencies", "42 CFR 2.31(a)(2)"),
        ("categories", "42 CFR 2.31(a)(3)"),
        ("recipients", "42 CFR 2.31(a)(4)"),
        ("purposes", "42 CFR 2.31(a)(5)"),
    ],
)
def test_part2_scope_must_be_named(field: str, cite: str) -> None:
    draft = part2_draft(**{field: [ANY]})
    # With '*' as categories, the source being a Part 2 program is what makes it Part 2.
    [message] = only(errors_of(draft, part2_source=True), field)
    assert message.startswith("For substance use disorder records (42 CFR Part 2), ")
    assert message.endswith(f"'*' (any) is not enough ({cite}).")


def test_part2_revocation_right_must_be_acknowledged() -> None:
    for draft in (
        part2_draft(revocation_right_acknowledged=False),
        without(part2_draft(), "revocation_right_acknowledged"),
    ):
        [message] = only(errors_of(draft), "revocation_right_acknowledged")
        assert "may revoke" in message and "42 CFR 2.31(a)(6)" in message


def test_part2_needs_an_expiry_date_or_event() -> None:
    [message] = only(errors_of(part2_draft(expires_at=None)), "expires_at")
    assert "42 CFR 2.31(a)(7)" in message
    blank_event = errors_of(part2_draft(expires_at=None, expiry_event=" "))
    assert set(blank_event) == {"expires_at", "expiry_event"}


@pytest.mark.parametrize(
    ("key", "field", "cite"),
    [
        ("client_id", "client_id", "42 CFR 2.31(a)(1)"),
        ("recipients", "recipients", "42 CFR 2.31(a)(4)"),
        ("purposes", "purposes", "42 CFR 2.31(a)(5)"),
        ("source_agencies", "source_agencies", "42 CFR 2.31(a)(2)"),
        ("signed_at", "signed_at", "42 CFR 2.31(a)(9)"),
    ],
)
def test_part2_missing_elements_cite_the_rule(key: str, field: str, cite: str) -> None:
    [message] = only(errors_of(without(part2_draft(), key)), field)
    assert cite in message


def test_part2_missing_information_description_cites_the_rule() -> None:
    [message] = only(
        errors_of(without(part2_draft(), "categories"), part2_source=True), "categories"
    )
    assert "42 CFR 2.31(a)(3)" in message


def test_part2_missing_signature_cites_the_rule() -> None:
    draft = part2_draft(grantor={"kind": "self", "name": ""})
    [message] = only(errors_of(draft), "grantor.name")
    assert "42 CFR 2.31(a)(8)" in message


def test_part2_program_source_makes_any_category_part2() -> None:
    draft = general_draft(categories=["health"], revocation_right_acknowledged=True)
    assert errors_of(draft) == {}
    assert set(errors_of(draft, part2_source=True)) == {"expires_at"}


def test_part2_every_missing_element_is_its_own_error() -> None:
    draft = general_draft(
        client_id="",
        source_agencies=[ANY],
        categories=["substance_use"],
        recipients=[ANY],
        purposes=[ANY],
        grantor={"kind": "self"},
        signed_at=None,
    )
    assert set(errors_of(draft)) == {
        "client_id",
        "source_agencies",
        "recipients",
        "purposes",
        "revocation_right_acknowledged",
        "expires_at",
        "grantor.name",
        "signed_at",
    }


# --- FERPA ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "cite"), [("recipients", "(b)(3)"), ("purposes", "(b)(2)")])
def test_ferpa_recipients_and_purpose_must_be_named(field: str, cite: str) -> None:
    [message] = only(errors_of(ferpa_draft(**{field: [ANY]}), client_birth_date=MINOR), field)
    assert message.startswith("For education records (FERPA), ")
    assert message.endswith(f"(34 CFR 99.30{cite}).")
    [message] = only(errors_of(without(ferpa_draft(), field), client_birth_date=MINOR), field)
    assert f"34 CFR 99.30{cite}" in message


def test_ferpa_must_be_signed_and_dated() -> None:
    unsigned = ferpa_draft(grantor={"kind": "parent", "name": ""})
    assert (
        "34 CFR 99.30(a)" in only(errors_of(unsigned, client_birth_date=MINOR), "grantor.name")[0]
    )
    [message] = only(
        errors_of(without(ferpa_draft(), "signed_at"), client_birth_date=MINOR), "signed_at"
    )
    assert message == "For education records (FERPA), the consent must be dated (34 CFR 99.30(a))."


def test_ferpa_minor_needs_a_parent_or_guardian() -> None:
    for kind in ("self", "authorized_representative"):
        draft = ferpa_draft(grantor={"kind": kind, "name": "x"})
        [message] = only(errors_of(draft, client_birth_date=MINOR), "grantor.kind")
        assert "under 18" in message
    guardian = ferpa_draft(grantor={"kind": "guardian", "name": "x"})
    assert errors_of(guardian, client_birth_date=MINOR) == {}


def test_ferpa_adult_must_sign_themself() -> None:
    [message] = only(errors_of(ferpa_draft(), client_birth_date=ADULT), "grantor.kind")
    assert "18 or older when this was signed" in message


def test_ferpa_parent_consent_is_useless_once_the_student_is_18() -> None:
    turned_18_after_signing = date(2007, 2, 15)
    [message] = only(
        errors_of(ferpa_draft(), client_birth_date=turned_18_after_signing), "grantor.kind"
    )
    assert "now 18 or older" in message


def test_ferpa_unknown_birth_date_cannot_be_checked() -> None:
    [message] = only(errors_of(ferpa_draft()), "grantor.kind")
    assert "birth date is not recorded" in message


def test_part2_and_ferpa_both_cite_a_missing_signature() -> None:
    draft = part2_draft(
        categories=["substance_use", "education"], grantor={"kind": "parent", "name": ""}
    )
    messages = only(errors_of(draft, client_birth_date=MINOR), "grantor.name")
    assert len(messages) == 2
    assert "42 CFR 2.31(a)(8)" in messages[0] and "34 CFR 99.30(a)" in messages[1]
