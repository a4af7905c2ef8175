"""The row-by-row FHIR R4 Consent <-> caseops mapping table, and its Markdown rendering."""

from __future__ import annotations

from typing import NamedTuple

from consent.fhir.codes import (
    ACT_CODE,
    ACT_REASON,
    ACTIONS,
    ACTOR_ROLES,
    CATEGORY_CODES,
    CONFIDENTIALITY,
    CONSENT_ACTION,
    GRANTOR_RELATIONSHIPS,
    LOINC,
    MIME_TYPES,
    PARTICIPATION_TYPE,
    POLICY_RULES,
    PURPOSE_CODES,
    RESOURCE_TYPES,
    ROLE_CODE,
    STATUS_RULES,
    UNMAPPED_CODES,
    UNMAPPED_SYSTEMS,
)


class MappingRow(NamedTuple):
    fhir: str
    caseops: str
    rule: str


MAPPING_TABLE: tuple[MappingRow, ...] = (
    MappingRow(
        "Consent.status",
        "(gate)",
        "`active` is recorded; `draft`, `proposed`, `rejected`, `inactive`, `entered-in-error` "
        "are refused with the reason in STATUS_RULES.",
    ),
    MappingRow(
        "Consent.scope",
        "(gate)",
        "Only `patient-privacy` (consentscope); `research`, `treatment`, `adr` are out of scope.",
    ),
    MappingRow(
        "Consent.policyRule, provision.type (root)",
        "provision",
        "Base rule: root `provision.type` if present, else policyRule (POLICY_RULES). Neither: "
        "refused (required). Any other rule is refused.",
    ),
    MappingRow(
        "Consent.policy[]",
        "(gate)",
        "Refused unless `policy.uri`/`authority` is in FhirContext.accepted_policies.",
    ),
    MappingRow(
        "Consent.patient",
        "client_id",
        "Reference or identifier resolved by FhirContext.client_for; unresolved: not-found.",
    ),
    MappingRow("Consent.dateTime", "signed_at", "Required; day precision at least."),
    MappingRow(
        "Consent.performer[0]",
        "grantor.kind",
        "The consent's own Patient -> `self`; RelatedPerson -> by relationship "
        "(GRANTOR_RELATIONSHIPS), otherwise `authorized_representative`; Organization, "
        "Practitioner, PractitionerRole (possibly the grantee) are refused; more than one "
        "performer is refused.",
    ),
    MappingRow(
        "Consent.performer[0].display",
        "grantor.name",
        "Else the contained resource's name, else FhirContext.person_for's; none: required.",
    ),
    MappingRow(
        "Consent.organization[]",
        "source_agencies",
        "Resolved by FhirContext.agency_for; the sources when the root provision names no "
        "CST/INF actor.",
    ),
    MappingRow(
        "Consent.sourceAttachment",
        "evidence",
        "method `written`; document_sha256 = SHA-256 of `data` (a SHA-1 `hash` or `size` "
        "given must match); no `data`: no fingerprint (warning).",
    ),
    MappingRow(
        "Consent.sourceReference",
        "evidence.method",
        "DocumentReference -> `written`, other targets -> `electronic`; no fingerprint.",
    ),
    MappingRow("(no source)", "evidence.method", "`electronic` (the FHIR resource is the record)."),
    MappingRow(
        "provision.period.start / .end",
        "effective_from / expires_at",
        "No start: effective from dateTime. A date-only end includes that day. Nested periods "
        "are intersected with the root period.",
    ),
    MappingRow(
        "provision.actor[].role + .reference",
        "recipients / source_agencies",
        "By role (ACTOR_ROLES); reference resolved to an agency by FhirContext.agency_for; "
        "persons, devices and groups are refused. No actor of a kind: `*`.",
    ),
    MappingRow(
        "provision.action[]",
        "(condition)",
        "`access` and `disclose` are what a caseops consent governs; others are refused.",
    ),
    MappingRow(
        "provision.purpose[]",
        "purposes",
        "v3 PurposeOfUse (PURPOSE_CODES) or the caseops purpose system; none: `*`.",
    ),
    MappingRow(
        "provision.class[] / code[] / securityLabel[]",
        "categories",
        "CATEGORY_CODES; union within an element, intersection across elements; none: `*`.",
    ),
    MappingRow(
        "provision.dataPeriod, provision.data[]",
        "-",
        "Refused: caseops consents cover whole categories, not periods or single resources.",
    ),
    MappingRow(
        "provision.provision[]",
        "extra bodies",
        "One level: base permit + nested deny -> extra deny; same-type nested permit narrows "
        "the base; base deny + nested permit refused; deeper nesting refused.",
    ),
    MappingRow(
        "extension evidence-method",
        "evidence.method",
        "caseops extension (valueCode written|electronic|verbal_witnessed), overrides the "
        "default above.",
    ),
    MappingRow(
        "extension revocation-right-acknowledged",
        "revocation_right_acknowledged",
        "caseops extension (valueBoolean); absent: false.",
    ),
    MappingRow("extension expiry-event", "expiry_event", "caseops extension (valueString)."),
    MappingRow(
        "extension intermediary",
        "intermediary",
        "caseops extension (valueString): the intermediary named on the consent, 42 CFR "
        "2.31(a)(4)(ii); must be this deployment's CASEOPS_INTERMEDIARY_NAME.",
    ),
    MappingRow(
        "extension general-designation",
        "general_designation",
        "caseops extension (valueCode `treating_provider_relationship`): participants of the "
        "intermediary with a treating provider relationship with the patient, 42 CFR "
        "2.31(a)(4)(ii)(B), decided per request. With no IRCP actor, recipients are none but "
        "the designation (not `*`).",
    ),
    MappingRow(
        "extension recipient-description",
        "recipient_description",
        "caseops extension (valueString): the class of recipients in the consent's words, "
        "42 CFR 2.31(a)(4)(i).",
    ),
    MappingRow(
        "extension hipaa-redisclosure-statement",
        "hipaa_redisclosure_statement",
        "caseops extension (valueBoolean; absent: false): the consent carries the 42 CFR "
        "2.31(a)(4)(iii) statement.",
    ),
    MappingRow(
        "id, meta, text, identifier, category, verification, other extensions",
        "-",
        "Ignored (informational). Any modifierExtension is refused.",
    ),
)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def mapping_table_markdown() -> str:
    """The mapping tables as Markdown, for the README."""
    lines = [
        "| FHIR R4 Consent element | caseops field | rule |",
        "|---|---|---|",
        *(f"| `{_md(r.fhir)}` | `{_md(r.caseops)}` | {_md(r.rule)} |" for r in MAPPING_TABLE),
        "",
        "| FHIR code (system) | caseops | note |",
        "|---|---|---|",
    ]
    short = {
        ACT_CODE: "v3-ActCode",
        ACT_REASON: "v3-ActReason",
        PARTICIPATION_TYPE: "v3-ParticipationType",
        ROLE_CODE: "v3-RoleCode",
        CONSENT_ACTION: "consentaction",
    }
    for code, reason in STATUS_RULES.items():
        lines.append(
            f"| status `{code}` | {'record' if reason is None else 'refused'} | "
            f"{_md(reason or '')} |"
        )
    for code, provision in POLICY_RULES.items():
        lines.append(f"| `{code}` (v3-ActCode, policyRule) | base `{provision}` | |")
    for code, scope in ACTOR_ROLES.items():
        lines.append(f"| `{code}` (v3-ParticipationType, actor.role) | `{scope}` | |")
    for code, reason in ACTIONS.items():
        lines.append(
            f"| `{code}` (consentaction) | {'maps' if reason is None else 'refused'} | "
            f"{_md(reason or '')} |"
        )
    for mapping in PURPOSE_CODES:
        note = "" if mapping.exact else "narrower: deny provisions only"
        lines.append(
            f"| `{mapping.code}` ({short[mapping.system]}, purpose) | `{mapping.target}` | {note} |"
        )
    lines.append("| caseops purpose system | same code | exact |")
    for mapping in CATEGORY_CODES:
        note = "" if mapping.exact else "narrower: deny provisions only"
        lines.append(
            f"| `{mapping.code}` ({short[mapping.system]}, class/code/securityLabel) | "
            f"`{mapping.target}` | {note} |"
        )
    lines.append("| caseops record-category system | same code | exact |")
    for (system, code), reason in UNMAPPED_CODES.items():
        lines.append(f"| `{code}` ({short[system]}) | refused | {_md(reason)} |")
    for code, kind in GRANTOR_RELATIONSHIPS.items():
        lines.append(f"| `{code}` (v3-RoleCode, RelatedPerson.relationship) | `{kind}` | |")
    lines.append(
        "| any other relationship | `authorized_representative` | step and foster parents "
        "included |"
    )
    systems = {
        MIME_TYPES: "MIME type",
        RESOURCE_TYPES: "FHIR resource type",
        LOINC: "LOINC",
        CONFIDENTIALITY: "v3-Confidentiality",
    }
    for system, reason in UNMAPPED_SYSTEMS.items():
        lines.append(f"| any {systems[system]} code | refused | {_md(reason)} |")
    return "\n".join(lines)
