"""FHIR R4 Consent <-> caseops consent, through one documented mapping table.

`from_fhir(resource, context)` reads a FHIR R4 Consent resource (parsed JSON) and returns a
`FhirMapping`: either the caseops consent API bodies it stands for, or the issues, each naming
the FHIR element (a FHIRPath such as `Consent.provision.actor[0].reference`) and why it cannot
be mapped. Nothing is partial: one issue and there are no bodies. `to_operation_outcome(issues)`
turns issues into an R4 OperationOutcome. `to_fhir(consent, context)` renders a stored consent as
R4 JSON that `from_fhir` maps back to the same body (`consent_body(consent)`).

The row-by-row table is `MAPPING_TABLE` (and the code tables `STATUS_RULES`, `POLICY_RULES`,
`ACTOR_ROLES`, `ACTIONS`, `PURPOSE_CODES`, `CATEGORY_CODES`, `GRANTOR_RELATIONSHIPS`,
`UNMAPPED_CODES`); `mapping_table_markdown()` renders all of them, and is appended to this
docstring at import. The decisions behind them:

* Only `status = active` consents in scope `patient-privacy` are recorded; every other status
  or scope is answered with a reason (caseops records signed privacy consents; revocation and
  amendment are caseops events, not FHIR status changes).
* Base rule: R4 puts the base in `policyRule` (`OPTIN`/`OPTINR` -> permit, `OPTOUT`/`OPTOUTE` ->
  deny) and forbids `provision.type` on the root provision; several HL7 examples set a root
  type anyway, so when it is present it is taken as the base. Other policy rules, and `policy`
  references not listed in `FhirContext.accepted_policies`, are refused: caseops cannot enforce
  terms it cannot read.
* Conditions inside one provision are conjunctive (period AND actors AND purposes AND
  class/code/securityLabel); entries of one list are alternatives. A dimension left
  unrestricted becomes `"*"` (any) - so a consent naming no recipient permits every agency.
* Nested provisions (one level; deeper nesting is refused). caseops has no exceptions, so the
  resource becomes a list of consent bodies; where FHIR leaves the meaning open, the reading
  that discloses less is taken:
  - base permit + nested deny -> the base permit plus one deny body per nested deny (each
    scoped to root AND nested conditions); in caseops a deny beats a permit, as intended;
  - base permit + nested permit (both HL7 examples do this) -> the nested permit either adds
    nothing or narrows the base; caseops reads it as narrowing: one permit per nested permit,
    scoped to root AND nested conditions, and no permit for the root alone;
  - base deny + nested deny -> the root deny already covers it: only the root deny is recorded
    (a warning says so);
  - base deny + nested permit -> refused: in caseops a deny always beats a permit, so a permit
    exception to a deny cannot be expressed; send the exception as a permit consent instead.
* Codes that name only part of a caseops code (e.g. `HIV` within `health`, `ETHUD` within
  `substance_use`, `ELIGVER` within `eligibility`) map only in deny provisions, where widening
  withholds more (with a warning); in a permit they would disclose more than was agreed, so they
  are refused. Unknown codes are refused naming the element; nothing is guessed.
* Evidence: an attachment or DocumentReference is a written consent, anything else electronic,
  unless the caseops `evidence-method` extension says otherwise. `Attachment.hash` is SHA-1 in R4;
  caseops stores SHA-256, so a fingerprint is recorded only when it can be computed from
  `Attachment.data` (and a SHA-1 hash or size given alongside must match it); an attachment
  without data is recorded without a fingerprint, with a warning.
* Date-only values (`2016-10-10`) are read in `FhirContext.timezone`: a start or signature date
  begins at the start of that day, an end date includes the whole day. Year or year-month
  precision is refused. A missing `provision.period.start` means effective from `dateTime`.
* Ignored (informational, no effect on sharing): `id`, `meta`, `text`, `identifier`,
  `category`, `verification`, and extensions other than caseops' own. Any `modifierExtension`
  is refused, as FHIR requires of readers that do not understand it.
* `to_fhir` writes the base rule as `policyRule` (`OPTIN` for permit, `OPTOUT` for deny) with an
  untyped root provision as R4 asks, recipients as `IRCP` actors, sources as `CST` actors and as
  `organization`, categories as `provision.code` in the caseops category system, purposes as v3
  PurposeOfUse codes, the grantor as `performer` (the Patient for `self`, otherwise a contained
  RelatedPerson), and the caseops-only fields as extensions. The stored document is embedded
  (`data` plus SHA-1 `hash`) when `FhirContext.document_for` supplies it, so the SHA-256 survives
  the round trip. The resource `id` is the caseops id in R4's alphabet (`cns_1f` -> `cns-1f`,
  `fhir_id`; `internal_id` reverses it); `identifier` carries the caseops id unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any, NamedTuple

from consent.model import (
    ANY,
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
    Consent,
    EvidenceMethod,
    GrantorKind,
    Provision,
    Status,
    status_at,
)

__all__ = [
    "ACTIONS",
    "ACTOR_ROLES",
    "CATEGORY_CODES",
    "GRANTOR_RELATIONSHIPS",
    "MAPPING_TABLE",
    "POLICY_RULES",
    "PURPOSE_CODES",
    "STATUS_RULES",
    "UNMAPPED_CODES",
    "UNMAPPED_SYSTEMS",
    "CodeMapping",
    "FhirContext",
    "FhirIssue",
    "FhirMapping",
    "IssueCode",
    "MappingRow",
    "StoredDocument",
    "consent_body",
    "fhir_id",
    "from_fhir",
    "internal_id",
    "mapping_table_markdown",
    "to_fhir",
    "to_operation_outcome",
    "validation_issues",
]

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


# --- the mapping table --------------------------------------------------------------------


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
        "id, meta, text, identifier, category, verification, other extensions",
        "-",
        "Ignored (informational). Any modifierExtension is refused.",
    ),
)

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


# --- issues -------------------------------------------------------------------------------


class IssueCode(StrEnum):
    """The R4 IssueType codes this module uses."""

    REQUIRED = "required"
    INVALID = "invalid"
    NOT_SUPPORTED = "not-supported"
    NOT_FOUND = "not-found"
    BUSINESS_RULE = "business-rule"
    INFORMATIONAL = "informational"


@dataclass(frozen=True, slots=True)
class FhirIssue:
    """Why one FHIR element cannot be mapped (`severity` error) or what was assumed (warning)."""

    path: str
    code: IssueCode
    diagnostics: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class FhirMapping:
    """The result of `from_fhir`: consent bodies, or issues and no bodies at all.

    `origins[i]` maps each field of `bodies[i]` (dotted, as validate_consent names them) to the
    FHIR element it came from, so recording-time validation errors can be reported in FHIR terms
    with `validation_issues`. `warnings` are assumptions made while mapping.
    """

    bodies: tuple[dict[str, Any], ...] = ()
    issues: tuple[FhirIssue, ...] = ()
    warnings: tuple[FhirIssue, ...] = ()
    origins: tuple[Mapping[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues


def to_operation_outcome(issues: Iterable[FhirIssue]) -> dict[str, Any]:
    """An R4 OperationOutcome listing the issues; an empty list yields one informational issue."""
    entries = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": str(issue.code),
            "diagnostics": issue.diagnostics,
        }
        if issue.path:
            entry["expression"] = [issue.path]
        entries.append(entry)
    if not entries:
        entries.append(
            {
                "severity": "information",
                "code": str(IssueCode.INFORMATIONAL),
                "diagnostics": "The consent was mapped without issues.",
            }
        )
    items = "".join(
        f"<li>{html.escape(e['severity'])}: "
        + (f"<code>{html.escape(e['expression'][0])}</code>: " if "expression" in e else "")
        + f"{html.escape(e['diagnostics'])}</li>"
        for e in entries
    )
    return {
        "resourceType": "OperationOutcome",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{items}</ul></div>',
        },
        "issue": entries,
    }


def validation_issues(
    errors: Mapping[str, Sequence[str]], origins: Mapping[str, str]
) -> list[FhirIssue]:
    """validate_consent's field errors for one mapped body, as issues naming FHIR elements."""
    return [
        FhirIssue(origins.get(name, "Consent"), IssueCode.BUSINESS_RULE, message)
        for name, messages in errors.items()
        for message in messages
    ]


# --- context ------------------------------------------------------------------------------

Resolver = Callable[[str], Any] | Mapping[str, Any]
"""A reference string ("Organization/f001"), or "system|value" for an identifier, to a value."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A signed consent document as caseops stores it (decrypted)."""

    data: bytes
    content_type: str = "application/pdf"
    title: str | None = None


def _patient_reference(client_id: str) -> dict[str, Any]:
    return {"reference": f"Patient/{client_id}"}


def _agency_reference(agency: str) -> dict[str, Any]:
    return {"reference": f"Organization/{agency}"}


@dataclass(frozen=True, kw_only=True)
class FhirContext:
    """What the web layer knows that a Consent resource does not say.

    Resolvers are callables or mappings; each is asked with the reference string as sent, its
    relative form ("Type/id") for absolute URLs, and "system|value" for each identifier, and
    returns None when it does not know the key:

    * `client_for`: Patient -> caseops client id;
    * `agency_for`: Organization, Practitioner, PractitionerRole... -> agency code; resolve a
      practitioner only where disclosing to their whole agency is acceptable, as caseops shares
      with agencies;
    * `person_for`: Patient or RelatedPerson -> that FHIR resource (dict), for the grantor's
      name and relationship when the Consent carries neither;
    * `document_for`: SHA-256 hex -> StoredDocument, used by `to_fhir` to embed the document.

    `patient_reference` and `agency_reference` build the References `to_fhir` writes and must be
    resolvable by `client_for` and `agency_for`.
    """

    client_for: Resolver = field(default_factory=dict)
    agency_for: Resolver = field(default_factory=dict)
    person_for: Resolver = field(default_factory=dict)
    document_for: Resolver = field(default_factory=dict)
    patient_reference: Callable[[str], dict[str, Any]] = _patient_reference
    agency_reference: Callable[[str], dict[str, Any]] = _agency_reference
    categories: frozenset[str] = DEFAULT_CATEGORIES
    purposes: frozenset[str] = DEFAULT_PURPOSES
    category_codes: Sequence[CodeMapping] = CATEGORY_CODES
    purpose_codes: Sequence[CodeMapping] = PURPOSE_CODES
    accepted_policies: frozenset[str] = frozenset()
    timezone: tzinfo = UTC
    canonical_base: str = DEFAULT_CANONICAL_BASE
    now: datetime | None = None

    @property
    def category_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/record-category"

    @property
    def purpose_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/purpose"

    @property
    def identifier_system(self) -> str:
        return f"{self.canonical_base}/consent-id"

    def extension_url(self, name: str) -> str:
        return f"{self.canonical_base}/StructureDefinition/{name}"

    def category_table(self) -> dict[tuple[str, str], CodeMapping]:
        own = {
            (self.category_system, c): CodeMapping(self.category_system, c, c)
            for c in self.categories
        }
        return {**{(m.system, m.code): m for m in self.category_codes}, **own}

    def purpose_table(self) -> dict[tuple[str, str], CodeMapping]:
        own = {
            (self.purpose_system, p): CodeMapping(self.purpose_system, p, p) for p in self.purposes
        }
        return {**{(m.system, m.code): m for m in self.purpose_codes}, **own}


EXT_EVIDENCE_METHOD = "evidence-method"
EXT_REVOCATION_ACK = "revocation-right-acknowledged"
EXT_EXPIRY_EVENT = "expiry-event"


# --- small readers ------------------------------------------------------------------------

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(internal_id: str) -> str | None:
    """The R4 `id` of a stored consent: the caseops id with `_` written as `-`.

    caseops ids are `cns_<hex>`, and R4 ids may hold only `[A-Za-z0-9\\-.]{1,64}`; without
    a mapping a read would come back without the `id` R4 requires. caseops ids never
    contain `-`, so `internal_id` undoes this exactly. The access log, the `identifier`
    element and every other caseops answer keep the caseops id. None when even the
    mapped form is not a valid R4 id (then the resource goes out without `id`).
    """
    mapped = internal_id.replace("_", "-")
    return mapped if _FHIR_ID.fullmatch(mapped) else None


def internal_id(resource_id: str) -> str:
    """The caseops id a FHIR id names: `cns-<hex>` -> `cns_<hex>`. A caseops id given as
    it is (`cns_<hex>`) comes back unchanged, so lookups accept both forms."""
    return resource_id.replace("-", "_")


_LITERAL_REF = re.compile(
    r"(?:.*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]+)?"
)
_DATETIME = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})(?:\.(?P<f>\d+))?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_AGENCY_TYPES = frozenset(
    {"Organization", "Practitioner", "PractitionerRole", "CareTeam", "HealthcareService"}
)


def _offset(text: str) -> tzinfo:
    """A FHIR time-zone suffix ("Z", "+10:00") as a tzinfo; ValueError when out of range."""
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(text)
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _lookup(resolver: Resolver, key: str) -> Any:
    if isinstance(resolver, Mapping):
        return resolver.get(key)
    return resolver(key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _human_name(resource: Mapping[str, Any]) -> str | None:
    names = resource.get("name")
    if not isinstance(names, list):
        return None
    for name in names:
        if not isinstance(name, Mapping):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return name["text"].strip()
        given = name.get("given") if isinstance(name.get("given"), list) else []
        parts = [p for p in [*given, name.get("family")] if isinstance(p, str) and p.strip()]
        if parts:
            return " ".join(p.strip() for p in parts)
    return None


@dataclass
class _Conditions:
    """One provision's conditions; a scope of None is unrestricted ("*")."""

    path: str
    rule: Provision | None = None
    start: datetime | None = None
    start_path: str | None = None
    end: datetime | None = None
    end_path: str | None = None
    scopes: dict[str, frozenset[str] | None] = field(default_factory=lambda: dict.fromkeys(_SCOPES))
    scope_paths: dict[str, str] = field(default_factory=dict)


_SCOPES = ("source_agencies", "categories", "recipients", "purposes")


class _Mapper:
    def __init__(self, resource: Mapping[str, Any], context: FhirContext) -> None:
        self.resource = resource
        self.context = context
        self.issues: list[FhirIssue] = []
        self.warnings: list[FhirIssue] = []
        contained = resource.get("contained")
        self.contained = {
            r["id"]: r
            for r in (contained if isinstance(contained, list) else [])
            if isinstance(r, Mapping) and isinstance(r.get("id"), str)
        }

    # issue helpers

    def error(self, path: str, code: IssueCode, message: str) -> None:
        self.issues.append(FhirIssue(path, code, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(FhirIssue(path, IssueCode.INFORMATIONAL, message, "warning"))

    def obj(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.error(path, IssueCode.INVALID, "This element must be a JSON object.")
            return None
        return value

    def items(self, value: Any, path: str) -> list[tuple[Mapping[str, Any], str]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, IssueCode.INVALID, "This element must be a JSON array.")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append((item, f"{path}[{i}]"))
            else:
                self.error(f"{path}[{i}]", IssueCode.INVALID, "Each entry must be a JSON object.")
        return out

    def codings(self, concept: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        """The (system, code) pairs of a CodeableConcept."""
        pairs = []
        for coding, cpath in self.items(concept.get("coding"), f"{path}.coding"):
            pair = self.coding(coding, cpath)
            if pair:
                pairs.append(pair)
        return pairs

    def coding(self, coding: Mapping[str, Any], path: str) -> tuple[str, str] | None:
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(code, str) or not code:
            self.error(path, IssueCode.REQUIRED, "The coding has no code.")
            return None
        return (system if isinstance(system, str) else "", code)

    def scan_modifier_extensions(self, value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key == "modifierExtension":
                    self.error(
                        f"{path}.modifierExtension",
                        IssueCode.NOT_SUPPORTED,
                        "This modifier extension changes the meaning of the consent and caseops "
                        "does not understand it, so the consent cannot be recorded.",
                    )
                else:
                    self.scan_modifier_extensions(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.scan_modifier_extensions(item, f"{path}[{i}]")

    # references

    def reference_target(
        self, ref: Mapping[str, Any]
    ) -> tuple[str | None, list[str], Mapping[str, Any] | None]:
        """(resource type, lookup keys, contained resource) of a Reference."""
        keys: list[str] = []
        rtype = ref.get("type") if isinstance(ref.get("type"), str) else None
        target = None
        literal = ref.get("reference")
        if isinstance(literal, str) and literal:
            if literal.startswith("#"):
                target = self.contained.get(literal[1:])
                if target is not None:
                    rtype = target.get("resourceType") or rtype
                    keys += _identifier_keys(target.get("identifier"))
            else:
                keys.append(literal)
                match = _LITERAL_REF.fullmatch(literal)
                if match:
                    rtype = match["type"]
                    relative = f"{match['type']}/{match['id']}"
                    if relative != literal:
                        keys.append(relative)
        keys += _identifier_keys([ref.get("identifier")])
        return rtype, keys, target

    def resolve(self, resolver: Resolver, keys: list[str]) -> Any:
        for key in keys:
            value = _lookup(resolver, key)
            if value is not None:
                return value
        return None

    def agency(self, ref: Mapping[str, Any] | None, path: str, role: str) -> str | None:
        if ref is None:
            self.error(path, IssueCode.REQUIRED, f"Say which agency is the {role}.")
            return None
        rtype, keys, _ = self.reference_target(ref)
        if rtype is not None and rtype not in _AGENCY_TYPES:
            self.error(
                path,
                IssueCode.NOT_SUPPORTED,
                f"caseops shares records between agencies; a {rtype} cannot be the {role}.",
            )
            return None
        if not keys:
            self.error(path, IssueCode.REQUIRED, f"The {role} reference names no resource.")
            return None
        code = self.resolve(self.context.agency_for, keys)
        if not isinstance(code, str) or not code:
            self.error(
                path,
                IssueCode.NOT_FOUND,
                f"'{keys[0]}' is not an agency known to caseops, so it cannot be the {role}.",
            )
            return None
        return code

    # dates

    def instant(self, value: Any, path: str, *, end: bool = False) -> datetime | None:
        if not isinstance(value, str) or not (match := _DATETIME.fullmatch(value)):
            self.error(path, IssueCode.INVALID, f"'{value}' is not a FHIR date or dateTime.")
            return None
        if match["d"] is None:
            self.error(
                path,
                IssueCode.INVALID,
                f"'{value}' gives only a year or month; caseops needs at least the day.",
            )
            return None
        try:
            if match["H"] is None:
                day = datetime(
                    int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=self.context.timezone
                )
                return (day + timedelta(days=1) if end else day).astimezone(UTC)
            if match["tz"] is None:
                self.error(
                    path,
                    IssueCode.INVALID,
                    f"'{value}' has a time but no time zone, which FHIR requires.",
                )
                return None
            offset = _offset(match["tz"])
            micro = int((match["f"] or "0")[:6].ljust(6, "0"))
            moment = datetime(
                int(match["y"]),
                int(match["m"]),
                int(match["d"]),
                int(match["H"]),
                int(match["M"]),
                int(match["S"]),
                micro,
                tzinfo=offset,
            )
        except ValueError:
            self.error(path, IssueCode.INVALID, f"'{value}' is not a valid date or time.")
            return None
        return moment.astimezone(UTC)

    # codes to caseops codes

    def map_codes(
        self,
        entries: list[tuple[list[tuple[str, str]], str]],
        table: Mapping[tuple[str, str], CodeMapping],
        vocabulary: frozenset[str],
        provision: Provision | None,
        noun: str,
    ) -> frozenset[str] | None:
        """Map each entry (the codings of one Coding or CodeableConcept) to one caseops code."""
        if not entries:
            return None
        result: set[str] = set()
        for pairs, path in entries:
            mapped = [table[p] for p in pairs if p in table]
            shown = ", ".join(f"{s or '(no system)'}|{c}" for s, c in pairs) or "(no coding)"
            if not mapped:
                reasons = [UNMAPPED_CODES[p] for p in pairs if p in UNMAPPED_CODES]
                reasons += [UNMAPPED_SYSTEMS[s] for s, _ in pairs if s in UNMAPPED_SYSTEMS]
                why = reasons[0] if reasons else f"caseops has no {noun} for it"
                self.error(path, IssueCode.NOT_SUPPORTED, f"{shown}: {why}.")
                continue
            targets = {m.target for m in mapped}
            if len(targets) > 1:
                self.error(
                    path,
                    IssueCode.INVALID,
                    f"The codings {shown} are meant as translations of one concept but map to "
                    f"different caseops {noun}s ({', '.join(sorted(targets))}).",
                )
                continue
            target = mapped[0].target
            if target not in vocabulary:
                self.error(
                    path,
                    IssueCode.NOT_SUPPORTED,
                    f"{shown} maps to '{target}', which is not a {noun} configured here.",
                )
                continue
            if not all(m.exact for m in mapped):
                if provision is Provision.PERMIT:
                    self.error(
                        path,
                        IssueCode.NOT_SUPPORTED,
                        f"{shown} names only part of the caseops {noun} '{target}'; recording a "
                        f"permit for all of '{target}' would disclose more than was agreed.",
                    )
                    continue
                self.warn(
                    path,
                    f"{shown} names only part of the caseops {noun} '{target}'; the deny is "
                    f"recorded for all of '{target}'.",
                )
            result.add(target)
        return frozenset(result)

    # the consent's parts

    def base_rule(self, root_type: Provision | None) -> Provision | None:
        resource = self.resource
        for policy, path in self.items(resource.get("policy"), "Consent.policy"):
            named = [policy.get(k) for k in ("uri", "authority") if isinstance(policy.get(k), str)]
            if not any(n in self.context.accepted_policies for n in named):
                self.error(
                    path,
                    IssueCode.NOT_SUPPORTED,
                    f"caseops cannot enforce the terms of the policy "
                    f"{' / '.join(named) or '(unnamed)'}; state what it permits or denies in "
                    "the provisions.",
                )
        concept = self.obj(resource.get("policyRule"), "Consent.policyRule")
        rule: Provision | None = None
        if concept is not None:
            pairs = self.codings(concept, "Consent.policyRule")
            known = [POLICY_RULES[c] for s, c in pairs if s == ACT_CODE and c in POLICY_RULES]
            if not known:
                shown = ", ".join(f"{s}|{c}" for s, c in pairs) or "(no coding)"
                self.error(
                    "Consent.policyRule",
                    IssueCode.NOT_SUPPORTED,
                    f"{shown}: caseops understands only the v3 ActCode base rules "
                    f"{', '.join(POLICY_RULES)}.",
                )
            elif len(set(known)) > 1:
                self.error(
                    "Consent.policyRule", IssueCode.INVALID, "The policy rule codings disagree."
                )
            else:
                rule = known[0]
        if root_type is not None:
            return root_type
        if rule is None and concept is None:
            self.error(
                "Consent.policyRule",
                IssueCode.REQUIRED,
                "Say whether the consent permits or denies sharing: give policyRule OPTIN or "
                "OPTOUT (or a provision type).",
            )
        return rule

    def client(self) -> str | None:
        ref = self.obj(self.resource.get("patient"), "Consent.patient")
        if ref is None:
            self.error("Consent.patient", IssueCode.REQUIRED, "Say which client consented.")
            return None
        _, keys, _ = self.reference_target(ref)
        client = self.resolve(self.context.client_for, keys) if keys else None
        if not isinstance(client, str) or not client:
            shown = keys[0] if keys else "the reference"
            self.error(
                "Consent.patient",
                IssueCode.NOT_FOUND,
                f"{shown} is not a client known to caseops; register the client (or link the "
                "Patient to the client) first.",
            )
            return None
        return client

    def grantor(self, client_id: str | None) -> tuple[GrantorKind | None, str | None]:
        performers = self.items(self.resource.get("performer"), "Consent.performer")
        if not performers:
            self.error(
                "Consent.performer",
                IssueCode.REQUIRED,
                "Say who granted the consent: the client, a parent, a guardian or a "
                "representative.",
            )
            return None, None
        for _, path in performers[1:]:
            self.error(
                path,
                IssueCode.NOT_SUPPORTED,
                "caseops records one grantor per consent; send one performer: the person who "
                "granted the consent.",
            )
        ref, path = performers[0]
        rtype, keys, target = self.reference_target(ref)
        person = target
        if person is None and keys:
            found = self.resolve(self.context.person_for, keys)
            person = found if isinstance(found, Mapping) else None
        if rtype is None and person is not None:
            rtype = person.get("resourceType")
        name = ref.get("display") if isinstance(ref.get("display"), str) else None
        name = (name or "").strip() or (_human_name(person) if person else None)
        kind: GrantorKind | None = None
        if rtype == "Patient":
            kind = self.patient_grantor(keys, target, client_id, path)
        elif rtype == "RelatedPerson":
            kind = self.related_grantor(person, path)
        elif rtype is None:
            self.error(
                path,
                IssueCode.REQUIRED,
                "Cannot tell whether the performer is the client or a related person; reference "
                "a Patient or RelatedPerson.",
            )
        else:
            self.error(
                path,
                IssueCode.NOT_SUPPORTED,
                f"A {rtype} performer may be the party bound by the consent rather than the one "
                "granting it; caseops needs the client or a related person as grantor.",
            )
        if not name:
            self.error(
                f"{path}.display",
                IssueCode.REQUIRED,
                "Give the name of the person who granted the consent (performer display, a "
                "contained resource's name, or one caseops can look up).",
            )
        return kind, name

    def patient_grantor(
        self,
        keys: list[str],
        target: Mapping[str, Any] | None,
        client_id: str | None,
        path: str,
    ) -> GrantorKind | None:
        performer_client = self.resolve(self.context.client_for, keys) if keys else None
        if performer_client is None:
            shown = "the contained Patient" if target is not None else (keys or ["it"])[0]
            self.error(
                path,
                IssueCode.NOT_FOUND,
                f"The performer is a Patient but {shown} is not a client known to caseops, so it "
                "cannot be confirmed that the client signed.",
            )
            return None
        if client_id is not None and performer_client != client_id:
            self.error(
                path,
                IssueCode.INVALID,
                "The performer is a different patient from the one the consent is about; a "
                "person signing for the client must be a RelatedPerson.",
            )
            return None
        return GrantorKind.SELF

    def related_grantor(self, person: Mapping[str, Any] | None, path: str) -> GrantorKind | None:
        kinds: set[GrantorKind] = set()
        if person is not None:
            for concept, cpath in self.items(person.get("relationship"), f"{path}.relationship"):
                for system, code in self.codings(concept, cpath):
                    if system == ROLE_CODE and code in GRANTOR_RELATIONSHIPS:
                        kinds.add(GRANTOR_RELATIONSHIPS[code])
        if len(kinds) > 1:
            self.error(
                path,
                IssueCode.INVALID,
                "The related person is given as both parent and guardian; say which.",
            )
            return None
        if kinds:
            return kinds.pop()
        self.warn(
            path,
            "The related person is not known to be a parent or guardian, so they are recorded as "
            "an authorized representative.",
        )
        return GrantorKind.AUTHORIZED_REPRESENTATIVE

    def organizations(self) -> frozenset[str] | None:
        codes = set()
        for ref, path in self.items(self.resource.get("organization"), "Consent.organization"):
            code = self.agency(ref, path, "custodian of the records")
            if code:
                codes.add(code)
        return frozenset(codes) or None

    def extensions(self) -> dict[str, tuple[Any, str]]:
        wanted = {
            self.context.extension_url(n): n
            for n in (EXT_EVIDENCE_METHOD, EXT_REVOCATION_ACK, EXT_EXPIRY_EVENT)
        }
        found: dict[str, tuple[Any, str]] = {}
        for ext, _ in self.items(self.resource.get("extension"), "Consent.extension"):
            url = ext.get("url")
            if isinstance(url, str) and url in wanted:
                value = next((v for k, v in ext.items() if k.startswith("value")), None)
                found[wanted[url]] = (value, _ext_path(self.context, wanted[url]))
        return found

    def evidence(
        self, method_ext: tuple[Any, str] | None
    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
        resource = self.resource
        origins = {"evidence.method": "Consent", "evidence.document_sha256": "Consent"}
        attachment = self.obj(resource.get("sourceAttachment"), "Consent.sourceAttachment")
        reference = self.obj(resource.get("sourceReference"), "Consent.sourceReference")
        method = EvidenceMethod.ELECTRONIC
        sha256: str | None = None
        if attachment is not None and reference is not None:
            self.error(
                "Consent.source[x]",
                IssueCode.INVALID,
                "source[x] is one element: send an attachment or a reference, not both.",
            )
            return None, origins
        if attachment is not None:
            method = EvidenceMethod.WRITTEN
            origins = {
                "evidence.method": "Consent.sourceAttachment",
                "evidence.document_sha256": "Consent.sourceAttachment.data",
            }
            sha256 = self.attachment_sha256(attachment)
        elif reference is not None:
            rtype, _, _ = self.reference_target(reference)
            method = EvidenceMethod.WRITTEN if rtype == "DocumentReference" else method
            origins = dict.fromkeys(origins, "Consent.sourceReference")
            if rtype == "DocumentReference":
                self.warn(
                    "Consent.sourceReference",
                    "The consent document is only referenced, so caseops records it without a "
                    "SHA-256 fingerprint; upload the document to add one.",
                )
        if method_ext is not None:
            value, path = method_ext
            if not isinstance(value, str) or value not in {m.value for m in EvidenceMethod}:
                allowed = ", ".join(m.value for m in EvidenceMethod)
                self.error(
                    path, IssueCode.INVALID, f"'{value}' is not an evidence method: {allowed}."
                )
                return None, origins
            method = EvidenceMethod(value)
            origins["evidence.method"] = path
        evidence: dict[str, Any] = {"method": method.value}
        if sha256:
            evidence["document_sha256"] = sha256
        return evidence, origins

    def attachment_sha256(self, attachment: Mapping[str, Any]) -> str | None:
        path = "Consent.sourceAttachment"
        data = attachment.get("data")
        if data is None:
            self.warn(
                path,
                "The attachment carries no data; R4's hash is SHA-1 and caseops keeps a SHA-256 "
                "fingerprint, so the consent is recorded without one. Send the document in "
                "data to fingerprint it.",
            )
            return None
        try:
            content = base64.b64decode(re.sub(r"\s+", "", str(data)), validate=True)
        except (binascii.Error, ValueError):
            self.error(f"{path}.data", IssueCode.INVALID, "The attachment data is not base64.")
            return None
        sha1 = attachment.get("hash")
        if sha1 is not None:
            expected = base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest())
            if str(sha1).strip() != expected.decode():
                self.error(
                    f"{path}.hash",
                    IssueCode.INVALID,
                    "The attachment hash does not match its data (R4 hash is the base64 SHA-1 "
                    "of the data); the document may be damaged.",
                )
                return None
        size = attachment.get("size")
        if size is not None and size != len(content):
            self.error(
                f"{path}.size",
                IssueCode.INVALID,
                f"The attachment size says {size} bytes but its data has {len(content)}.",
            )
            return None
        return hashlib.sha256(content).hexdigest()

    # provisions

    def provision(self, node: Mapping[str, Any], path: str, type_: Provision | None) -> _Conditions:
        cond = _Conditions(path=path, rule=type_)
        period = self.obj(node.get("period"), f"{path}.period")
        if period is not None:
            if period.get("start") is not None:
                cond.start_path = f"{path}.period.start"
                cond.start = self.instant(period["start"], cond.start_path)
            if period.get("end") is not None:
                cond.end_path = f"{path}.period.end"
                cond.end = self.instant(period["end"], cond.end_path, end=True)
            if cond.start and cond.end and cond.end <= cond.start:
                self.error(f"{path}.period", IssueCode.INVALID, "The period ends before it starts.")
        for name in ("dataPeriod", "data"):
            if node.get(name) is not None:
                self.error(
                    f"{path}.{name}",
                    IssueCode.NOT_SUPPORTED,
                    "caseops consents cover whole record categories; they cannot be limited to "
                    "single resources or to when the data was recorded.",
                )
        self.actions(node, path)
        self.actors(node, path, cond)
        purposes = [
            (pair, cpath)
            for coding, cpath in self.items(node.get("purpose"), f"{path}.purpose")
            if (pair := self.coding(coding, cpath))
        ]
        if purposes:
            cond.scopes["purposes"] = self.map_codes(
                [([pair], cpath) for pair, cpath in purposes],
                self.context.purpose_table(),
                self.context.purposes,
                type_,
                "purpose",
            )
            cond.scope_paths["purposes"] = f"{path}.purpose"
        self.categories(node, path, cond)
        return cond

    def actions(self, node: Mapping[str, Any], path: str) -> None:
        for concept, cpath in self.items(node.get("action"), f"{path}.action"):
            codes = [c for s, c in self.codings(concept, cpath) if s == CONSENT_ACTION]
            if any(c in ACTIONS and ACTIONS[c] is None for c in codes):
                continue
            known = [ACTIONS[c] for c in codes if c in ACTIONS]
            why = known[0] if known else "caseops knows only the consentaction codes"
            self.error(cpath, IssueCode.NOT_SUPPORTED, f"This action cannot be mapped: {why}.")

    def actors(self, node: Mapping[str, Any], path: str, cond: _Conditions) -> None:
        found: dict[str, set[str]] = {}
        for actor, apath in self.items(node.get("actor"), f"{path}.actor"):
            role = self.obj(actor.get("role"), f"{apath}.role")
            if role is None:
                self.error(f"{apath}.role", IssueCode.REQUIRED, "Give the actor's role.")
                continue
            codes = [c for s, c in self.codings(role, f"{apath}.role") if s == PARTICIPATION_TYPE]
            scopes = {ACTOR_ROLES[c] for c in codes if c in ACTOR_ROLES}
            if len(scopes) != 1:
                why = (
                    "an author restricts which documents are covered; caseops consents cover "
                    "records by contributing agency, not by author"
                    if "AUT" in codes
                    else "caseops understands IRCP/PRCP (recipient) and CST/INF (source) roles"
                )
                self.error(f"{apath}.role", IssueCode.NOT_SUPPORTED, f"Unmapped role: {why}.")
                continue
            scope = scopes.pop()
            noun = "recipient" if scope == "recipients" else "source of the records"
            code = self.agency(
                self.obj(actor.get("reference"), f"{apath}.reference"), f"{apath}.reference", noun
            )
            found.setdefault(scope, set())
            if code:
                found[scope].add(code)
        for scope, codes in found.items():
            cond.scopes[scope] = frozenset(codes)
            cond.scope_paths[scope] = f"{path}.actor"

    def categories(self, node: Mapping[str, Any], path: str, cond: _Conditions) -> None:
        table = self.context.category_table()
        elements: list[frozenset[str]] = []
        for name in ("class", "securityLabel"):
            entries = [
                ([pair], cpath)
                for coding, cpath in self.items(node.get(name), f"{path}.{name}")
                if (pair := self.coding(coding, cpath))
            ]
            mapped = self.map_codes(entries, table, self.context.categories, cond.rule, "category")
            if mapped is not None:
                elements.append(mapped)
                cond.scope_paths["categories"] = f"{path}.{name}"
        entries = [
            (self.codings(concept, cpath), cpath)
            for concept, cpath in self.items(node.get("code"), f"{path}.code")
        ]
        mapped = self.map_codes(entries, table, self.context.categories, cond.rule, "category")
        if mapped is not None:
            elements.append(mapped)
            cond.scope_paths["categories"] = f"{path}.code"
        if elements:
            result = frozenset.intersection(*elements)
            if not result and all(elements):
                self.error(
                    path,
                    IssueCode.INVALID,
                    "Its class, code and securityLabel restrictions have no category in common, "
                    "so this provision covers nothing.",
                )
            cond.scopes["categories"] = result

    def nested(self, root: _Conditions, nested: _Conditions) -> _Conditions:
        """The nested provision's conditions within the root's: both must hold."""
        out = _Conditions(path=nested.path, rule=nested.rule)
        out.start, out.start_path = root.start, root.start_path
        if nested.start and (out.start is None or nested.start > out.start):
            out.start, out.start_path = nested.start, nested.start_path
        out.end, out.end_path = root.end, root.end_path
        if nested.end and (out.end is None or nested.end < out.end):
            out.end, out.end_path = nested.end, nested.end_path
        if out.start and out.end and out.end <= out.start:
            self.error(
                f"{nested.path}.period",
                IssueCode.INVALID,
                "This provision's period lies outside the base provision's period.",
            )
        for scope in _SCOPES:
            outer, inner = root.scopes[scope], nested.scopes[scope]
            spath = nested.scope_paths.get(scope) or root.scope_paths.get(scope)
            if spath:
                out.scope_paths[scope] = spath
            if outer is None or inner is None:
                out.scopes[scope] = inner if outer is None else outer
                continue
            out.scopes[scope] = outer & inner
            if outer and inner and not outer & inner:
                self.error(
                    spath or nested.path,
                    IssueCode.INVALID,
                    f"This provision's {scope.replace('_', ' ')} lie outside the base "
                    "provision's, so it covers nothing.",
                )
        return out


def _ext_path(context: FhirContext, name: str) -> str:
    return f"Consent.extension('{context.extension_url(name)}')"


def _identifier_keys(identifiers: Any) -> list[str]:
    keys = []
    for ident in identifiers if isinstance(identifiers, list) else []:
        if isinstance(ident, Mapping) and isinstance(ident.get("value"), str):
            keys.append(f"{ident.get('system') or ''}|{ident['value']}")
    return keys


def _provision_type(mapper: _Mapper, node: Mapping[str, Any], path: str) -> Provision | None:
    value = node.get("type")
    if value is None:
        return None
    if not isinstance(value, str) or value not in {p.value for p in Provision}:
        mapper.error(f"{path}.type", IssueCode.INVALID, f"'{value}' is not permit or deny.")
        return None
    return Provision(value)


def from_fhir(resource: Any, context: FhirContext) -> FhirMapping:
    """Map an R4 Consent onto caseops consent bodies, or say element by element why not."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Consent":
        issue = FhirIssue(
            "Consent", IssueCode.INVALID, "The body must be a FHIR R4 Consent resource (JSON)."
        )
        return FhirMapping(issues=(issue,))
    m = _Mapper(resource, context)
    m.scan_modifier_extensions(resource, "Consent")

    status = resource.get("status")
    if status is None:
        m.error("Consent.status", IssueCode.REQUIRED, "Give the consent's status.")
    elif not isinstance(status, str) or status not in STATUS_RULES:
        m.error("Consent.status", IssueCode.INVALID, f"'{status}' is not an R4 consent status.")
    elif STATUS_RULES[status]:
        m.error(
            "Consent.status", IssueCode.NOT_SUPPORTED, f"Status '{status}': {STATUS_RULES[status]}"
        )

    scope = m.obj(resource.get("scope"), "Consent.scope")
    if scope is None:
        m.error("Consent.scope", IssueCode.REQUIRED, "Give the scope: patient-privacy.")
    else:
        codes = [c for s, c in m.codings(scope, "Consent.scope") if s == CONSENT_SCOPE]
        if "patient-privacy" not in codes:
            shown = ", ".join(codes) or "an unknown scope"
            m.error(
                "Consent.scope",
                IssueCode.NOT_SUPPORTED,
                f"Scope {shown}: caseops records privacy consents (patient-privacy) for "
                "disclosure between agencies only, not treatment, research or advance directive "
                "consents.",
            )

    root_node = m.obj(resource.get("provision"), "Consent.provision")
    root_type = _provision_type(m, root_node, "Consent.provision") if root_node else None
    base = m.base_rule(root_type)
    client_id = m.client()
    signed_at = None
    if resource.get("dateTime") is None:
        m.error("Consent.dateTime", IssueCode.REQUIRED, "Give the date the consent was signed.")
    else:
        signed_at = m.instant(resource["dateTime"], "Consent.dateTime")
    kind, name = m.grantor(client_id)
    custodians = m.organizations()
    ext = m.extensions()
    evidence, evidence_origins = m.evidence(ext.get(EXT_EVIDENCE_METHOD))
    ack, ack_path = ext.get(EXT_REVOCATION_ACK, (False, _ext_path(context, EXT_REVOCATION_ACK)))
    if not isinstance(ack, bool):
        m.error(ack_path, IssueCode.INVALID, "The acknowledgement must be a boolean.")
    expiry_event, expiry_path = ext.get(
        EXT_EXPIRY_EVENT, (None, _ext_path(context, EXT_EXPIRY_EVENT))
    )
    if expiry_event is not None and not (isinstance(expiry_event, str) and expiry_event.strip()):
        m.error(expiry_path, IssueCode.INVALID, "The expiry event must be a non-empty string.")

    root = m.provision(root_node or {}, "Consent.provision", base)
    if root.scopes["source_agencies"] is None and custodians:
        root.scopes["source_agencies"] = custodians
        root.scope_paths["source_agencies"] = "Consent.organization"
    plans: list[_Conditions] = []
    same_type = False
    for node, path in m.items((root_node or {}).get("provision"), "Consent.provision.provision"):
        if node.get("provision") is not None:
            m.error(
                f"{path}.provision",
                IssueCode.NOT_SUPPORTED,
                "caseops maps one level of exceptions; an exception to an exception cannot be "
                "recorded. Flatten the rules into provisions of the base.",
            )
        type_ = _provision_type(m, node, path)
        if type_ is None and node.get("type") is None:
            m.error(
                f"{path}.type", IssueCode.REQUIRED, "A nested provision must say permit or deny."
            )
        cond = m.nested(root, m.provision(node, path, type_))
        if type_ is None or base is None:
            continue
        if type_ is base:
            same_type = True
            if base is Provision.PERMIT:
                plans.append(cond)
            else:
                m.warn(
                    path,
                    "This deny lies within the base deny, which already withholds it; only the "
                    "base deny is recorded.",
                )
        elif base is Provision.DENY:
            m.error(
                f"{path}.type",
                IssueCode.NOT_SUPPORTED,
                "A permit exception to a base deny cannot be recorded: in caseops a deny always "
                "beats a permit. Send the exception as its own permit consent.",
            )
        else:
            plans.append(cond)
    if not (same_type and base is Provision.PERMIT):
        plans.insert(0, root)

    if m.issues:
        return FhirMapping(issues=tuple(m.issues), warnings=tuple(m.warnings))
    assert base is not None and client_id and signed_at and kind and name and evidence
    bodies, origins = [], []
    for cond in plans:
        body: dict[str, Any] = {"client_id": client_id, "provision": cond.rule.value}
        origin = {
            "client_id": "Consent.patient",
            "provision": f"{cond.path}.type"
            if cond.path != "Consent.provision"
            else "Consent.policyRule",
        }
        for scope in _SCOPES:
            codes = cond.scopes[scope]
            body[scope] = sorted(codes) if codes is not None else [ANY]
            origin[scope] = cond.scope_paths.get(scope, cond.path)
        body["effective_from"] = _iso(cond.start or signed_at)
        origin["effective_from"] = cond.start_path or "Consent.dateTime"
        if cond.end is not None:
            body["expires_at"] = _iso(cond.end)
            origin["expires_at"] = cond.end_path or f"{cond.path}.period"
        else:
            origin["expires_at"] = f"{cond.path}.period.end"
        if expiry_event is not None:
            body["expiry_event"] = expiry_event
            origin["expiry_event"] = expiry_path
        body["grantor"] = {"kind": kind.value, "name": name}
        origin["grantor.kind"] = origin["grantor.name"] = "Consent.performer[0]"
        body["signed_at"] = _iso(signed_at)
        origin["signed_at"] = "Consent.dateTime"
        body["evidence"] = dict(evidence)
        origin.update(evidence_origins)
        body["revocation_right_acknowledged"] = ack
        origin["revocation_right_acknowledged"] = ack_path
        bodies.append(body)
        origins.append(origin)
    return FhirMapping(bodies=tuple(bodies), warnings=tuple(m.warnings), origins=tuple(origins))


# --- caseops -> FHIR ----------------------------------------------------------------------


def consent_body(consent: Consent) -> dict[str, Any]:
    """The caseops consent API body of a stored consent, in the form `from_fhir` produces."""
    body: dict[str, Any] = {"client_id": consent.client_id, "provision": consent.provision.value}
    for scope in _SCOPES:
        body[scope] = sorted(getattr(consent, scope))
    body["effective_from"] = _iso(consent.effective_from)
    if consent.expires_at is not None:
        body["expires_at"] = _iso(consent.expires_at)
    if consent.expiry_event is not None:
        body["expiry_event"] = consent.expiry_event
    body["grantor"] = {"kind": consent.grantor.kind.value, "name": consent.grantor.name}
    if consent.signed_at is not None:
        body["signed_at"] = _iso(consent.signed_at)
    evidence: dict[str, Any] = {"method": consent.evidence.method.value}
    if consent.evidence.document_sha256:
        evidence["document_sha256"] = consent.evidence.document_sha256
    body["evidence"] = evidence
    body["revocation_right_acknowledged"] = consent.revocation_right_acknowledged
    return body


_FHIR_STATUS = {
    Status.DRAFT: "draft",
    Status.NOT_YET_EFFECTIVE: "active",
    Status.ACTIVE: "active",
    Status.EXPIRED: "inactive",
    Status.REVOKED: "inactive",
    Status.SUPERSEDED: "inactive",
}
_RELATIONSHIP_FOR = {GrantorKind.PARENT: "PRN", GrantorKind.GUARDIAN: "GUARD"}


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def to_fhir(
    consent: Consent, context: FhirContext, *, status: Status | None = None
) -> dict[str, Any]:
    """R4 JSON for a stored consent.

    `status` is the consent's derived status, which only the caller can know (it needs the
    revocations and later versions); without it, the status is derived from the consent alone
    at `context.now` (or the current time).
    """
    if status is None:
        at = context.now or datetime.now(UTC)
        status = status_at(consent, at, revocations=(), successors=())
    patient = dict(context.patient_reference(consent.client_id))
    resource: dict[str, Any] = {"resourceType": "Consent"}
    resource_id = fhir_id(consent.id)
    if resource_id is not None:
        resource["id"] = resource_id
    resource["meta"] = {"versionId": str(consent.version)}

    extensions: list[dict[str, Any]] = [
        {
            "url": context.extension_url(EXT_EVIDENCE_METHOD),
            "valueCode": consent.evidence.method.value,
        },
        {
            "url": context.extension_url(EXT_REVOCATION_ACK),
            "valueBoolean": consent.revocation_right_acknowledged,
        },
    ]
    if consent.expiry_event is not None:
        extensions.append(
            {"url": context.extension_url(EXT_EXPIRY_EVENT), "valueString": consent.expiry_event}
        )

    grantor = consent.grantor
    if grantor.kind is GrantorKind.SELF:
        performer = {**patient, "display": grantor.name}
        if "reference" not in performer:
            performer["type"] = "Patient"  # an identifier alone does not say it is the client
    else:
        related: dict[str, Any] = {
            "resourceType": "RelatedPerson",
            "id": "grantor",
            "patient": patient,
            "name": [{"text": grantor.name}],
        }
        if grantor.kind in _RELATIONSHIP_FOR:
            related["relationship"] = [
                {"coding": [_coding(ROLE_CODE, _RELATIONSHIP_FOR[grantor.kind])]}
            ]
        resource["contained"] = [related]
        performer = {"reference": "#grantor", "display": grantor.name}
    resource["extension"] = extensions
    resource["identifier"] = [{"system": context.identifier_system, "value": consent.id}]
    resource["status"] = _FHIR_STATUS[status]
    resource["scope"] = {"coding": [_coding(CONSENT_SCOPE, "patient-privacy")]}
    resource["category"] = [{"coding": [_coding(CONSENT_CATEGORY_LOINC, "59284-0")]}]
    resource["patient"] = patient
    if consent.signed_at is not None:
        resource["dateTime"] = _iso(consent.signed_at)
    resource["performer"] = [performer]
    sources = sorted(consent.source_agencies - {ANY})
    if ANY not in consent.source_agencies and sources:
        resource["organization"] = [dict(context.agency_reference(s)) for s in sources]

    document = None
    if consent.evidence.document_sha256:
        document = _lookup(context.document_for, consent.evidence.document_sha256)
    if isinstance(document, StoredDocument):
        attachment: dict[str, Any] = {
            "contentType": document.content_type,
            "data": base64.b64encode(document.data).decode(),
            "size": len(document.data),
            "hash": base64.b64encode(
                hashlib.sha1(document.data, usedforsecurity=False).digest()
            ).decode(),
        }
        if document.title:
            attachment["title"] = document.title
        resource["sourceAttachment"] = attachment

    rule = "OPTIN" if consent.provision is Provision.PERMIT else "OPTOUT"
    resource["policyRule"] = {"coding": [_coding(ACT_CODE, rule)]}

    provision: dict[str, Any] = {}
    period = {"start": _iso(consent.effective_from)}
    if consent.expires_at is not None:
        period["end"] = _iso(consent.expires_at)
    provision["period"] = period
    actors = []
    for scope, role in (("recipients", "IRCP"), ("source_agencies", "CST")):
        codes = getattr(consent, scope)
        if ANY in codes:
            continue
        for code in sorted(codes):
            actors.append(
                {
                    "role": {"coding": [_coding(PARTICIPATION_TYPE, role)]},
                    "reference": dict(context.agency_reference(code)),
                }
            )
    if actors:
        provision["actor"] = actors
    provision["action"] = [{"coding": [_coding(CONSENT_ACTION, "disclose")]}]
    if ANY not in consent.purposes:
        first: dict[str, CodeMapping] = {}
        for mapping in context.purpose_codes:
            if mapping.exact:
                first.setdefault(mapping.target, mapping)
        provision["purpose"] = [
            _coding(first[p].system, first[p].code)
            if p in first
            else _coding(context.purpose_system, p)
            for p in sorted(consent.purposes)
        ]
    if ANY not in consent.categories:
        provision["code"] = [
            {"coding": [_coding(context.category_system, c)]} for c in sorted(consent.categories)
        ]
    resource["provision"] = provision
    return resource


# --- rendering the table ------------------------------------------------------------------


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


__doc__ = f"{__doc__}\n{mapping_table_markdown()}\n"
