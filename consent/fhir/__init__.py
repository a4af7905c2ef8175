r"""FHIR R4 Consent <-> caseops consent, through one documented mapping table.

`from_fhir(resource, context)` reads a FHIR R4 Consent resource (parsed JSON) and returns a
`FhirMapping`: either the caseops consent API bodies it stands for, or the issues, each naming
the FHIR element (a FHIRPath such as `Consent.provision.actor[0].reference`) and why it cannot
be mapped. Nothing is partial: one issue and there are no bodies. `to_operation_outcome(issues)`
turns issues into an R4 OperationOutcome. `to_fhir(consent, context)` renders a stored consent as
R4 JSON that `from_fhir` maps back to the same body (`consent_body(consent)`).

The row-by-row table is `MAPPING_TABLE` (and the code tables `STATUS_RULES`, `POLICY_RULES`,
`ACTOR_ROLES`, `ACTIONS`, `PURPOSE_CODES`, `CATEGORY_CODES`, `GRANTOR_RELATIONSHIPS`,
`UNMAPPED_CODES`); `mapping_table_markdown()` renders all of them (the rendering is copied
at the end of this docstring; a test checks the copy is current). The decisions behind them:

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

The package, by job: `codes` (code systems and code tables), `mapping` (the mapping table and
its Markdown), `context` (`FhirContext`), `outcomes` (issues and OperationOutcome), `elements`
(reading generic FHIR elements), `reading` (`from_fhir`), `writing` (`to_fhir`, R4 ids).

| FHIR R4 Consent element | caseops field | rule |
|---|---|---|
| `Consent.status` | `(gate)` | `active` is recorded; `draft`, `proposed`, `rejected`, `inactive`, `entered-in-error` are refused with the reason in STATUS_RULES. |
| `Consent.scope` | `(gate)` | Only `patient-privacy` (consentscope); `research`, `treatment`, `adr` are out of scope. |
| `Consent.policyRule, provision.type (root)` | `provision` | Base rule: root `provision.type` if present, else policyRule (POLICY_RULES). Neither: refused (required). Any other rule is refused. |
| `Consent.policy[]` | `(gate)` | Refused unless `policy.uri`/`authority` is in FhirContext.accepted_policies. |
| `Consent.patient` | `client_id` | Reference or identifier resolved by FhirContext.client_for; unresolved: not-found. |
| `Consent.dateTime` | `signed_at` | Required; day precision at least. |
| `Consent.performer[0]` | `grantor.kind` | The consent's own Patient -> `self`; RelatedPerson -> by relationship (GRANTOR_RELATIONSHIPS), otherwise `authorized_representative`; Organization, Practitioner, PractitionerRole (possibly the grantee) are refused; more than one performer is refused. |
| `Consent.performer[0].display` | `grantor.name` | Else the contained resource's name, else FhirContext.person_for's; none: required. |
| `Consent.organization[]` | `source_agencies` | Resolved by FhirContext.agency_for; the sources when the root provision names no CST/INF actor. |
| `Consent.sourceAttachment` | `evidence` | method `written`; document_sha256 = SHA-256 of `data` (a SHA-1 `hash` or `size` given must match); no `data`: no fingerprint (warning). |
| `Consent.sourceReference` | `evidence.method` | DocumentReference -> `written`, other targets -> `electronic`; no fingerprint. |
| `(no source)` | `evidence.method` | `electronic` (the FHIR resource is the record). |
| `provision.period.start / .end` | `effective_from / expires_at` | No start: effective from dateTime. A date-only end includes that day. Nested periods are intersected with the root period. |
| `provision.actor[].role + .reference` | `recipients / source_agencies` | By role (ACTOR_ROLES); reference resolved to an agency by FhirContext.agency_for; persons, devices and groups are refused. No actor of a kind: `*`. |
| `provision.action[]` | `(condition)` | `access` and `disclose` are what a caseops consent governs; others are refused. |
| `provision.purpose[]` | `purposes` | v3 PurposeOfUse (PURPOSE_CODES) or the caseops purpose system; none: `*`. |
| `provision.class[] / code[] / securityLabel[]` | `categories` | CATEGORY_CODES; union within an element, intersection across elements; none: `*`. |
| `provision.dataPeriod, provision.data[]` | `-` | Refused: caseops consents cover whole categories, not periods or single resources. |
| `provision.provision[]` | `extra bodies` | One level: base permit + nested deny -> extra deny; same-type nested permit narrows the base; base deny + nested permit refused; deeper nesting refused. |
| `extension evidence-method` | `evidence.method` | caseops extension (valueCode written\|electronic\|verbal_witnessed), overrides the default above. |
| `extension revocation-right-acknowledged` | `revocation_right_acknowledged` | caseops extension (valueBoolean); absent: false. |
| `extension expiry-event` | `expiry_event` | caseops extension (valueString). |
| `extension intermediary` | `intermediary` | caseops extension (valueString): the intermediary named on the consent, 42 CFR 2.31(a)(4)(ii); must be this deployment's CASEOPS_INTERMEDIARY_NAME. |
| `extension general-designation` | `general_designation` | caseops extension (valueCode `treating_provider_relationship`): participants of the intermediary with a treating provider relationship with the patient, 42 CFR 2.31(a)(4)(ii)(B), decided per request. With no IRCP actor, recipients are none but the designation (not `*`). |
| `extension recipient-description` | `recipient_description` | caseops extension (valueString): the class of recipients in the consent's words, 42 CFR 2.31(a)(4)(i). |
| `extension hipaa-redisclosure-statement` | `hipaa_redisclosure_statement` | caseops extension (valueBoolean; absent: false): the consent carries the 42 CFR 2.31(a)(4)(iii) statement. |
| `id, meta, text, identifier, category, verification, other extensions` | `-` | Ignored (informational). Any modifierExtension is refused. |

| FHIR code (system) | caseops | note |
|---|---|---|
| status `active` | record |  |
| status `draft` | refused | A draft is not yet a consent; record it once the client has signed. |
| status `proposed` | refused | A proposed consent has not been agreed by the client yet; record it once signed. |
| status `rejected` | refused | The client declined this consent, so there is nothing to permit; to record a refusal to share, send an active consent with a deny provision. |
| status `inactive` | refused | The consent is no longer in force; caseops records consents as given and ends them by revocation or expiry, so an inactive consent is not recorded. |
| status `entered-in-error` | refused | The consent was entered in error and must not be relied on. |
| `OPTIN` (v3-ActCode, policyRule) | base `permit` | |
| `OPTINR` (v3-ActCode, policyRule) | base `permit` | |
| `OPTOUT` (v3-ActCode, policyRule) | base `deny` | |
| `OPTOUTE` (v3-ActCode, policyRule) | base `deny` | |
| `IRCP` (v3-ParticipationType, actor.role) | `recipients` | |
| `PRCP` (v3-ParticipationType, actor.role) | `recipients` | |
| `CST` (v3-ParticipationType, actor.role) | `source_agencies` | |
| `INF` (v3-ParticipationType, actor.role) | `source_agencies` | |
| `access` (consentaction) | maps |  |
| `disclose` (consentaction) | maps |  |
| `collect` (consentaction) | refused | collecting data is not disclosure; caseops consents govern disclosure only |
| `use` (consentaction) | refused | a consent to use information says nothing about disclosing it; caseops consents govern disclosure to other agencies |
| `correct` (consentaction) | refused | correcting records is not disclosure; caseops consents govern disclosure only |
| `TREAT` (v3-ActReason, purpose) | `treatment` |  |
| `HPAYMT` (v3-ActReason, purpose) | `payment` |  |
| `HOPERAT` (v3-ActReason, purpose) | `operations` |  |
| `ETREAT` (v3-ActReason, purpose) | `emergency` |  |
| `COC` (v3-ActReason, purpose) | `care_coordination` |  |
| `ELIGDTRM` (v3-ActReason, purpose) | `eligibility` |  |
| `ELIGVER` (v3-ActReason, purpose) | `eligibility` | narrower: deny provisions only |
| caseops purpose system | same code | exact |
| `SUD` (v3-ActCode, class/code/securityLabel) | `substance_use` |  |
| `ETH` (v3-ActCode, class/code/securityLabel) | `substance_use` |  |
| `42CFRPart2` (v3-ActCode, class/code/securityLabel) | `substance_use` |  |
| `ETHUD` (v3-ActCode, class/code/securityLabel) | `substance_use` | narrower: deny provisions only |
| `OPIOIDUD` (v3-ActCode, class/code/securityLabel) | `substance_use` | narrower: deny provisions only |
| `BH` (v3-ActCode, class/code/securityLabel) | `behavioral_health` |  |
| `MH` (v3-ActCode, class/code/securityLabel) | `behavioral_health` |  |
| `PSY` (v3-ActCode, class/code/securityLabel) | `behavioral_health` | narrower: deny provisions only |
| `PSYTHPN` (v3-ActCode, class/code/securityLabel) | `behavioral_health` | narrower: deny provisions only |
| `HIV` (v3-ActCode, class/code/securityLabel) | `health` | narrower: deny provisions only |
| `STD` (v3-ActCode, class/code/securityLabel) | `health` | narrower: deny provisions only |
| `SEX` (v3-ActCode, class/code/securityLabel) | `health` | narrower: deny provisions only |
| caseops record-category system | same code | exact |
| `SOC` (v3-ActCode) | refused | social services information spans several caseops categories (housing, economic security, child welfare); name the categories instead |
| `SDV` (v3-ActCode) | refused | no caseops category corresponds to sexual or domestic violence records |
| `CAREMGT` (v3-ActReason) | refused | care management has meant both treatment and operations across terminology versions; use COC (coordination of care) or TREAT |
| `PATADMIN` (v3-ActReason) | refused | patient administration is only part of operations |
| `BTG` (v3-ActReason) | refused | break-the-glass access is a separate, audited caseops procedure, not a consent purpose |
| `HRESCH` (v3-ActReason) | refused | caseops does not share data for research |
| `HMARKT` (v3-ActReason) | refused | caseops does not share data for marketing |
| `PUBHLTH` (v3-ActReason) | refused | caseops has no public-health purpose |
| `ADOPTF` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `ADOPTM` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `ADOPTP` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `FTH` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `MTH` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `NFTH` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `NMTH` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `NPRN` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `PRN` (v3-RoleCode, RelatedPerson.relationship) | `parent` | |
| `GUARD` (v3-RoleCode, RelatedPerson.relationship) | `guardian` | |
| any other relationship | `authorized_representative` | step and foster parents included |
| any MIME type code | refused | a MIME type names a document format, not whose records or which kind of record it holds; caseops consents cover record categories |
| any FHIR resource type code | refused | a FHIR resource type names a data structure, not which agency sector's records it holds (a MedicationRequest may be health, behavioral health or substance use data) |
| any LOINC code | refused | a LOINC document type names a kind of clinical document, not a caseops record category; a deployment may map such codes through FhirContext.category_codes |
| any v3-Confidentiality code | refused | a confidentiality level says how sensitive data is, not which category it belongs to |
"""

# ruff: noqa: E501 - the docstring ends with the rendered mapping tables (Markdown rows).

from __future__ import annotations

from consent.fhir.codes import (
    ACT_CODE as ACT_CODE,
)
from consent.fhir.codes import (
    ACT_REASON as ACT_REASON,
)
from consent.fhir.codes import (
    ACTIONS,
    ACTOR_ROLES,
    CATEGORY_CODES,
    GRANTOR_RELATIONSHIPS,
    POLICY_RULES,
    PURPOSE_CODES,
    STATUS_RULES,
    UNMAPPED_CODES,
    UNMAPPED_SYSTEMS,
    CodeMapping,
)
from consent.fhir.codes import (
    CONFIDENTIALITY as CONFIDENTIALITY,
)
from consent.fhir.codes import (
    CONSENT_ACTION as CONSENT_ACTION,
)
from consent.fhir.codes import (
    CONSENT_CATEGORY_LOINC as CONSENT_CATEGORY_LOINC,
)
from consent.fhir.codes import (
    CONSENT_SCOPE as CONSENT_SCOPE,
)
from consent.fhir.codes import (
    DEFAULT_CANONICAL_BASE as DEFAULT_CANONICAL_BASE,
)
from consent.fhir.codes import (
    EXT_EVIDENCE_METHOD as EXT_EVIDENCE_METHOD,
)
from consent.fhir.codes import (
    EXT_EXPIRY_EVENT as EXT_EXPIRY_EVENT,
)
from consent.fhir.codes import (
    EXT_REVOCATION_ACK as EXT_REVOCATION_ACK,
)
from consent.fhir.codes import (
    GUARDIAN_CODES as GUARDIAN_CODES,
)
from consent.fhir.codes import (
    LOINC as LOINC,
)
from consent.fhir.codes import (
    MIME_TYPES as MIME_TYPES,
)
from consent.fhir.codes import (
    PARENT_CODES as PARENT_CODES,
)
from consent.fhir.codes import (
    PARTICIPATION_TYPE as PARTICIPATION_TYPE,
)
from consent.fhir.codes import (
    RESOURCE_TYPES as RESOURCE_TYPES,
)
from consent.fhir.codes import (
    ROLE_CODE as ROLE_CODE,
)
from consent.fhir.context import (
    FhirContext,
    StoredDocument,
)
from consent.fhir.context import (
    Resolver as Resolver,
)
from consent.fhir.mapping import (
    MAPPING_TABLE,
    MappingRow,
    mapping_table_markdown,
)
from consent.fhir.outcomes import (
    FhirIssue,
    FhirMapping,
    IssueCode,
    to_operation_outcome,
    validation_issues,
)
from consent.fhir.reading import (
    from_fhir,
)
from consent.fhir.writing import (
    consent_body,
    fhir_id,
    internal_id,
    to_fhir,
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
