"""Mapping issues and R4 OperationOutcome: why an element cannot be mapped, in FHIR terms."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
