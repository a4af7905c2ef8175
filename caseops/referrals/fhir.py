"""A referral as FHIR R4, in the shape of the HL7 Gravity SDOH Clinical Care closed-loop
referral: a Task (``code = fulfill``, ``intent = order``) whose ``focus`` is a
ServiceRequest (``supportingInfo`` -> the Consents the send relied on).

Pure: it maps the referral **as the caller may see it** (the dict
``caseops.referrals.service.describe`` returns, plus ``consent_ids``: the consents the send
relied on that the caller may know of) to FHIR JSON. It never reads anything ``describe``
did not show, so every redaction of the JSON API holds here by construction: the
recipient's user names, a Part 2 program's reasons, outcome and exact statuses for a
sender without the program's consent.

The choices (docs/fhir.md, "Referrals as FHIR Task and ServiceRequest", has the whole
table; ``MAPPING_TABLE`` below is it, and a test keeps the two equal):

* ``Task.status`` is the referral's status: the ten caseops statuses are exactly the ten
  codes of the SDOHCC referral task status value set. A sender without a Part 2
  program's consent sees only ``open`` or ``closed`` for the program's own steps, and no
  Task status says only that (``accepted`` says "not started yet", ``in-progress``
  "started", and ``closed`` may be any of rejected, completed, failed or cancelled). A
  code would assert what the sender may not know, so ``status`` then carries no code,
  only the data-absent-reason extension ``masked`` ("withheld for privacy"), and
  ``businessStatus`` says ``open`` / ``closed``; ``statusReason`` and ``output`` are
  absent, and the resource does not claim the SDOHCC profile (whose required status
  binding it then cannot meet).
* ``ServiceRequest.status`` is the request's standing, which is the requester's:
  ``draft``; ``active`` while the referral is requested, accepted, in progress or on hold
  (so ``open`` maps exactly); ``completed``; ``revoked`` when it ended any other way
  (rejected, failed, cancelled: no further activity will occur); ``entered-in-error``.
  ``closed`` is masked as above (completed or revoked: the sender may not know which).
* The ServiceRequest follows the SDOHCC ServiceRequest's elements but does not claim the
  profile: its ``code`` is a caseops service code, not one of the US Core procedure
  codes the profile requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from caseops.vocabulary import SERVICES
from consent.fhir import fhir_id
from consent.fhir.codes import ACT_REASON, DEFAULT_CANONICAL_BASE, PURPOSE_CODES

# --- code systems, profiles, extensions -------------------------------------------------

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
TASK_PROFILE = f"{SDOHCC}/StructureDefinition/SDOHCC-TaskForReferralManagement"
SERVICE_REQUEST_PROFILE = f"{SDOHCC}/StructureDefinition/SDOHCC-ServiceRequest"
SDOHCC_CODES = f"{SDOHCC}/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MASKED = "masked"

OPEN = "open"
CLOSED = "closed"

TASK_STATUS: Mapping[str, str | None] = {
    "draft": "draft",
    "requested": "requested",
    "accepted": "accepted",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "in-progress": "in-progress",
    "on-hold": "on-hold",
    "completed": "completed",
    "failed": "failed",
    "entered-in-error": "entered-in-error",
    OPEN: None,  # masked: accepted, in progress or on hold, the sender may not know which
    CLOSED: None,  # masked: rejected, completed, failed or cancelled by the program
}
"""The status the caller sees -> Task.status (None: masked)."""

SERVICE_REQUEST_STATUS: Mapping[str, str | None] = {
    "draft": "draft",
    "requested": "active",
    "accepted": "active",
    "in-progress": "active",
    "on-hold": "active",
    OPEN: "active",
    "completed": "completed",
    "rejected": "revoked",
    "cancelled": "revoked",
    "failed": "revoked",
    "entered-in-error": "entered-in-error",
    CLOSED: None,  # masked: completed or revoked, the sender may not know which
}
"""The status the caller sees -> ServiceRequest.status (None: masked)."""

SDOH_CATEGORIES: Mapping[str, tuple[str, str]] = {
    "housing": ("housing-instability", "Housing Instability"),
    "economic_security": ("financial-insecurity", "Financial Insecurity"),
    "education": ("educational-attainment", "Educational Attainment"),
}
"""caseops record category of the service -> SDOHCC SDOH category. Only where the domain
is the same; homelessness or food insecurity would say more about the client than the
service does. Every other category (health, behavioral health, substance use, child
welfare, justice, early childhood: not SDOH domains of the value set) is
``sdoh-category-unspecified``."""
UNSPECIFIED = ("sdoh-category-unspecified", "SDOH Category Unspecified")

PURPOSE_OF_USE: Mapping[str, str] = {m.target: m.code for m in reversed(PURPOSE_CODES) if m.exact}
"""caseops purpose -> v3 PurposeOfUse code (the one Consent resources are written with)."""


@dataclass(frozen=True, kw_only=True)
class ReferralContext:
    """What the web layer knows that the described referral does not say."""

    canonical_base: str = DEFAULT_CANONICAL_BASE
    agency_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def identifier_system(self) -> str:
        return f"{self.canonical_base}/referral-id"

    @property
    def service_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/referral-service"

    @property
    def status_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/referral-status"

    @property
    def category_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/record-category"

    @property
    def purpose_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/purpose"

    @property
    def outcome_system(self) -> str:
        return f"{self.canonical_base}/CodeSystem/referral-output"

    @property
    def shared_category_extension(self) -> str:
        return f"{self.canonical_base}/StructureDefinition/referral-shared-category"


# --- small builders -----------------------------------------------------------------------


def _iso(moment: datetime | date | str) -> str:
    if isinstance(moment, str):
        return moment
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return moment.isoformat()


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _organization(code: str, context: ReferralContext) -> dict[str, str]:
    reference = {"reference": f"Organization/{code}"}
    name = context.agency_names.get(code)
    if name:
        reference["display"] = name
    return reference


def resource_id(referral_id: str) -> str:
    """The R4 id of a referral: ``ref_<hex>`` written ``ref-<hex>`` (R4 ids allow no
    ``_``); ``consent.fhir.internal_id`` reverses it, so a read accepts either form."""
    return fhir_id(referral_id) or referral_id


def _masked() -> dict[str, Any]:
    return {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": MASKED}]}


def _status(resource: dict[str, Any], code: str | None) -> None:
    if code is None:
        resource["_status"] = _masked()
    else:
        resource["status"] = code


def _meta(profile: str | None, purpose: str, context: ReferralContext) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if profile is not None:
        meta["profile"] = [profile]
    code = PURPOSE_OF_USE.get(purpose)
    meta["security"] = [
        _coding(ACT_REASON, code) if code else _coding(context.purpose_system, purpose)
    ]
    return meta


def _current_entry(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The visible history entry that reached the current status (an assignment changes
    no status)."""
    for entry in reversed(history):
        if entry.get("kind") != "assigned":
            return entry
    return None


# --- the resources ------------------------------------------------------------------------


def to_task(referral: Mapping[str, Any], context: ReferralContext | None = None) -> dict[str, Any]:
    """The SDOHCC Task For Referral Management of a described referral."""
    context = context or ReferralContext()
    shown = referral["status"]
    status = TASK_STATUS[shown]
    history = referral.get("history") or []
    rid = resource_id(referral["id"])
    task: dict[str, Any] = {"resourceType": "Task", "id": rid}
    task["meta"] = _meta(TASK_PROFILE if status else None, referral["purpose"], context)
    task["identifier"] = [{"system": context.identifier_system, "value": referral["id"]}]
    _status(task, status)
    current = _current_entry(history)
    if status and current is not None and current.get("reason"):
        task["statusReason"] = {"text": current["reason"]}
    task["businessStatus"] = {
        "coding": [_coding(context.status_system, shown)],
        "text": shown,
    }
    task["intent"] = "order"
    task["priority"] = referral["urgency"]
    task["code"] = {"coding": [_coding(TASK_CODE, "fulfill", "Fulfill the focal request")]}
    task["focus"] = {"reference": f"ServiceRequest/{rid}"}
    task["for"] = {"reference": f"Patient/{referral['client_id']}"}
    task["authoredOn"] = _iso(referral["created_at"])
    if history:
        task["lastModified"] = _iso(history[-1]["at"])
    task["requester"] = _organization(referral["from_agency"], context)
    task["owner"] = _organization(referral["to_agency"], context)
    if status and referral.get("outcome"):
        task["output"] = [
            {
                "type": {
                    "coding": [
                        _coding(SDOHCC_CODES, "resulting-activity", "Resulting Activity"),
                        _coding(context.outcome_system, "outcome"),
                    ],
                    "text": "outcome",
                },
                "valueString": referral["outcome"],
            }
        ]
    return task


def sdoh_category(record_category: str) -> tuple[str, str]:
    return SDOH_CATEGORIES.get(record_category, UNSPECIFIED)


def to_service_request(
    referral: Mapping[str, Any], context: ReferralContext | None = None
) -> dict[str, Any]:
    """The ServiceRequest the Task's ``focus`` names: what was asked of whom, for whom,
    and on which consents."""
    context = context or ReferralContext()
    service = referral["service"]
    record_category = SERVICES[service["code"]][1] if service["code"] in SERVICES else None
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": resource_id(referral["id"]),
        "meta": _meta(None, referral["purpose"], context),
    }
    request["extension"] = [
        {
            "url": context.shared_category_extension,
            "valueCoding": _coding(context.category_system, category),
        }
        for category in referral.get("shared_categories") or []
    ]
    if not request["extension"]:
        del request["extension"]
    request["identifier"] = [{"system": context.identifier_system, "value": referral["id"]}]
    _status(request, SERVICE_REQUEST_STATUS[referral["status"]])
    request["intent"] = "order"
    categories: list[dict[str, Any]] = []
    if record_category is not None:
        code, display = sdoh_category(record_category)
        categories.append({"coding": [_coding(SDOHCC_CODES, code, display)]})
        categories.append({"coding": [_coding(context.category_system, record_category)]})
    request["category"] = categories
    request["priority"] = referral["urgency"]
    request["code"] = {
        "coding": [_coding(context.service_system, service["code"], service.get("display"))],
        "text": service.get("text") or service.get("display") or service["code"],
    }
    request["subject"] = {"reference": f"Patient/{referral['client_id']}"}
    if referral.get("due_on"):
        request["occurrencePeriod"] = {"end": _iso(referral["due_on"])}
    request["authoredOn"] = _iso(referral["created_at"])
    request["requester"] = _organization(referral["from_agency"], context)
    request["performer"] = [_organization(referral["to_agency"], context)]
    consents = [
        {"reference": f"Consent/{fhir_id(consent_id) or consent_id}"}
        for consent_id in referral.get("consent_ids") or []
    ]
    if consents:
        request["supportingInfo"] = consents
    if referral.get("note"):
        request["note"] = [{"text": referral["note"]}]
    return request


# --- the mapping table (docs/fhir.md) -----------------------------------------------------


class MappingRow(NamedTuple):
    caseops: str
    fhir: str
    rule: str


MAPPING_TABLE: tuple[MappingRow, ...] = (
    MappingRow(
        "id",
        "Task.id, ServiceRequest.id; identifier[0].value",
        "`ref_<hex>` written `ref-<hex>` as the R4 id; the identifier (system "
        "`<base>/referral-id`) keeps the caseops id. A read accepts either form.",
    ),
    MappingRow("client_id", "Task.for, ServiceRequest.subject", "`Patient/<client id>`."),
    MappingRow(
        "from_agency",
        "Task.requester, ServiceRequest.requester",
        "`Organization/<agency code>`, display the agency's name.",
    ),
    MappingRow(
        "to_agency",
        "Task.owner, ServiceRequest.performer[0]",
        "`Organization/<agency code>`, display the agency's name.",
    ),
    MappingRow(
        "from_user, assigned_to",
        "-",
        "Not mapped: workers are named to their own agency only (JSON API); the "
        "Organization is the requester and the owner.",
    ),
    MappingRow(
        "service.code, .display, .text",
        "ServiceRequest.code",
        "coding `<base>/CodeSystem/referral-service` (code, display); `text` the service "
        "as the sender worded it.",
    ),
    MappingRow(
        "service (its record category)",
        "ServiceRequest.category",
        "The SDOHCC SDOH category (SDOH_CATEGORIES, else `sdoh-category-unspecified`) and "
        "the caseops record category (`<base>/CodeSystem/record-category`).",
    ),
    MappingRow(
        "purpose",
        "Task.meta.security, ServiceRequest.meta.security",
        "The v3 PurposeOfUse code Consents are written with (`COC` for care_coordination, "
        "`TREAT`, `HPAYMT`, `HOPERAT`, `ELIGDTRM`, `ETREAT`).",
    ),
    MappingRow(
        "shared_categories",
        "ServiceRequest.extension referral-shared-category",
        "One `valueCoding` (`<base>/CodeSystem/record-category`) per category the "
        "referral shares (the recipient's limited view).",
    ),
    MappingRow(
        "note",
        "ServiceRequest.note[0].text",
        "As the JSON API shows it to the caller; absent when there is none.",
    ),
    MappingRow("urgency", "Task.priority, ServiceRequest.priority", "`routine` | `urgent`."),
    MappingRow(
        "due_on",
        "ServiceRequest.occurrencePeriod.end",
        "The date the service is due by (a period ending then, not a date it happens on).",
    ),
    MappingRow("created_at", "Task.authoredOn, ServiceRequest.authoredOn", "UTC instant."),
    MappingRow(
        "status (as the caller sees it)",
        "Task.status, Task.businessStatus",
        "The ten caseops statuses are the ten codes of the SDOHCC referral task status "
        "value set. `open` / `closed` (a sender without a Part 2 program's consent): no "
        "code, `_status` carries data-absent-reason `masked`, and no profile is claimed. "
        "businessStatus always carries the status as the caller sees it "
        "(`<base>/CodeSystem/referral-status`).",
    ),
    MappingRow(
        "status (as the caller sees it)",
        "ServiceRequest.status",
        "draft -> `draft`; requested, accepted, in-progress, on-hold, open -> `active`; "
        "completed -> `completed`; rejected, cancelled, failed -> `revoked`; "
        "entered-in-error -> `entered-in-error`; closed -> masked.",
    ),
    MappingRow(
        "history[last status change].reason",
        "Task.statusReason.text",
        "The reason given with the move to the current status, when the caller may read "
        "it (never while the status is masked).",
    ),
    MappingRow(
        "history[last].at",
        "Task.lastModified",
        "The last step of the history the caller sees (a Part 2 program's own steps do not "
        "move it for a sender who sees only open / closed).",
    ),
    MappingRow(
        "outcome",
        "Task.output[0]",
        "type `resulting-activity` (SDOHCC) and `<base>/CodeSystem/referral-output#outcome`,"
        " text `outcome`; `valueString` the outcome as written. Only when the caller may "
        "read it.",
    ),
    MappingRow(
        "the send's consents (referral_moves.consent_ids)",
        "ServiceRequest.supportingInfo[]",
        "`Consent/<cns-...>` for each consent the gate relied on when the referral was "
        "sent, limited to the consents the caller's agency may know of (as "
        "`GET /fhir/Consent/{id}` decides).",
    ),
    MappingRow("(fixed)", "Task.intent, ServiceRequest.intent", "`order`."),
    MappingRow("(fixed)", "Task.code", "`fulfill` (http://hl7.org/fhir/CodeSystem/task-code)."),
    MappingRow("(fixed)", "Task.focus", "`ServiceRequest/<ref-...>`: the same referral."),
    MappingRow(
        "(fixed)",
        "Task.meta.profile",
        "SDOHCC-TaskForReferralManagement, unless the status is masked. The "
        "ServiceRequest claims no profile (its code is not a US Core procedure code).",
    ),
    MappingRow(
        "side, allowed_moves, may_assign, access_open, consent, flags, history",
        "-",
        "Not mapped: the caller's own standing and the full history stay in the JSON API "
        "(`GET /api/v1/referrals/{id}`); moves go through `POST .../status`.",
    ),
)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def mapping_table_markdown() -> str:
    """The mapping table, and the status tables, as Markdown (docs/fhir.md)."""
    lines = [
        "| caseops referral | FHIR R4 element | rule |",
        "|---|---|---|",
        *(f"| `{_md(r.caseops)}` | `{_md(r.fhir)}` | {_md(r.rule)} |" for r in MAPPING_TABLE),
        "",
        "| status the caller sees | Task.status | ServiceRequest.status |",
        "|---|---|---|",
    ]
    for shown, task in TASK_STATUS.items():
        request = SERVICE_REQUEST_STATUS[shown]
        lines.append(
            f"| `{shown}` | {f'`{task}`' if task else 'masked'} | "
            f"{f'`{request}`' if request else 'masked'} |"
        )
    lines += [
        "",
        "| record category of the service | ServiceRequest.category (SDOHCC) |",
        "|---|---|",
    ]
    for category in dict.fromkeys(c for _, c in SERVICES.values()):
        code, _ = sdoh_category(category)
        lines.append(f"| `{category}` | `{code}` |")
    return "\n".join(lines)
