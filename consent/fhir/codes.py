"""The code systems and code tables (value sets) the FHIR mapping reads and writes.

Each table says how a FHIR code maps onto caseops, or why it is refused; `mapping.py`
renders them all as Markdown.
"""

from __future__ import annotations

from typing import NamedTuple

from consent.model import (
    GrantorKind,
    Provision,
)

# --- code systems -------------------------------------------------------------------------

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY_LOINC = "http://loinc.org"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
MIME_TYPES = "urn:ietf:bcp:13"
LOINC = "http://loinc.org"

DEFAULT_CANONICAL_BASE = "https://caseops.invalid/fhir"
"""Placeholder base for caseops' own code systems and extensions; deployments set their own."""


STATUS_RULES: dict[str, str | None] = {
    "active": None,
    "draft": "A draft is not yet a consent; record it once the client has signed.",
    "proposed": "A proposed consent has not been agreed by the client yet; record it once signed.",
    "rejected": (
        "The client declined this consent, so there is nothing to permit; to record a refusal "
        "to share, send an active consent with a deny provision."
    ),
    "inactive": (
        "The consent is no longer in force; caseops records consents as given and ends them by "
        "revocation or expiry, so an inactive consent is not recorded."
    ),
    "entered-in-error": "The consent was entered in error and must not be relied on.",
}

POLICY_RULES: dict[str, Provision] = {
    "OPTIN": Provision.PERMIT,
    "OPTINR": Provision.PERMIT,
    "OPTOUT": Provision.DENY,
    "OPTOUTE": Provision.DENY,
}
"""v3-ActCode consent directive codes -> the base provision."""

ACTOR_ROLES: dict[str, str] = {
    "IRCP": "recipients",
    "PRCP": "recipients",
    "CST": "source_agencies",
    "INF": "source_agencies",
}
"""v3-ParticipationType role -> the caseops scope an actor restricts."""

ACTIONS: dict[str, str | None] = {
    "access": None,
    "disclose": None,
    "collect": "collecting data is not disclosure; caseops consents govern disclosure only",
    "use": (
        "a consent to use information says nothing about disclosing it; caseops consents "
        "govern disclosure to other agencies"
    ),
    "correct": "correcting records is not disclosure; caseops consents govern disclosure only",
}
"""consentaction codes: None maps (what a caseops consent governs), else the refusal reason."""


class CodeMapping(NamedTuple):
    """A FHIR code and the caseops code it maps to.

    `exact` is False when the FHIR code names only part of the caseops code: it then maps in
    deny provisions only (widening a deny withholds more, widening a permit would disclose more).
    """

    system: str
    code: str
    target: str
    exact: bool = True


PURPOSE_CODES: tuple[CodeMapping, ...] = (
    CodeMapping(ACT_REASON, "TREAT", "treatment"),
    CodeMapping(ACT_REASON, "HPAYMT", "payment"),
    CodeMapping(ACT_REASON, "HOPERAT", "operations"),
    CodeMapping(ACT_REASON, "ETREAT", "emergency"),
    CodeMapping(ACT_REASON, "COC", "care_coordination"),
    CodeMapping(ACT_REASON, "ELIGDTRM", "eligibility"),
    CodeMapping(ACT_REASON, "ELIGVER", "eligibility", exact=False),
)
"""v3 PurposeOfUse (code system v3-ActReason) -> caseops purposes. The first code listed for a
purpose is the one `to_fhir` writes."""

CATEGORY_CODES: tuple[CodeMapping, ...] = (
    CodeMapping(ACT_CODE, "SUD", "substance_use"),
    CodeMapping(ACT_CODE, "ETH", "substance_use"),
    CodeMapping(ACT_CODE, "42CFRPart2", "substance_use"),
    CodeMapping(ACT_CODE, "ETHUD", "substance_use", exact=False),
    CodeMapping(ACT_CODE, "OPIOIDUD", "substance_use", exact=False),
    CodeMapping(ACT_CODE, "BH", "behavioral_health"),
    CodeMapping(ACT_CODE, "MH", "behavioral_health"),
    CodeMapping(ACT_CODE, "PSY", "behavioral_health", exact=False),
    CodeMapping(ACT_CODE, "PSYTHPN", "behavioral_health", exact=False),
    CodeMapping(ACT_CODE, "HIV", "health", exact=False),
    CodeMapping(ACT_CODE, "STD", "health", exact=False),
    CodeMapping(ACT_CODE, "SEX", "health", exact=False),
)
"""Sensitivity codes (securityLabel, class or code) -> caseops categories. The caseops category
code system (`FhirContext.category_system`) maps each configured category exactly, and is what
`to_fhir` writes."""

UNMAPPED_CODES: dict[tuple[str, str], str] = {
    (ACT_CODE, "SOC"): (
        "social services information spans several caseops categories (housing, economic "
        "security, child welfare); name the categories instead"
    ),
    (ACT_CODE, "SDV"): "no caseops category corresponds to sexual or domestic violence records",
    (ACT_REASON, "CAREMGT"): (
        "care management has meant both treatment and operations across terminology versions; "
        "use COC (coordination of care) or TREAT"
    ),
    (ACT_REASON, "PATADMIN"): "patient administration is only part of operations",
    (ACT_REASON, "BTG"): (
        "break-the-glass access is a separate, audited caseops procedure, not a consent purpose"
    ),
    (ACT_REASON, "HRESCH"): "caseops does not share data for research",
    (ACT_REASON, "HMARKT"): "caseops does not share data for marketing",
    (ACT_REASON, "PUBHLTH"): "caseops has no public-health purpose",
}
"""Codes caseops deliberately does not map, with the reason given to the sender."""

UNMAPPED_SYSTEMS: dict[str, str] = {
    MIME_TYPES: (
        "a MIME type names a document format, not whose records or which kind of record it "
        "holds; caseops consents cover record categories"
    ),
    RESOURCE_TYPES: (
        "a FHIR resource type names a data structure, not which agency sector's records it "
        "holds (a MedicationRequest may be health, behavioral health or substance use data)"
    ),
    LOINC: (
        "a LOINC document type names a kind of clinical document, not a caseops record "
        "category; a deployment may map such codes through FhirContext.category_codes"
    ),
    CONFIDENTIALITY: (
        "a confidentiality level says how sensitive data is, not which category it belongs to"
    ),
}
"""Code systems caseops does not map by default, with the reason given to the sender."""

PARENT_CODES = frozenset(
    {"PRN", "MTH", "FTH", "NPRN", "NMTH", "NFTH", "ADOPTP", "ADOPTM", "ADOPTF"}
)
GUARDIAN_CODES = frozenset({"GUARD"})
GRANTOR_RELATIONSHIPS: dict[str, GrantorKind] = {
    **dict.fromkeys(sorted(PARENT_CODES), GrantorKind.PARENT),
    **dict.fromkeys(sorted(GUARDIAN_CODES), GrantorKind.GUARDIAN),
}
"""v3-RoleCode RelatedPerson.relationship -> grantor kind; any other (or unknown) relationship
is an authorized representative. Step and foster parents are not counted as parents: in caseops
a parent's signature carries FERPA rights."""


EXT_EVIDENCE_METHOD = "evidence-method"
EXT_REVOCATION_ACK = "revocation-right-acknowledged"
EXT_EXPIRY_EVENT = "expiry-event"
# 42 CFR Part 2 as amended in 2024 (docs/part2-2024.md): the intermediary named on the
# consent, the general designation of recipients through it, the class of recipients in the
# consent's words, and the 2.31(a)(4)(iii) HIPAA redisclosure statement.
EXT_INTERMEDIARY = "intermediary"
EXT_GENERAL_DESIGNATION = "general-designation"
EXT_RECIPIENT_DESCRIPTION = "recipient-description"
EXT_HIPAA_STATEMENT = "hipaa-redisclosure-statement"
PART2_2024_EXTENSIONS = (
    # (extension name, consent body field, FHIR value[x] type)
    (EXT_INTERMEDIARY, "intermediary", "valueString"),
    (EXT_GENERAL_DESIGNATION, "general_designation", "valueCode"),
    (EXT_RECIPIENT_DESCRIPTION, "recipient_description", "valueString"),
    (EXT_HIPAA_STATEMENT, "hipaa_redisclosure_statement", "valueBoolean"),
)

_SCOPES = ("source_agencies", "categories", "recipients", "purposes")
