"""FHIR R4 Consent mapping: every table row, every refusal path, the HL7 examples, round trip."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import (
    ANY,
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
    Consent,
    Evidence,
    Grantor,
    Status,
    ValidationContext,
    validate_consent,
)
from consent.fhir import (
    ACT_CODE,
    ACT_REASON,
    CATEGORY_CODES,
    CONSENT_ACTION,
    LOINC,
    MAPPING_TABLE,
    PARTICIPATION_TYPE,
    PURPOSE_CODES,
    RESOURCE_TYPES,
    ROLE_CODE,
    STATUS_RULES,
    CodeMapping,
    FhirContext,
    FhirIssue,
    IssueCode,
    StoredDocument,
    consent_body,
    fhir_id,
    from_fhir,
    internal_id,
    mapping_table_markdown,
    to_fhir,
    to_operation_outcome,
    validation_issues,
)

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
V2_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/v2-0131"


def _resolver(pattern: str):
    """Knows every reference matching `pattern`, like an index of clients or agencies."""
    compiled = re.compile(pattern)
    return lambda key: match[1] if (match := compiled.fullmatch(key)) else None


CTX = FhirContext(
    client_for=_resolver(r"Patient/(c\d+)"), agency_for=_resolver(r"Organization/([A-Z0-9]+)")
)


def coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [coding(system, code)]}


def actor(role: str, reference: str) -> dict[str, Any]:
    return {"role": concept(PARTICIPATION_TYPE, role), "reference": {"reference": reference}}


def resource(**changes: Any) -> dict[str, Any]:
    """A minimal active consent CTX maps; a change of None removes the element."""
    base: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": concept(SCOPE, "patient-privacy"),
        "category": [concept(LOINC, "59284-0")],
        "patient": {"reference": "Patient/c1"},
        "dateTime": "2025-01-31T10:00:00Z",
        "performer": [{"reference": "Patient/c1", "display": "Ann Lee"}],
        "organization": [{"reference": "Organization/HOUSING"}],
        "policyRule": concept(ACT_CODE, "OPTIN"),
        "provision": {
            "period": {"start": "2025-02-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
            "actor": [actor("IRCP", "Organization/CLINIC")],
            "purpose": [coding(ACT_REASON, "COC")],
            "code": [concept(ACT_CODE, "BH")],
        },
    }
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def provision(**changes: Any) -> dict[str, Any]:
    node = copy.deepcopy(resource()["provision"])
    for key, value in changes.items():
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return node


BODY = {
    "client_id": "c1",
    "provision": "permit",
    "source_agencies": ["HOUSING"],
    "categories": ["behavioral_health"],
    "recipients": ["CLINIC"],
    "purposes": ["care_coordination"],
    "effective_from": "2025-02-01T00:00:00+00:00",
    "expires_at": "2026-02-01T00:00:00+00:00",
    "grantor": {"kind": "self", "name": "Ann Lee"},
    "signed_at": "2025-01-31T10:00:00+00:00",
    "evidence": {"method": "electronic"},
    "revocation_right_acknowledged": False,
}


def body(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BODY)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def only_body(res: dict[str, Any], context: FhirContext = CTX) -> dict[str, Any]:
    mapping = from_fhir(res, context)
    assert mapping.issues == (), mapping.issues
    assert len(mapping.bodies) == 1
    return mapping.bodies[0]


def issues(res: Any, context: FhirContext = CTX) -> list[tuple[str, str]]:
    """(path, code) of each issue; also checks nothing partial came back."""
    mapping = from_fhir(res, context)
    assert not mapping.ok
    assert mapping.bodies == () and mapping.origins == ()
    return [(i.path, str(i.code)) for i in mapping.issues]


def diagnostics(res: Any, context: FhirContext = CTX) -> str:
    return " ".join(i.diagnostics for i in from_fhir(res, context).issues)


# --- the baseline and the table -----------------------------------------------------------


def test_minimal_consent_maps_to_one_body():
    mapping = from_fhir(resource(), CTX)
    assert mapping.ok
    assert mapping.bodies == (BODY,)
    assert mapping.warnings == ()


def test_mapped_body_passes_recording_validation():
    errors = validate_consent(
        only_body(resource()), ValidationContext(now=datetime(2025, 3, 1, tzinfo=UTC))
    )
    assert errors == {}


def test_mapping_table_is_exported_and_rendered():
    fhir_elements = " ".join(row.fhir for row in MAPPING_TABLE)
    for element in (
        "Consent.status",
        "Consent.scope",
        "policyRule",
        "Consent.patient",
        "Consent.dateTime",
        "Consent.performer",
        "Consent.organization",
        "sourceAttachment",
        "sourceReference",
        "provision.period",
        "provision.actor",
        "provision.action",
        "provision.purpose",
        "securityLabel",
        "provision.provision",
    ):
        assert element in fhir_elements
    markdown = mapping_table_markdown()
    assert markdown.startswith("| FHIR R4 Consent element | caseops field | rule |")
    assert all(f"`{m.code}`" in markdown for m in (*PURPOSE_CODES, *CATEGORY_CODES))
    import consent.fhir

    assert markdown in (consent.fhir.__doc__ or "")


# --- status, scope, base rule, policy -----------------------------------------------------


@pytest.mark.parametrize("status", sorted(s for s, why in STATUS_RULES.items() if why))
def test_statuses_other_than_active_are_refused_with_their_reason(status):
    assert issues(resource(status=status)) == [("Consent.status", "not-supported")]
    assert STATUS_RULES[status] in diagnostics(resource(status=status))


def test_status_missing_or_unknown():
    assert issues(resource(status=None)) == [("Consent.status", "required")]
    assert issues(resource(status="finished")) == [("Consent.status", "invalid")]


@pytest.mark.parametrize("scope", ["research", "treatment", "adr"])
def test_scopes_other_than_patient_privacy_are_out_of_scope(scope):
    assert issues(resource(scope=concept(SCOPE, scope))) == [("Consent.scope", "not-supported")]


def test_scope_missing():
    assert issues(resource(scope=None)) == [("Consent.scope", "required")]


@pytest.mark.parametrize(
    ("rule", "provision_type"),
    [("OPTIN", "permit"), ("OPTINR", "permit"), ("OPTOUT", "deny"), ("OPTOUTE", "deny")],
)
def test_policy_rule_sets_the_base_provision(rule, provision_type):
    res = resource(policyRule=concept(ACT_CODE, rule))
    assert only_body(res)["provision"] == provision_type


def test_a_typed_root_provision_overrides_the_policy_rule():
    # As in HL7's consent-example-notOrg: base OPTIN, root provision "deny" for one org.
    res = resource(provision=provision(type="deny"))
    assert only_body(res) == body(provision="deny")


def test_unknown_policy_rule_is_refused_even_with_a_typed_root():
    res = resource(policyRule=concept("http://example.org/rules", "hipaa-auth"))
    assert issues(res) == [("Consent.policyRule", "not-supported")]
    res["provision"]["type"] = "permit"
    assert issues(res) == [("Consent.policyRule", "not-supported")]


def test_no_base_rule_at_all_is_required():
    assert issues(resource(policyRule=None)) == [("Consent.policyRule", "required")]
    assert only_body(resource(policyRule=None, provision=provision(type="permit"))) == BODY


def test_policy_references_need_to_be_accepted_by_the_deployment():
    res = resource(policy=[{"uri": "https://example.org/state-hie-policy"}])
    assert issues(res) == [("Consent.policy[0]", "not-supported")]
    accepting = FhirContext(
        client_for=CTX.client_for,
        agency_for=CTX.agency_for,
        accepted_policies=frozenset({"https://example.org/state-hie-policy"}),
    )
    assert only_body(res, accepting) == BODY


# --- patient, dateTime, performer, organization -------------------------------------------


def test_patient_is_resolved_by_reference_or_identifier():
    ident = {"identifier": {"system": "urn:mci", "value": "42"}}
    context = FhirContext(client_for={"urn:mci|42": "c1"}, agency_for=CTX.agency_for, person_for={})
    res = resource(patient=ident, performer=[{**ident, "type": "Patient", "display": "Ann Lee"}])
    assert only_body(res, context) == BODY
    absolute = resource(patient={"reference": "https://fhir.example.org/Patient/c1/_history/3"})
    assert only_body(absolute)["client_id"] == "c1"


def test_patient_unknown_or_missing():
    res = resource(patient={"reference": "Patient/nobody"}, performer=None)
    assert issues(res) == [("Consent.patient", "not-found"), ("Consent.performer", "required")]
    assert "Patient/nobody" in diagnostics(res)
    assert ("Consent.patient", "required") in issues(resource(patient=None))


def test_date_time_is_the_signature():
    assert only_body(resource(dateTime="2025-01-31T05:00:00-05:00"))["signed_at"] == (
        "2025-01-31T10:00:00+00:00"
    )
    assert only_body(resource(dateTime="2025-01-31T10:00:00.1234567Z"))["signed_at"] == (
        "2025-01-31T10:00:00.123456+00:00"
    )


def test_a_date_only_signature_starts_the_day_in_the_context_time_zone():
    assert only_body(resource(dateTime="2025-01-31"))["signed_at"] == "2025-01-31T00:00:00+00:00"
    eastern = FhirContext(
        client_for=CTX.client_for,
        agency_for=CTX.agency_for,
        timezone=ZoneInfo("America/New_York"),
    )
    assert only_body(resource(dateTime="2025-01-31"), eastern)["signed_at"] == (
        "2025-01-31T05:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2025", "invalid"),
        ("2025-01", "invalid"),
        ("2025-01-31T10:00:00", "invalid"),  # a time needs a zone in FHIR
        ("2025-02-30", "invalid"),
        ("yesterday", "invalid"),
        (None, "required"),
    ],
)
def test_date_time_refusals(value, code):
    assert issues(resource(dateTime=value)) == [("Consent.dateTime", code)]


def test_performer_patient_is_self_and_must_be_the_client():
    assert only_body(resource())["grantor"] == {"kind": "self", "name": "Ann Lee"}
    other = resource(performer=[{"reference": "Patient/c2", "display": "Bo Lee"}])
    assert issues(other) == [("Consent.performer[0]", "invalid")]
    unknown = resource(performer=[{"reference": "Patient/x9", "display": "X"}])
    assert issues(unknown) == [("Consent.performer[0]", "not-found")]


def related(relationship: list[dict[str, Any]] | None, name: str = "Mia Lee") -> dict[str, Any]:
    person: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": "rp",
        "patient": {"reference": "Patient/c1"},
        "name": [{"given": ["Mia"], "family": "Lee"}] if name == "Mia Lee" else [{"text": name}],
    }
    if relationship is not None:
        person["relationship"] = relationship
    return resource(contained=[person], performer=[{"reference": "#rp"}])


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("MTH", "parent"),
        ("FTH", "parent"),
        ("PRN", "parent"),
        ("ADOPTM", "parent"),
        ("GUARD", "guardian"),
    ],
)
def test_related_person_parent_or_guardian(code, kind):
    mapping = from_fhir(related([concept(ROLE_CODE, code)]), CTX)
    assert mapping.bodies[0]["grantor"] == {"kind": kind, "name": "Mia Lee"}
    assert mapping.warnings == ()


@pytest.mark.parametrize(
    "relationship",
    [
        None,
        [concept(ROLE_CODE, "STPMTH")],
        [concept(ROLE_CODE, "PRNFOST")],
        [concept(V2_RELATIONSHIP, "C")],
    ],
)
def test_any_other_related_person_is_an_authorized_representative(relationship):
    mapping = from_fhir(related(relationship), CTX)
    assert mapping.bodies[0]["grantor"]["kind"] == "authorized_representative"
    assert [(w.path, w.severity) for w in mapping.warnings] == [("Consent.performer[0]", "warning")]


def test_related_person_found_through_the_context():
    context = FhirContext(
        client_for=CTX.client_for,
        agency_for=CTX.agency_for,
        person_for={
            "RelatedPerson/mia": {
                "resourceType": "RelatedPerson",
                "name": [{"text": "Mia Lee"}],
                "relationship": [concept(ROLE_CODE, "GUARD")],
            }
        },
    )
    res = resource(performer=[{"reference": "RelatedPerson/mia"}])
    assert only_body(res, context)["grantor"] == {"kind": "guardian", "name": "Mia Lee"}


def test_related_person_both_parent_and_guardian_is_ambiguous():
    res = related([concept(ROLE_CODE, "MTH"), concept(ROLE_CODE, "GUARD")])
    assert issues(res) == [("Consent.performer[0]", "invalid")]


@pytest.mark.parametrize("rtype", ["Organization", "Practitioner", "PractitionerRole"])
def test_performers_that_may_be_the_grantee_are_refused(rtype):
    res = resource(performer=[{"reference": f"{rtype}/x", "display": "Someone"}])
    assert issues(res) == [("Consent.performer[0]", "not-supported")]


def test_performer_refusals():
    two = resource(performer=[*resource()["performer"], {"reference": "Patient/c1"}])
    assert issues(two) == [("Consent.performer[1]", "not-supported")]
    assert issues(resource(performer=None)) == [("Consent.performer", "required")]
    nameless = resource(performer=[{"reference": "Patient/c1"}])
    assert issues(nameless) == [("Consent.performer[0].display", "required")]
    untyped = resource(
        performer=[{"identifier": {"system": "urn:x", "value": "1"}, "display": "A"}]
    )
    assert issues(untyped) == [("Consent.performer[0]", "required")]


def test_organization_is_the_source_unless_custodian_actors_are_named():
    assert only_body(resource(organization=None))["source_agencies"] == [ANY]
    cst = provision(actor=[actor("IRCP", "Organization/CLINIC"), actor("CST", "Organization/DHS")])
    assert only_body(resource(provision=cst))["source_agencies"] == ["DHS"]
    unknown = resource(organization=[{"reference": "Organization/"}])
    assert issues(unknown) == [("Consent.organization[0]", "not-found")]


# --- evidence -----------------------------------------------------------------------------

PDF = b"%PDF-1.7 signed consent"
PDF_SHA256 = hashlib.sha256(PDF).hexdigest()
PDF_SHA1 = base64.b64encode(hashlib.sha1(PDF, usedforsecurity=False).digest()).decode()


def attachment(**fields: Any) -> dict[str, Any]:
    return {"contentType": "application/pdf", "data": base64.b64encode(PDF).decode(), **fields}


def test_attachment_data_gives_a_written_consent_with_its_sha256():
    res = resource(sourceAttachment=attachment(hash=PDF_SHA1, size=len(PDF)))
    assert only_body(res)["evidence"] == {"method": "written", "document_sha256": PDF_SHA256}


def test_attachment_without_data_has_no_fingerprint_and_says_so():
    res = resource(sourceAttachment={"url": "https://docs.example/1.pdf", "hash": PDF_SHA1})
    mapping = from_fhir(res, CTX)
    assert mapping.bodies[0]["evidence"] == {"method": "written"}
    assert [w.path for w in mapping.warnings] == ["Consent.sourceAttachment"]
    assert "SHA-1" in mapping.warnings[0].diagnostics


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"hash": base64.b64encode(b"x" * 20).decode()}, "Consent.sourceAttachment.hash"),
        ({"size": 3}, "Consent.sourceAttachment.size"),
        ({"data": "not base64!"}, "Consent.sourceAttachment.data"),
    ],
)
def test_attachment_that_does_not_check_out_is_refused(fields, path):
    assert issues(resource(sourceAttachment=attachment(**fields))) == [(path, "invalid")]


def test_source_reference_and_no_source():
    doc = resource(sourceReference={"reference": "DocumentReference/9"})
    mapping = from_fhir(doc, CTX)
    assert mapping.bodies[0]["evidence"] == {"method": "written"}
    assert [w.path for w in mapping.warnings] == ["Consent.sourceReference"]
    form = resource(sourceReference={"reference": "QuestionnaireResponse/9"})
    assert only_body(form)["evidence"] == {"method": "electronic"}
    assert only_body(resource())["evidence"] == {"method": "electronic"}


def test_both_source_kinds_at_once_is_invalid():
    res = resource(sourceAttachment=attachment(), sourceReference={"reference": "Consent/1"})
    assert issues(res) == [("Consent.source[x]", "invalid")]


def ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": CTX.extension_url(name), **value}


def test_caseops_extensions():
    res = resource(
        extension=[
            ext("evidence-method", valueCode="verbal_witnessed"),
            ext("revocation-right-acknowledged", valueBoolean=True),
            ext("expiry-event", valueString="end of treatment"),
            {"url": "http://example.org/other", "valueString": "ignored"},
        ]
    )
    assert only_body(res) == body(
        evidence={"method": "verbal_witnessed"},
        revocation_right_acknowledged=True,
        expiry_event="end of treatment",
    )


@pytest.mark.parametrize(
    ("extension", "name"),
    [
        (ext("evidence-method", valueCode="fax"), "evidence-method"),
        (ext("revocation-right-acknowledged", valueString="yes"), "revocation-right-acknowledged"),
        (ext("expiry-event", valueString=" "), "expiry-event"),
    ],
)
def test_caseops_extension_refusals(extension, name):
    path = f"Consent.extension('{CTX.extension_url(name)}')"
    assert issues(resource(extension=[extension])) == [(path, "invalid")]


# --- provision: period, actors, actions, purposes, categories ----------------------------


def test_period_date_only_end_includes_the_day_and_start_defaults_to_signature():
    res = resource(provision=provision(period={"end": "2025-12-31"}))
    assert only_body(res) == body(
        effective_from="2025-01-31T10:00:00+00:00", expires_at="2026-01-01T00:00:00+00:00"
    )
    assert only_body(resource(provision=provision(period=None))) == body(
        effective_from=BODY["signed_at"], expires_at=None
    )


def test_period_refusals():
    backwards = provision(period={"start": "2025-02-01", "end": "2025-01-01"})
    assert issues(resource(provision=backwards)) == [("Consent.provision.period", "invalid")]
    vague = provision(period={"start": "2025-02"})
    assert issues(resource(provision=vague)) == [("Consent.provision.period.start", "invalid")]


@pytest.mark.parametrize(
    ("role", "field"),
    [
        ("IRCP", "recipients"),
        ("PRCP", "recipients"),
        ("CST", "source_agencies"),
        ("INF", "source_agencies"),
    ],
)
def test_actor_roles(role, field):
    res = resource(provision=provision(actor=[actor(role, "Organization/DHS")]))
    mapped = only_body(res)
    assert mapped[field] == ["DHS"]
    if field == "recipients":
        assert mapped["source_agencies"] == ["HOUSING"]
    else:
        assert mapped["recipients"] == [ANY]


def test_no_recipient_actor_means_any_recipient():
    assert only_body(resource(provision=provision(actor=None)))["recipients"] == [ANY]


@pytest.mark.parametrize(
    ("the_actor", "path", "code"),
    [
        (actor("AUT", "Organization/DHS"), "Consent.provision.actor[0].role", "not-supported"),
        (
            actor("DELEGATEE", "Organization/DHS"),
            "Consent.provision.actor[0].role",
            "not-supported",
        ),
        (
            {"reference": {"reference": "Organization/DHS"}},
            "Consent.provision.actor[0].role",
            "required",
        ),
        (actor("IRCP", "RelatedPerson/7"), "Consent.provision.actor[0].reference", "not-supported"),
        (actor("IRCP", "Device/7"), "Consent.provision.actor[0].reference", "not-supported"),
        (actor("IRCP", "Practitioner/13"), "Consent.provision.actor[0].reference", "not-found"),
        (
            {"role": concept(PARTICIPATION_TYPE, "IRCP")},
            "Consent.provision.actor[0].reference",
            "required",
        ),
    ],
)
def test_actor_refusals(the_actor, path, code):
    assert issues(resource(provision=provision(actor=[the_actor]))) == [(path, code)]


def test_practitioners_resolve_only_through_the_context():
    context = FhirContext(
        client_for=CTX.client_for,
        agency_for={"Organization/HOUSING": "HOUSING", "Practitioner/13": "CLINIC"},
    )
    res = resource(provision=provision(actor=[actor("PRCP", "Practitioner/13")]))
    assert only_body(res, context)["recipients"] == ["CLINIC"]


@pytest.mark.parametrize("code", ["access", "disclose"])
def test_disclosure_actions_map(code):
    res = resource(provision=provision(action=[concept(CONSENT_ACTION, code)]))
    assert only_body(res) == BODY


@pytest.mark.parametrize("code", ["collect", "use", "correct", "destroy"])
def test_other_actions_are_refused(code):
    res = resource(
        provision=provision(
            action=[concept(CONSENT_ACTION, "access"), concept(CONSENT_ACTION, code)]
        )
    )
    assert issues(res) == [("Consent.provision.action[1]", "not-supported")]


@pytest.mark.parametrize("row", PURPOSE_CODES, ids=lambda m: m.code)
def test_purpose_rows(row):
    permit = resource(provision=provision(purpose=[coding(row.system, row.code)]))
    deny = resource(provision=provision(type="deny", purpose=[coding(row.system, row.code)]))
    assert only_body(deny)["purposes"] == [row.target]
    if row.exact:
        assert only_body(permit)["purposes"] == [row.target]
    else:
        assert issues(permit) == [("Consent.provision.purpose[0]", "not-supported")]


def test_caseops_purposes_and_absent_purposes():
    own = provision(purpose=[coding(CTX.purpose_system, p) for p in sorted(DEFAULT_PURPOSES)])
    assert only_body(resource(provision=own))["purposes"] == sorted(DEFAULT_PURPOSES)
    assert only_body(resource(provision=provision(purpose=None)))["purposes"] == [ANY]


@pytest.mark.parametrize("code", ["CAREMGT", "PATADMIN", "BTG", "HRESCH", "HMARKT", "XYZ"])
def test_unmapped_purposes_are_refused_with_the_reason(code):
    res = resource(provision=provision(purpose=[coding(ACT_REASON, code)]))
    assert issues(res) == [("Consent.provision.purpose[0]", "not-supported")]
    assert code in diagnostics(res)


@pytest.mark.parametrize("row", CATEGORY_CODES, ids=lambda m: m.code)
@pytest.mark.parametrize("element", ["securityLabel", "class", "code"])
def test_category_rows(row, element):
    entry = concept(row.system, row.code) if element == "code" else coding(row.system, row.code)
    permit = resource(provision=provision(**{"code": None, element: [entry]}))
    deny = resource(provision=provision(**{"code": None, "type": "deny", element: [entry]}))
    deny_mapping = from_fhir(deny, CTX)
    assert deny_mapping.bodies[0]["categories"] == [row.target]
    if row.exact:
        assert only_body(permit)["categories"] == [row.target]
        assert deny_mapping.warnings == ()
    else:
        assert issues(permit) == [(f"Consent.provision.{element}[0]", "not-supported")]
        assert [w.path for w in deny_mapping.warnings] == [f"Consent.provision.{element}[0]"]


def test_caseops_category_codes_and_absent_categories():
    own = provision(code=[concept(CTX.category_system, c) for c in sorted(DEFAULT_CATEGORIES)])
    assert only_body(resource(provision=own))["categories"] == sorted(DEFAULT_CATEGORIES)
    assert only_body(resource(provision=provision(code=None)))["categories"] == [ANY]


def test_category_elements_are_conjunctive():
    both = provision(
        code=[concept(ACT_CODE, "BH"), concept(ACT_CODE, "SUD")],
        securityLabel=[coding(ACT_CODE, "SUD")],
    )
    assert only_body(resource(provision=both))["categories"] == ["substance_use"]
    disjoint = provision(code=[concept(ACT_CODE, "BH")], securityLabel=[coding(ACT_CODE, "SUD")])
    assert issues(resource(provision=disjoint)) == [("Consent.provision", "invalid")]


def test_codings_of_one_concept_must_agree():
    translations = {"coding": [coding(ACT_CODE, "SUD"), coding(CTX.category_system, "health")]}
    assert issues(resource(provision=provision(code=[translations]))) == [
        ("Consent.provision.code[0]", "invalid")
    ]
    with_unknown = {"coding": [coding(ACT_CODE, "SUD"), coding("http://example.org", "x")]}
    assert only_body(resource(provision=provision(code=[with_unknown])))["categories"] == [
        "substance_use"
    ]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (concept(ACT_CODE, "SOC"), "spans several caseops categories"),
        (concept(ACT_CODE, "SDV"), "no caseops category"),
        (concept(LOINC, "18842-5"), "LOINC document type"),
        (concept(RESOURCE_TYPES, "Observation"), "resource type"),
        (concept("urn:ietf:bcp:13", "application/pdf"), "MIME type"),
        (concept("http://example.org/cats", "housing"), "caseops has no category"),
        ({"text": "my mental health records"}, "(no coding)"),
    ],
)
def test_unmapped_categories_are_refused_naming_the_element(entry, words):
    res = resource(provision=provision(code=[entry]))
    assert issues(res) == [("Consent.provision.code[0]", "not-supported")]
    assert words in diagnostics(res)


def test_categories_outside_the_configured_vocabulary_are_refused():
    narrow = FhirContext(
        client_for=CTX.client_for,
        agency_for=CTX.agency_for,
        categories=frozenset({"housing", "health"}),
    )
    assert issues(resource(), narrow) == [("Consent.provision.code[0]", "not-supported")]


def test_extra_category_mappings_come_from_the_context():
    context = FhirContext(
        client_for=CTX.client_for,
        agency_for=CTX.agency_for,
        category_codes=(*CATEGORY_CODES, CodeMapping(LOINC, "18842-5", "health")),
    )
    res = resource(provision=provision(code=[concept(LOINC, "18842-5")]))
    assert only_body(res, context)["categories"] == ["health"]


@pytest.mark.parametrize("element", ["dataPeriod", "data"])
def test_data_restrictions_are_refused(element):
    value = {"start": "2020-01-01"} if element == "dataPeriod" else [{"meaning": "instance"}]
    res = resource(provision=provision(**{element: value}))
    assert issues(res) == [(f"Consent.provision.{element}", "not-supported")]


# --- nested provisions --------------------------------------------------------------------


def test_base_permit_with_a_nested_deny_gives_a_permit_and_a_scoped_deny():
    nested = {
        "type": "deny",
        "period": {"start": "2025-06-01T00:00:00Z"},
        "securityLabel": [coding(ACT_CODE, "HIV")],  # narrower code: fine in a deny
        "purpose": [coding(ACT_REASON, "HPAYMT")],
    }
    root = provision(code=None, purpose=None, provision=[nested])
    mapping = from_fhir(resource(provision=root), CTX)
    assert mapping.ok
    assert mapping.bodies == (
        body(categories=[ANY], purposes=[ANY]),
        body(
            provision="deny",
            categories=["health"],
            purposes=["payment"],
            effective_from="2025-06-01T00:00:00+00:00",
        ),
    )
    assert mapping.origins[1]["categories"] == "Consent.provision.provision[0].securityLabel"
    assert mapping.origins[1]["expires_at"] == "Consent.provision.period.end"


def test_base_permit_with_nested_permits_is_read_as_narrowing():
    root = provision(
        code=None,
        provision=[
            {"type": "permit", "code": [concept(ACT_CODE, "BH")]},
            {"type": "permit", "code": [concept(CTX.category_system, "housing")]},
            {"type": "deny", "securityLabel": [coding(ACT_CODE, "SUD")]},
        ],
    )
    mapping = from_fhir(resource(provision=root), CTX)
    # No permit for the root alone: the nested permits say what the OPTIN covers.
    assert [(b["provision"], b["categories"], b["purposes"]) for b in mapping.bodies] == [
        ("permit", ["behavioral_health"], ["care_coordination"]),
        ("permit", ["housing"], ["care_coordination"]),
        ("deny", ["substance_use"], ["care_coordination"]),
    ]
    assert all(b["recipients"] == ["CLINIC"] for b in mapping.bodies)


def test_base_deny_with_a_nested_deny_keeps_only_the_base():
    root = provision(provision=[{"type": "deny", "code": [concept(ACT_CODE, "BH")]}])
    mapping = from_fhir(resource(policyRule=concept(ACT_CODE, "OPTOUT"), provision=root), CTX)
    assert mapping.bodies == (body(provision="deny"),)
    assert [w.path for w in mapping.warnings] == ["Consent.provision.provision[0]"]


def test_base_deny_with_a_permit_exception_is_refused():
    root = provision(
        purpose=None, provision=[{"type": "permit", "purpose": [coding(ACT_REASON, "ETREAT")]}]
    )
    res = resource(policyRule=concept(ACT_CODE, "OPTOUTE"), provision=root)
    assert issues(res) == [("Consent.provision.provision[0].type", "not-supported")]


def test_nested_provision_refusals():
    untyped = provision(provision=[{"purpose": [coding(ACT_REASON, "COC")]}])
    assert issues(resource(provision=untyped)) == [
        ("Consent.provision.provision[0].type", "required")
    ]
    deep = provision(provision=[{"type": "deny", "provision": [{"type": "permit"}]}])
    assert issues(resource(provision=deep)) == [
        ("Consent.provision.provision[0].provision", "not-supported")
    ]
    outside = provision(provision=[{"type": "deny", "purpose": [coding(ACT_REASON, "TREAT")]}])
    assert issues(resource(provision=outside)) == [
        ("Consent.provision.provision[0].purpose", "invalid")
    ]
    late = provision(provision=[{"type": "deny", "period": {"start": "2027-01-01"}}])
    assert issues(resource(provision=late)) == [
        ("Consent.provision.provision[0].period", "invalid")
    ]


# --- whole-resource refusals and nothing partial ------------------------------------------


def test_not_a_consent():
    assert issues({"resourceType": "Patient"}) == [("Consent", "invalid")]
    assert issues([1, 2]) == [("Consent", "invalid")]


def test_modifier_extensions_are_refused_wherever_they_are():
    mod = [{"url": "http://example.org/x", "valueBoolean": True}]
    assert issues(resource(modifierExtension=mod)) == [
        ("Consent.modifierExtension", "not-supported")
    ]
    res = resource(
        provision=provision(actor=[{**actor("IRCP", "Organization/C"), "modifierExtension": mod}])
    )
    assert issues(res) == [("Consent.provision.actor[0].modifierExtension", "not-supported")]


def test_one_bad_element_means_no_body_at_all():
    res = resource(
        provision=provision(purpose=[coding(ACT_REASON, "TREAT"), coding(ACT_REASON, "X")])
    )
    mapping = from_fhir(res, CTX)
    assert mapping.bodies == () and [i.path for i in mapping.issues] == [
        "Consent.provision.purpose[1]"
    ]


def test_wrong_json_shapes_are_named():
    assert issues(resource(provision=[])) == [("Consent.provision", "invalid")]
    assert ("Consent.performer", "invalid") in issues(resource(performer={"reference": "x"}))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PATHS = st.sampled_from(
    [
        ("status",),
        ("patient",),
        ("performer",),
        ("dateTime",),
        ("provision",),
        ("provision", "actor"),
        ("provision", "period"),
        ("provision", "code"),
        ("provision", "provision"),
        ("sourceAttachment",),
        ("extension",),
        ("policyRule",),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=PATHS, value=JSON)
def test_from_fhir_never_raises_on_malformed_input(path, value):
    res = resource()
    target = res
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    mapping = from_fhir(res, CTX)
    assert mapping.ok == (not mapping.issues)
    assert bool(mapping.bodies) == mapping.ok


# --- OperationOutcome ---------------------------------------------------------------------

R4_ISSUE_TYPES = {
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
}


def assert_r4_operation_outcome(outcome: dict[str, Any]) -> None:
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["text"]["status"] == "generated"
    assert outcome["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert isinstance(outcome["issue"], list) and outcome["issue"]
    for issue in outcome["issue"]:
        assert set(issue) <= {"severity", "code", "diagnostics", "expression"}
        assert issue["severity"] in {"fatal", "error", "warning", "information"}
        assert issue["code"] in R4_ISSUE_TYPES
        assert isinstance(issue["diagnostics"], str) and issue["diagnostics"]
        if "expression" in issue:
            assert all(isinstance(e, str) and e.startswith("Consent") for e in issue["expression"])
    json.dumps(outcome)


def test_operation_outcome_is_valid_r4():
    mapping = from_fhir(load("consent-example-signature"), FhirContext())
    outcome = to_operation_outcome(mapping.issues)
    assert_r4_operation_outcome(outcome)
    assert outcome["issue"][0] == {
        "severity": "error",
        "code": "not-found",
        "diagnostics": mapping.issues[0].diagnostics,
        "expression": ["Consent.patient"],
    }
    warned = from_fhir(related(None), CTX)
    assert_r4_operation_outcome(to_operation_outcome(warned.warnings))
    assert to_operation_outcome(warned.warnings)["issue"][0]["severity"] == "warning"


def test_operation_outcome_of_nothing_is_informational():
    outcome = to_operation_outcome([])
    assert_r4_operation_outcome(outcome)
    assert outcome["issue"][0]["severity"] == "information"


def test_operation_outcome_escapes_narrative():
    outcome = to_operation_outcome([FhirIssue("Consent.x", IssueCode.INVALID, "<b>&</b>")])
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in outcome["text"]["div"]


def test_validation_errors_are_reported_against_fhir_elements():
    # A Part 2 permit naming no recipient and lacking the revocation acknowledgement.
    res = resource(provision=provision(actor=None, code=[concept(ACT_CODE, "SUD")]))
    mapping = from_fhir(res, CTX)
    errors = validate_consent(
        mapping.bodies[0], ValidationContext(now=datetime(2025, 3, 1, tzinfo=UTC))
    )
    found = {(i.path, str(i.code)) for i in validation_issues(errors, mapping.origins[0])}
    assert found == {
        ("Consent.provision", "business-rule"),
        (
            f"Consent.extension('{CTX.extension_url('revocation-right-acknowledged')}')",
            "business-rule",
        ),
    }


# --- the HL7 examples ---------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_hl7_signature_example_without_context():
    assert issues(load("consent-example-signature"), FhirContext()) == [
        ("Consent.patient", "not-found"),
        ("Consent.performer[0]", "not-found"),
        ("Consent.performer[0].display", "required"),
        ("Consent.organization[0]", "not-found"),
        ("Consent.provision.actor[0].reference", "not-found"),
        ("Consent.provision.provision[0].actor[0].role", "not-supported"),
        ("Consent.provision.provision[0].class[0]", "not-supported"),
        ("Consent.provision.provision[0].code[0]", "not-supported"),
        ("Consent.provision.provision[0].code[1]", "not-supported"),
    ]


HL7_CONTEXT = FhirContext(
    client_for={"Patient/72": "client-72", "Patient/xcda": "client-xcda"},
    agency_for={"Organization/f001": "BURGERS", "Practitioner/13": "CLINIC13"},
    person_for={
        "Patient/72": {
            "resourceType": "Patient",
            "name": [{"given": ["Pieter"], "family": "van de Heuvel"}],
        },
        "RelatedPerson/peter": {
            "resourceType": "RelatedPerson",
            "name": [{"text": "Peter Chalmers"}],
        },
    },
)


def test_hl7_signature_example_with_its_references_resolved():
    """Identity, custodian and recipient all map; what cannot is the nested permit's content:
    "documents by this author" (AUT) and CDA/LOINC document types have no caseops equivalent."""
    mapping = from_fhir(load("consent-example-signature"), HL7_CONTEXT)
    assert [(i.path, str(i.code)) for i in mapping.issues] == [
        ("Consent.provision.provision[0].actor[0].role", "not-supported"),
        ("Consent.provision.provision[0].class[0]", "not-supported"),
        ("Consent.provision.provision[0].code[0]", "not-supported"),
        ("Consent.provision.provision[0].code[1]", "not-supported"),
    ]
    text = " ".join(i.diagnostics for i in mapping.issues)
    assert "author" in text and "MIME type" in text and "LOINC document type" in text


def test_hl7_signature_example_still_refused_when_loinc_documents_are_mapped():
    context = FhirContext(
        client_for=HL7_CONTEXT.client_for,
        agency_for=HL7_CONTEXT.agency_for,
        person_for=HL7_CONTEXT.person_for,
        category_codes=(
            *CATEGORY_CODES,
            CodeMapping(LOINC, "34133-9", "health"),
            CodeMapping(LOINC, "18842-5", "health"),
        ),
    )
    assert issues(load("consent-example-signature"), context) == [
        ("Consent.provision.provision[0].actor[0].role", "not-supported"),
        ("Consent.provision.provision[0].class[0]", "not-supported"),
    ]


def test_hl7_smartonfhir_example_without_context():
    mapping = from_fhir(load("consent-example-smartonfhir"), FhirContext())
    assert [(i.path, str(i.code)) for i in mapping.issues] == [
        ("Consent.patient", "not-found"),
        ("Consent.performer[0].display", "required"),
        ("Consent.organization[0]", "not-found"),
        ("Consent.provision.provision[0].class[0]", "not-supported"),
    ]
    assert [w.path for w in mapping.warnings] == ["Consent.performer[0]"]


def test_hl7_smartonfhir_example_with_its_references_resolved():
    """Only the data class is left: a FHIR resource type is not a caseops category."""
    assert issues(load("consent-example-smartonfhir"), HL7_CONTEXT) == [
        ("Consent.provision.provision[0].class[0]", "not-supported")
    ]


def test_hl7_smartonfhir_example_when_the_deployment_maps_medication_requests():
    context = FhirContext(
        client_for=HL7_CONTEXT.client_for,
        agency_for=HL7_CONTEXT.agency_for,
        person_for=HL7_CONTEXT.person_for,
        category_codes=(
            *CATEGORY_CODES,
            CodeMapping(RESOURCE_TYPES, "MedicationRequest", "health"),
        ),
    )
    mapping = from_fhir(load("consent-example-smartonfhir"), context)
    # The nested permit narrows the OPTIN base; no actor is named, so any recipient may read,
    # for any purpose, during the 30 minutes.
    assert mapping.bodies == (
        {
            "client_id": "client-xcda",
            "provision": "permit",
            "source_agencies": ["BURGERS"],
            "categories": ["health"],
            "recipients": [ANY],
            "purposes": [ANY],
            "effective_from": "2016-06-23T07:02:33+00:00",
            "expires_at": "2016-06-23T07:32:33+00:00",
            "grantor": {"kind": "authorized_representative", "name": "Peter Chalmers"},
            "signed_at": "2016-06-23T07:02:33+00:00",
            "evidence": {"method": "electronic"},
            "revocation_right_acknowledged": False,
        },
    )


# --- caseops -> FHIR ----------------------------------------------------------------------

T0 = datetime(2025, 2, 1, tzinfo=UTC)


def stored(**changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "id": "k-1",
        "client_id": "c1",
        "grantor": Grantor(kind="parent", name="Mia Lee"),
        "provision": "permit",
        "source_agencies": {"HOUSING"},
        "categories": {"substance_use"},
        "recipients": {"CLINIC"},
        "purposes": {"treatment"},
        "effective_from": T0,
        "expires_at": T0 + timedelta(days=365),
        "signed_at": T0 - timedelta(days=1),
        "evidence": Evidence(method="written", document_sha256=PDF_SHA256),
        "revocation_right_acknowledged": True,
        "recorded_by": "officer",
        "recorded_at": T0,
    }
    fields.update(changes)
    return Consent(**fields)


DOC_CTX = FhirContext(
    client_for=CTX.client_for,
    agency_for=CTX.agency_for,
    document_for={PDF_SHA256: StoredDocument(PDF, title="consent.pdf")},
)


def test_to_fhir_shape():
    out = to_fhir(stored(), DOC_CTX, status=Status.ACTIVE)
    assert out["resourceType"] == "Consent" and out["id"] == "k-1"
    assert out["identifier"] == [{"system": DOC_CTX.identifier_system, "value": "k-1"}]
    assert out["status"] == "active"
    assert out["patient"] == {"reference": "Patient/c1"}
    assert out["dateTime"] == "2025-01-31T00:00:00+00:00"
    assert out["performer"] == [{"reference": "#grantor", "display": "Mia Lee"}]
    assert out["contained"][0]["relationship"] == [concept(ROLE_CODE, "PRN")]
    assert out["organization"] == [{"reference": "Organization/HOUSING"}]
    assert out["policyRule"] == concept(ACT_CODE, "OPTIN")
    assert out["sourceAttachment"]["hash"] == PDF_SHA1
    assert base64.b64decode(out["sourceAttachment"]["data"]) == PDF
    prov = out["provision"]
    assert "type" not in prov  # R4: not permitted in the root rule
    assert prov["actor"] == [
        actor("IRCP", "Organization/CLINIC"),
        actor("CST", "Organization/HOUSING"),
    ]
    assert prov["purpose"] == [coding(ACT_REASON, "TREAT")]
    assert prov["code"] == [concept(DOC_CTX.category_system, "substance_use")]
    assert prov["period"] == {
        "start": "2025-02-01T00:00:00+00:00",
        "end": "2026-02-01T00:00:00+00:00",
    }


R4_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_to_fhir_gives_a_caseops_consent_an_r4_id_and_keeps_its_own_as_identifier():
    out = to_fhir(stored(id="cns_00ff3a9b41c2d5e6f708"), CTX, status=Status.ACTIVE)
    assert out["id"] == "cns-00ff3a9b41c2d5e6f708" and R4_ID.fullmatch(out["id"])
    assert out["identifier"] == [
        {"system": CTX.identifier_system, "value": "cns_00ff3a9b41c2d5e6f708"}
    ]
    assert internal_id(out["id"]) == "cns_00ff3a9b41c2d5e6f708"


def test_an_id_that_no_mapping_makes_valid_is_left_out_rather_than_sent_invalid():
    assert fhir_id("x" * 65) is None and fhir_id("cns_a/b") is None
    assert "id" not in to_fhir(stored(id="cns a"), CTX, status=Status.ACTIVE)


@given(
    prefix=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    digits=st.from_regex(r"[0-9a-f]{1,40}", fullmatch=True),
)
def test_caseops_ids_map_to_valid_r4_ids_and_back(prefix, digits):
    caseops_id = f"{prefix}_{digits}"
    mapped = fhir_id(caseops_id)
    assert mapped is not None and R4_ID.fullmatch(mapped)
    assert internal_id(mapped) == caseops_id  # the R4 form names the consent
    assert internal_id(caseops_id) == caseops_id  # and so does the caseops form


def test_to_fhir_any_scopes_leave_conditions_out():
    out = to_fhir(
        stored(source_agencies={ANY}, recipients={ANY}, purposes={ANY}, categories={ANY}),
        CTX,
        status=Status.ACTIVE,
    )
    assert "organization" not in out
    assert set(out["provision"]) == {"period", "action"}


@pytest.mark.parametrize(
    ("status", "fhir_status"),
    [
        (Status.ACTIVE, "active"),
        (Status.NOT_YET_EFFECTIVE, "active"),
        (Status.EXPIRED, "inactive"),
        (Status.REVOKED, "inactive"),
        (Status.SUPERSEDED, "inactive"),
        (Status.DRAFT, "draft"),
    ],
)
def test_to_fhir_status(status, fhir_status):
    assert to_fhir(stored(), CTX, status=status)["status"] == fhir_status


def test_to_fhir_derives_status_when_not_given():
    context = FhirContext(now=T0 + timedelta(days=400))
    assert to_fhir(stored(), context)["status"] == "inactive"
    assert to_fhir(stored(signed_at=None), context)["status"] == "draft"
    assert "dateTime" not in to_fhir(stored(signed_at=None), context)


def test_round_trip_with_identifier_references():
    context = FhirContext(
        client_for={"urn:mci|c1": "c1"},
        agency_for={"urn:agency|HOUSING": "HOUSING", "urn:agency|CLINIC": "CLINIC"},
        patient_reference=lambda cid: {"identifier": {"system": "urn:mci", "value": cid}},
        agency_reference=lambda code: {"identifier": {"system": "urn:agency", "value": code}},
    )
    for kind in ("self", "guardian"):
        consent = stored(grantor=Grantor(kind=kind, name="Ann Lee"))
        out = to_fhir(consent, context, status=Status.ACTIVE)
        assert only_body(out, context) == consent_body(consent) | {
            "evidence": {"method": "written"}
        }


def test_inactive_consents_do_not_come_back_in():
    out = to_fhir(stored(), DOC_CTX, status=Status.REVOKED)
    assert issues(out, DOC_CTX) == [("Consent.status", "not-supported")]


# --- round trip ---------------------------------------------------------------------------

AGENCIES = ("HOUSING", "CLINIC", "SCHOOL", "DHS")
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=10)), timezone(timedelta(hours=-4, minutes=-30))]
)
INSTANTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=ZONES
)
NAMES = st.from_regex(r"[A-Z][a-z]{0,8}( [A-Z][a-z'\-]{0,8}){0,2}", fullmatch=True)


def scopes(codes):
    return st.one_of(
        st.just(frozenset({ANY})), st.frozensets(st.sampled_from(sorted(codes)), min_size=1)
    )


@st.composite
def consents(draw) -> tuple[Consent, dict[str, StoredDocument]]:
    effective_from = draw(INSTANTS)
    lasts = draw(
        st.none()
        | st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=4000))
    )
    document = draw(st.none() | st.binary(min_size=1, max_size=64))
    sha = hashlib.sha256(document).hexdigest() if document is not None else None
    consent = Consent(
        id=draw(st.from_regex(r"[a-z0-9][a-z0-9\-]{0,30}", fullmatch=True)),
        client_id=draw(st.from_regex(r"c[0-9]{1,6}", fullmatch=True)),
        grantor=Grantor(
            kind=draw(st.sampled_from(["self", "parent", "guardian", "authorized_representative"])),
            name=draw(NAMES),
        ),
        provision=draw(st.sampled_from(["permit", "deny"])),
        source_agencies=draw(scopes(AGENCIES)),
        categories=draw(scopes(DEFAULT_CATEGORIES)),
        recipients=draw(scopes(AGENCIES)),
        purposes=draw(scopes(DEFAULT_PURPOSES)),
        effective_from=effective_from,
        expires_at=None if lasts is None else effective_from + lasts,
        expiry_event=draw(st.none() | st.sampled_from(["end of treatment", "case closed"])),
        signed_at=draw(INSTANTS),
        evidence=Evidence(
            method=draw(st.sampled_from(["written", "electronic", "verbal_witnessed"])),
            document_sha256=sha,
        ),
        revocation_right_acknowledged=draw(st.booleans()),
        recorded_by="officer",
        recorded_at=draw(INSTANTS),
        version=draw(st.integers(1, 5)),
    )
    documents = {sha: StoredDocument(document)} if sha else {}
    return consent, documents


@settings(max_examples=250, deadline=None)
@given(consents())
def test_round_trip(generated):
    consent, documents = generated
    context = FhirContext(
        client_for=CTX.client_for, agency_for=CTX.agency_for, document_for=documents
    )
    wire = json.loads(json.dumps(to_fhir(consent, context, status=Status.ACTIVE)))
    mapping = from_fhir(wire, context)
    assert mapping.issues == ()
    assert mapping.bodies == (consent_body(consent),)
