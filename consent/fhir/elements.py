"""Reading FHIR elements: objects, arrays, codings, references, dates and code tables.

`_ElementReader` collects the issues; `reading._Mapper` builds on it for the Consent's parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from consent.fhir.codes import (
    UNMAPPED_CODES,
    UNMAPPED_SYSTEMS,
    CodeMapping,
)
from consent.fhir.context import FhirContext, Resolver, _lookup
from consent.fhir.outcomes import FhirIssue, IssueCode
from consent.model import (
    Provision,
)

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


def _identifier_keys(identifiers: Any) -> list[str]:
    keys = []
    for ident in identifiers if isinstance(identifiers, list) else []:
        if isinstance(ident, Mapping) and isinstance(ident.get("value"), str):
            keys.append(f"{ident.get('system') or ''}|{ident['value']}")
    return keys


class _ElementReader:
    """Reads the generic parts of a resource, collecting issues and warnings as it goes."""

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
