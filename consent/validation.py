"""Checks a consent before it is recorded, so a defect is caught while the form is at hand.

Errors are keyed by field name (nested fields dotted, e.g. `grantor.name`) and written for the
consent officer. 42 CFR Part 2 and FERPA permits must carry every element their regulation
lists; each missing element is its own error, citing the rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from consent.decision import ADULT_AGE, same_intermediary
from consent.model import (
    ANY,
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
    EDUCATION,
    SUBSTANCE_USE,
    TPO_PURPOSES,
    Consent,
    Designation,
    EvidenceMethod,
    GrantorKind,
    Provision,
    age_on,
    require_aware,
)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PART2 = "For substance use disorder records (42 CFR Part 2)"
_FERPA = "For education records (FERPA)"
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationContext:
    """What the recording service knows beyond the form itself.

    `part2_source` is true when any source agency the consent names is a Part 2 program.
    `categories` and `purposes` are the configured vocabularies. `intermediary` is this
    deployment's legal name as an intermediary (42 CFR 2.31(a)(4)(ii)); None when none is
    configured, and then no consent may designate recipients generally.
    `covered_entities` are the agency codes recorded as HIPAA covered entities or business
    associates (42 CFR 2.31(a)(4)(iii)).
    """

    now: datetime
    part2_source: bool = False
    client_birth_date: date | None = None
    categories: frozenset[str] = DEFAULT_CATEGORIES
    purposes: frozenset[str] = DEFAULT_PURPOSES
    intermediary: str | None = None
    covered_entities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", require_aware(self.now, "now"))


class _Errors(dict[str, list[str]]):
    """Field errors, remembering which fields were simply left out."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()
        self._cited: set[str] = set()

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def add_missing(self, field: str, message: str) -> None:
        self.missing.add(field)
        self.add(field, message)

    def cite(self, field: str, message: str) -> None:
        """Replace a left-out field's generic message by the regulation's reasons for it."""
        if field not in self.missing:
            return
        if field not in self._cited:
            self._cited.add(field)
            self[field] = []
        self.add(field, message)


def validate_consent(
    draft: Mapping[str, Any] | Consent, context: ValidationContext
) -> dict[str, list[str]]:
    """Field-level errors of a consent about to be recorded; an empty dict means valid.

    `draft` is a `Consent` or the API's JSON shape with `client_id` added; its date-times may
    be datetimes or ISO 8601 strings.
    """
    if isinstance(draft, Consent):
        draft = dataclasses.asdict(draft)
    errors = _Errors()
    grantor = _mapping(errors, draft, "grantor")
    evidence = _mapping(errors, draft, "evidence")

    _text(errors, draft, "client_id", "Say which client this consent is about.")
    provision = _choice(
        errors, draft, "provision", Provision, "whether the consent permits or denies sharing"
    )
    kind = _choice(errors, grantor, "grantor.kind", GrantorKind, "who signed the consent")
    _text(errors, grantor, "grantor.name", "Enter the name of the person who signed.")
    _choice(errors, evidence, "evidence.method", EvidenceMethod, "how the consent was given")
    sha = evidence.get("document_sha256")
    if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        errors.add(
            "evidence.document_sha256",
            "The document fingerprint must be a SHA-256 digest: 64 lowercase hexadecimal "
            "characters.",
        )
    acknowledged = draft.get("revocation_right_acknowledged", False)
    if not isinstance(acknowledged, bool):
        errors.add(
            "revocation_right_acknowledged",
            "Record whether the client was told of the right to revoke: true or false.",
        )
    expiry_event = draft.get("expiry_event")
    if expiry_event is not None and not _is_text(expiry_event):
        errors.add("expiry_event", "Describe the event that ends the consent, or leave it out.")

    designation = draft.get("general_designation")
    designated = designation is not None and designation != ""
    sources = _scope(errors, draft, "source_agencies", "source agency")
    categories = _scope(errors, draft, "categories", "category", context.categories)
    if designated and not draft.get("recipients"):
        recipients: frozenset[str] | None = frozenset()  # the designation stands for them
    else:
        recipients = _scope(errors, draft, "recipients", "recipient agency")
    purposes = _scope(errors, draft, "purposes", "purpose", context.purposes)
    statement = draft.get("hipaa_redisclosure_statement", False)
    if not isinstance(statement, bool):
        errors.add(
            "hipaa_redisclosure_statement",
            "Record whether the consent carries the HIPAA redisclosure statement: true or false.",
        )
    _intermediary(errors, draft, context, designated)
    if designated:
        _designation(errors, draft, designation, provision, purposes, statement is True)

    effective_from = _instant(errors, draft, "effective_from", "when the consent takes effect")
    expires_at = _instant(errors, draft, "expires_at", None)
    signed_at = _instant(errors, draft, "signed_at", "when the consent was signed")
    if effective_from and expires_at and expires_at <= effective_from:
        errors.add("expires_at", "The expiry must be later than the date the consent takes effect.")
    if signed_at and signed_at > context.now:
        errors.add("signed_at", "The signing date cannot be in the future.")

    if provision is Provision.PERMIT:
        named = categories or frozenset()
        if context.part2_source or SUBSTANCE_USE in named:
            scopes = {
                "source_agencies": sources,
                "categories": categories,
                "recipients": recipients,
                "purposes": purposes,
            }
            has_expiry = draft.get("expires_at") is not None or _is_text(expiry_event)
            _part2_elements(errors, scopes, acknowledged is True, has_expiry)
            if not designated:
                _covered_entity_statement(errors, recipients, purposes, statement is True, context)
        if EDUCATION in named:
            _ferpa_elements(errors, recipients, purposes)
            if kind is not None and signed_at is not None:
                _ferpa_signer(errors, kind, signed_at, context)
    return dict(errors)


_PART2_SCOPE_ELEMENTS = (
    ("source_agencies", "name the program or agency allowed to disclose", "(a)(2)"),
    ("categories", "describe what information may be disclosed", "(a)(3)"),
    ("recipients", "name each agency the records go to", "(a)(4)"),
    ("purposes", "state the purpose of the disclosure", "(a)(5)"),
)


def _part2_elements(
    errors: _Errors,
    scopes: dict[str, frozenset[str] | None],
    acknowledged: bool,
    has_expiry: bool,
) -> None:
    """42 CFR 2.31(a): a Part 2 consent must be specific, or it is a general authorization."""
    errors.cite("client_id", f"{_PART2}, the consent must name the patient (42 CFR 2.31(a)(1)).")
    for field, what, cite in _PART2_SCOPE_ELEMENTS:
        message = f"{_PART2}, {what}; '*' (any) is not enough (42 CFR 2.31{cite})."
        scope = scopes[field]
        if scope is not None and ANY in scope:
            errors.add(field, message)
        errors.cite(field, message)
    if not acknowledged:
        errors.add(
            "revocation_right_acknowledged",
            f"{_PART2}, the consent must state that the patient may revoke it; confirm the "
            "patient was told of this right (42 CFR 2.31(a)(6)).",
        )
    if not has_expiry:
        errors.add(
            "expires_at",
            f"{_PART2}, give the date, event or condition on which the consent expires: set an "
            "expiry date or describe the expiry event (42 CFR 2.31(a)(7)).",
        )
    errors.cite(
        "grantor.name",
        f"{_PART2}, the consent must be signed by the patient or a person authorized to sign; "
        "enter the signer's name (42 CFR 2.31(a)(8)).",
    )
    errors.cite(
        "signed_at",
        f"{_PART2}, the consent must give the date it was signed (42 CFR 2.31(a)(9)).",
    )


_PART2_2024 = "For substance use disorder records (42 CFR Part 2, as amended in 2024)"
_HIPAA_STATEMENT = (
    "the consent must include the statement that the patient's record (or information "
    "contained in the record) may be redisclosed in accordance with the permissions contained "
    "in the HIPAA regulations, except for uses and disclosures for civil, criminal, "
    "administrative, and legislative proceedings against the patient"
)


def _intermediary(
    errors: _Errors, draft: Mapping[str, Any], context: ValidationContext, designated: bool
) -> None:
    """2.31(a)(4)(ii): a consent through an intermediary must include its name(s); a general
    designation is only valid through this deployment's intermediary."""
    named = draft.get("intermediary")
    configured = context.intermediary
    if named is not None and not isinstance(named, str):
        errors.add("intermediary", "Enter the intermediary's name as text, or leave it out.")
        return
    if not _is_text(named):
        if designated:
            target = (
                f"name '{configured}'"
                if configured
                else "but this deployment has no intermediary name configured "
                "(CASEOPS_INTERMEDIARY_NAME), so no consent may designate recipients generally"
            )
            errors.add_missing(
                "intermediary",
                f"{_PART2_2024}, a consent that designates recipients generally goes through an "
                f"intermediary and must include the name of the intermediary: {target} "
                "(42 CFR 2.31(a)(4)(ii)).",
            )
        return
    if not same_intermediary(named, configured):
        should = f"'{configured}'" if configured else "none (none is configured)"
        errors.add(
            "intermediary",
            f"'{named}' is not this deployment's intermediary; the intermediary named on the "
            f"consent must be {should} (42 CFR 2.31(a)(4)(ii)).",
        )


def _designation(
    errors: _Errors,
    draft: Mapping[str, Any],
    designation: object,
    provision: Provision | None,
    purposes: frozenset[str] | None,
    statement: bool,
) -> None:
    """A general designation (2.31(a)(4)(ii)(B)) in the single TPO consent (2.31(a)(4)(i))."""
    allowed = Designation.TREATING_PROVIDER_RELATIONSHIP.value
    if designation != allowed:
        errors.add(
            "general_designation",
            f"{_PART2_2024}, a general designation of participants of an intermediary must be "
            "limited to a participant(s) who has a treating provider relationship with the "
            f"patient: use '{allowed}' (42 CFR 2.31(a)(4)(ii)(B)).",
        )
    if provision is Provision.DENY:
        errors.add(
            "general_designation",
            "A general designation describes whom a permit discloses to; a deny provision "
            "names the recipients it refuses.",
        )
    if not _is_text(draft.get("recipient_description")):
        errors.add_missing(
            "recipient_description",
            f"{_PART2_2024}, describe the class of recipients as the consent does, for "
            "example 'my treating providers, health plans, third-party payers, and people "
            "helping to operate this program' (42 CFR 2.31(a)(4)(i)).",
        )
    if purposes is not None and (ANY in purposes or not purposes <= TPO_PURPOSES):
        other = sorted(purposes - TPO_PURPOSES)
        errors.add(
            "purposes",
            f"{_PART2_2024}, a general designation serves the single consent for all future "
            "uses and disclosures for treatment, payment, and health care operations: list "
            f"only {', '.join(repr(p) for p in sorted(TPO_PURPOSES))}, not "
            f"{', '.join(repr(p) for p in other)} (42 CFR 2.31(a)(4)(i), 2.31(a)(5)).",
        )
    if purposes and purposes & TPO_PURPOSES and not statement:
        errors.add(
            "hipaa_redisclosure_statement",
            f"{_PART2_2024}, participants a general designation reaches may be covered entities "
            "or business associates receiving the record for treatment, payment, or health "
            f"care operations, so {_HIPAA_STATEMENT} (42 CFR 2.31(a)(4)(iii)).",
        )


def _covered_entity_statement(
    errors: _Errors,
    recipients: frozenset[str] | None,
    purposes: frozenset[str] | None,
    statement: bool,
    context: ValidationContext,
) -> None:
    """2.31(a)(4)(iii): a named recipient that is a covered entity or business associate,
    for treatment, payment or health care operations, needs the HIPAA statement."""
    if statement or not recipients or not purposes:
        return
    covered = sorted((recipients - {ANY}) & context.covered_entities)
    tpo = purposes & TPO_PURPOSES or (TPO_PURPOSES if ANY in purposes else frozenset())
    if covered and tpo:
        who = (
            f"{covered[0]} is a covered entity or business associate"
            if len(covered) == 1
            else f"{', '.join(covered)} are covered entities or business associates"
        )
        errors.add(
            "hipaa_redisclosure_statement",
            f"{_PART2_2024}, {who} receiving the record for {', '.join(sorted(tpo))}, so "
            f"{_HIPAA_STATEMENT} (42 CFR 2.31(a)(4)(iii)).",
        )


def _ferpa_elements(
    errors: _Errors, recipients: frozenset[str] | None, purposes: frozenset[str] | None
) -> None:
    """34 CFR 99.30: signed, dated, naming the records, the purpose and the recipients.

    The records element is met by naming `education` among the categories, which is what
    makes a consent a FERPA consent here.
    """
    for field, scope, what, cite in (
        ("recipients", recipients, "identify the agencies the records go to", "(b)(3)"),
        ("purposes", purposes, "state the purpose of the disclosure", "(b)(2)"),
    ):
        message = f"{_FERPA}, {what}; '*' (any) is not enough (34 CFR 99.30{cite})."
        if scope is not None and ANY in scope:
            errors.add(field, message)
        errors.cite(field, message)
    errors.cite(
        "grantor.name",
        f"{_FERPA}, the consent must be signed; enter the signer's name (34 CFR 99.30(a)).",
    )
    errors.cite("signed_at", f"{_FERPA}, the consent must be dated (34 CFR 99.30(a)).")


def _ferpa_signer(
    errors: _Errors, kind: GrantorKind, signed_at: datetime, context: ValidationContext
) -> None:
    """Only the holder of FERPA rights may consent: the parents, then the student from 18 on."""
    birth = context.client_birth_date
    if birth is None:
        errors.add(
            "grantor.kind",
            "The client's birth date is not recorded, so it cannot be checked whether a parent "
            "or the student must sign an education-records consent (34 CFR 99.5(a)); record the "
            "birth date first.",
        )
    elif age_on(birth, signed_at.date()) >= ADULT_AGE:
        if kind is not GrantorKind.SELF:
            errors.add(
                "grantor.kind",
                "The student was 18 or older when this was signed, so FERPA rights belong to the "
                "student and the student must sign (34 CFR 99.5(a)).",
            )
    elif kind not in {GrantorKind.PARENT, GrantorKind.GUARDIAN}:
        errors.add(
            "grantor.kind",
            "The student was under 18 when this was signed, so a parent or guardian must sign "
            "an education-records consent (34 CFR 99.30(a), 99.5(a)).",
        )
    elif age_on(birth, context.now.date()) >= ADULT_AGE:
        errors.add(
            "grantor.kind",
            "The student is now 18 or older, so FERPA rights have passed to the student and a "
            "parent's or guardian's consent no longer permits disclosure; the student must sign "
            "(34 CFR 99.5(a)).",
        )


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _mapping(errors: _Errors, draft: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = draft.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(field, f"The {field} must be an object with its own fields.")
        return {}
    return value


def _text(errors: _Errors, source: Mapping[str, Any], field: str, message: str) -> None:
    if not _is_text(source.get(field.rsplit(".", 1)[-1])):
        errors.add_missing(field, message)


def _choice(
    errors: _Errors, source: Mapping[str, Any], field: str, vocabulary: type[_E], what: str
) -> _E | None:
    value = source.get(field.rsplit(".", 1)[-1])
    allowed = ", ".join(f"'{member}'" for member in vocabulary)
    if value is None or value == "":
        errors.add_missing(field, f"Say {what}: one of {allowed}.")
        return None
    if not isinstance(value, str) or value not in {member.value for member in vocabulary}:
        errors.add(field, f"'{value}' is not allowed here; say {what}: one of {allowed}.")
        return None
    return vocabulary(value)


def _scope(
    errors: _Errors,
    draft: Mapping[str, Any],
    field: str,
    noun: str,
    vocabulary: frozenset[str] | None = None,
) -> frozenset[str] | None:
    """A scope list as a set, or None (with an error) when it cannot be read."""
    value = draft.get(field)
    if value is None or isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        errors.add_missing(field, f"List at least one {noun}, or '*' for any {noun}.")
        return None
    items = list(value)
    if not items:
        errors.add_missing(field, f"List at least one {noun}, or '*' for any {noun}.")
        return None
    if not all(_is_text(item) for item in items):
        errors.add(field, f"Each {noun} must be a non-empty code.")
        return None
    scope = frozenset(items)
    if ANY in scope and len(scope) > 1:
        errors.add(field, f"'*' already means any {noun}; list specific codes or '*' alone.")
    if vocabulary is not None:
        allowed = ", ".join(sorted(vocabulary))
        for unknown in sorted(scope - vocabulary - {ANY}):
            errors.add(field, f"'{unknown}' is not a known {noun}; use one of: {allowed}.")
    return scope


def _instant(
    errors: _Errors, draft: Mapping[str, Any], field: str, required: str | None
) -> datetime | None:
    """A timezone-aware date-time from a datetime or an ISO 8601 string, else an error.

    `required` describes the moment for the message when it is left out, or is None when the
    field is optional.
    """
    value = draft.get(field)
    if value is None:
        if required:
            errors.add_missing(field, f"Enter the date and time {required}.")
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.add(
                field,
                f"'{value}' is not a date and time; use ISO 8601 with a UTC offset, "
                "e.g. 2025-01-31T09:00:00Z.",
            )
            return None
    if not isinstance(value, datetime):
        errors.add(field, "Enter a date and time, e.g. 2025-01-31T09:00:00Z.")
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        errors.add(
            field,
            "Include the time zone (a UTC offset such as Z or +00:00); a time without one is "
            "ambiguous.",
        )
        return None
    return require_aware(value, field)
