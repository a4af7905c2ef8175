"""Recording-time checks of the amended 42 CFR 2.31 (2024): each missing element of the
single TPO consent under a general designation is its own error, citing its paragraph."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consent import ValidationContext, validate_consent

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CONTEXT = ValidationContext(now=NOW, intermediary="caseops", covered_entities=frozenset({"CE"}))
PREFIX = "For substance use disorder records (42 CFR Part 2, as amended in 2024), "
TPO_CLASS = (
    "my treating providers, health plans, third-party payers, and people helping to operate "
    "this program"
)


def tpo_draft(**changes: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "client_id": "client-1",
        "provision": "permit",
        "source_agencies": ["TREAT"],
        "categories": ["substance_use"],
        "recipients": [],
        "purposes": ["treatment", "payment", "operations"],
        "effective_from": "2026-02-20T00:00:00Z",
        "signed_at": "2026-02-20T10:00:00+00:00",
        "expiry_event": "none",
        "grantor": {"kind": "self", "name": "Ann Lee"},
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
        "intermediary": "caseops",
        "general_designation": "treating_provider_relationship",
        "recipient_description": TPO_CLASS,
        "hipaa_redisclosure_statement": True,
    }
    draft.update(changes)
    return {k: v for k, v in draft.items() if v is not ...}


def errors_of(draft: dict[str, Any], context: ValidationContext = CONTEXT):
    return validate_consent(draft, context)


def test_the_single_tpo_consent_under_the_general_designation_is_valid():
    assert errors_of(tpo_draft()) == {}
    # recipients named besides the designation are allowed too ((a)(4)(ii)(A) and (B))
    assert errors_of(tpo_draft(recipients=["CLINIC"])) == {}


@pytest.mark.parametrize("missing", [None, "", "   ", ...])
def test_the_intermediary_must_be_named(missing):
    [message] = errors_of(tpo_draft(intermediary=missing))["intermediary"]
    assert message.startswith(PREFIX)
    assert "must include the name of the intermediary: name 'caseops'" in message
    assert message.endswith("(42 CFR 2.31(a)(4)(ii)).")


def test_another_intermediary_is_not_this_one():
    [message] = errors_of(tpo_draft(intermediary="Other HIE"))["intermediary"]
    assert "'Other HIE' is not this deployment's intermediary" in message
    assert message.endswith("must be 'caseops' (42 CFR 2.31(a)(4)(ii)).")
    # a deployment without a configured name accepts no general designation at all
    unconfigured = ValidationContext(now=NOW)
    [message] = errors_of(tpo_draft(intermediary=...), unconfigured)["intermediary"]
    assert "CASEOPS_INTERMEDIARY_NAME" in message and "(42 CFR 2.31(a)(4)(ii))" in message


def test_the_designation_must_be_limited_to_treating_provider_relationships():
    for designation in ("all_participants", "health_plans", "*"):
        [message] = errors_of(tpo_draft(general_designation=designation))["general_designation"]
        assert message.startswith(PREFIX)
        assert (
            "must be limited to a participant(s) who has a treating provider relationship "
            "with the patient" in message
        )
        assert message.endswith("(42 CFR 2.31(a)(4)(ii)(B)).")


def test_the_class_of_recipients_is_described_in_the_consents_words():
    for missing in (None, " ", ...):
        [message] = errors_of(tpo_draft(recipient_description=missing))["recipient_description"]
        assert "my treating providers, health plans" in message
        assert message.endswith("(42 CFR 2.31(a)(4)(i)).")


def test_the_single_consent_is_for_treatment_payment_and_operations_only():
    for purposes in (["treatment", "care_coordination"], ["*"], ["eligibility"]):
        [message] = [
            m for m in errors_of(tpo_draft(purposes=purposes))["purposes"] if "single consent" in m
        ]
        assert "single consent for all future uses and disclosures for treatment" in message
        assert "(42 CFR 2.31(a)(4)(i), 2.31(a)(5))" in message


def test_the_hipaa_statement_is_required_for_a_general_designation():
    for missing in (False, ...):
        [message] = errors_of(tpo_draft(hipaa_redisclosure_statement=missing))[
            "hipaa_redisclosure_statement"
        ]
        assert message.startswith(PREFIX)
        assert (
            "may be redisclosed in accordance with the permissions contained in the HIPAA "
            "regulations, except for uses and disclosures for civil, criminal, "
            "administrative, and legislative proceedings against the patient" in message
        )
        assert message.endswith("(42 CFR 2.31(a)(4)(iii)).")


def test_a_named_covered_entity_receiving_for_tpo_needs_the_statement():
    named = tpo_draft(
        recipients=["CE", "OTHER"],
        intermediary=...,
        general_designation=...,
        recipient_description=...,
        hipaa_redisclosure_statement=False,
        expires_at="2027-01-01T00:00:00Z",
    )
    [message] = errors_of(named)["hipaa_redisclosure_statement"]
    assert "CE is a covered entity or business associate receiving the record for" in message
    assert message.endswith("(42 CFR 2.31(a)(4)(iii)).")
    # not a covered entity, or not for TPO: no statement needed
    assert errors_of(named | {"recipients": ["OTHER"]}) == {}
    assert errors_of(named | {"purposes": ["care_coordination"]}) == {}


def test_a_deny_cannot_designate_generally():
    errors = errors_of(tpo_draft(provision="deny"))
    assert any("deny provision" in m for m in errors["general_designation"])


def test_every_missing_element_is_its_own_error():
    errors = errors_of(
        tpo_draft(
            intermediary=...,
            recipient_description=...,
            hipaa_redisclosure_statement=False,
            purposes=["care_coordination"],
        )
    )
    assert set(errors) == {
        "intermediary",
        "recipient_description",
        "purposes",
    }
    # care coordination alone is not TPO: the statement is not asked for, the purpose is
