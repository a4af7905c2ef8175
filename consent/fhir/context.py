"""What the web layer knows that a Consent resource does not say (`FhirContext`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from consent.fhir.codes import (
    CATEGORY_CODES,
    DEFAULT_CANONICAL_BASE,
    PURPOSE_CODES,
    CodeMapping,
)
from consent.model import (
    DEFAULT_CATEGORIES,
    DEFAULT_PURPOSES,
)

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


def _lookup(resolver: Resolver, key: str) -> Any:
    if isinstance(resolver, Mapping):
        return resolver.get(key)
    return resolver(key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
