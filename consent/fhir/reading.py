"""FHIR R4 Consent -> caseops consent bodies (`from_fhir`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent.fhir.codes import (
    _SCOPES,
    ACT_CODE,
    ACTIONS,
    ACTOR_ROLES,
    CONSENT_ACTION,
    CONSENT_SCOPE,
    EXT_EVIDENCE_METHOD,
    EXT_EXPIRY_EVENT,
    EXT_REVOCATION_ACK,
    GRANTOR_RELATIONSHIPS,
    PART2_2024_EXTENSIONS,
    PARTICIPATION_TYPE,
    POLICY_RULES,
    ROLE_CODE,
    STATUS_RULES,
)
from consent.fhir.context import FhirContext, _iso
from consent.fhir.elements import _ElementReader
from consent.fhir.outcomes import FhirIssue, FhirMapping, IssueCode
from consent.model import (
    ANY,
    EvidenceMethod,
    GrantorKind,
    Provision,
)


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


class _Mapper(_ElementReader):
    """Reads the parts of a Consent resource into caseops terms."""

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
            for n in (
                EXT_EVIDENCE_METHOD,
                EXT_REVOCATION_ACK,
                EXT_EXPIRY_EVENT,
                *(name for name, _, _ in PART2_2024_EXTENSIONS),
            )
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
    _check_status(m, resource)
    _check_scope(m, resource)

    root_node = m.obj(resource.get("provision"), "Consent.provision")
    root_type = _provision_type(m, root_node, "Consent.provision") if root_node else None
    base = m.base_rule(root_type)
    client_id = m.client()
    signed_at = _signed_at(m, resource)
    kind, name = m.grantor(client_id)
    custodians = m.organizations()
    ext = m.extensions()
    evidence, evidence_origins = m.evidence(ext.get(EXT_EVIDENCE_METHOD))
    ack, ack_path = _acknowledgement(m, ext, context)
    expiry_event, expiry_path = _expiry_event(m, ext, context)
    part2_2024 = _part2_2024(m, ext)

    root = m.provision(root_node or {}, "Consent.provision", base)
    if root.scopes["source_agencies"] is None and custodians:
        root.scopes["source_agencies"] = custodians
        root.scope_paths["source_agencies"] = "Consent.organization"
    plans = _plans(m, root_node, root, base)

    if m.issues:
        return FhirMapping(issues=tuple(m.issues), warnings=tuple(m.warnings))
    assert base is not None and client_id and signed_at and kind and name and evidence
    shared = _Shared(
        client_id=client_id,
        signed_at=signed_at,
        kind=kind,
        name=name,
        evidence=evidence,
        evidence_origins=evidence_origins,
        ack=ack,
        ack_path=ack_path,
        expiry_event=expiry_event,
        expiry_path=expiry_path,
        part2_2024=part2_2024,
    )
    bodies, origins = [], []
    for cond in plans:
        body, origin = _body(cond, shared)
        bodies.append(body)
        origins.append(origin)
    return FhirMapping(bodies=tuple(bodies), warnings=tuple(m.warnings), origins=tuple(origins))


def _check_status(m: _Mapper, resource: Mapping[str, Any]) -> None:
    """Only `active` consents are recorded; any other status is refused with its reason."""
    status = resource.get("status")
    if status is None:
        m.error("Consent.status", IssueCode.REQUIRED, "Give the consent's status.")
    elif not isinstance(status, str) or status not in STATUS_RULES:
        m.error("Consent.status", IssueCode.INVALID, f"'{status}' is not an R4 consent status.")
    elif STATUS_RULES[status]:
        m.error(
            "Consent.status", IssueCode.NOT_SUPPORTED, f"Status '{status}': {STATUS_RULES[status]}"
        )


def _check_scope(m: _Mapper, resource: Mapping[str, Any]) -> None:
    """Only privacy consents (scope `patient-privacy`) are recorded."""
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


def _signed_at(m: _Mapper, resource: Mapping[str, Any]) -> datetime | None:
    """When the consent was signed (`Consent.dateTime`, required)."""
    if resource.get("dateTime") is None:
        m.error("Consent.dateTime", IssueCode.REQUIRED, "Give the date the consent was signed.")
        return None
    return m.instant(resource["dateTime"], "Consent.dateTime")


def _acknowledgement(
    m: _Mapper, ext: dict[str, tuple[Any, str]], context: FhirContext
) -> tuple[Any, str]:
    """The revocation-right-acknowledged extension (default False) and its path."""
    ack, ack_path = ext.get(EXT_REVOCATION_ACK, (False, _ext_path(context, EXT_REVOCATION_ACK)))
    if not isinstance(ack, bool):
        m.error(ack_path, IssueCode.INVALID, "The acknowledgement must be a boolean.")
    return ack, ack_path


def _expiry_event(
    m: _Mapper, ext: dict[str, tuple[Any, str]], context: FhirContext
) -> tuple[Any, str]:
    """The expiry-event extension (default None) and its path."""
    expiry_event, expiry_path = ext.get(
        EXT_EXPIRY_EVENT, (None, _ext_path(context, EXT_EXPIRY_EVENT))
    )
    if expiry_event is not None and not (isinstance(expiry_event, str) and expiry_event.strip()):
        m.error(expiry_path, IssueCode.INVALID, "The expiry event must be a non-empty string.")
    return expiry_event, expiry_path


def _part2_2024(m: _Mapper, ext: dict[str, tuple[Any, str]]) -> tuple[tuple[str, Any, str], ...]:
    """The 42 CFR Part 2 (2024) extensions present, as (body field, value, path); their
    meaning is checked when the consent is recorded (``consent.validate_consent``)."""
    found = []
    for name, key, value_type in PART2_2024_EXTENSIONS:
        if name not in ext:
            continue
        value, path = ext[name]
        if value_type == "valueBoolean":
            if not isinstance(value, bool):
                m.error(path, IssueCode.INVALID, "The statement flag must be a boolean.")
                continue
        elif not (isinstance(value, str) and value.strip()):
            m.error(path, IssueCode.INVALID, f"The {key.replace('_', ' ')} must be a string.")
            continue
        found.append((key, value, path))
    return tuple(found)


def _plans(
    m: _Mapper,
    root_node: Mapping[str, Any] | None,
    root: _Conditions,
    base: Provision | None,
) -> list[_Conditions]:
    """The conditions of each body to record, from the root and its nested provisions (see
    the module docstring for how base and nested rules combine)."""
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
    return plans


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every body mapped from one resource shares, and where it came from."""

    client_id: str
    signed_at: datetime
    kind: GrantorKind
    name: str
    evidence: Mapping[str, Any]
    evidence_origins: Mapping[str, str]
    ack: Any
    ack_path: str
    expiry_event: Any
    expiry_path: str
    part2_2024: tuple[tuple[str, Any, str], ...] = ()


def _body(cond: _Conditions, shared: _Shared) -> tuple[dict[str, Any], dict[str, str]]:
    """One consent API body for one plan, and the FHIR element each of its fields came from."""
    body: dict[str, Any] = {"client_id": shared.client_id, "provision": cond.rule.value}
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
    body["effective_from"] = _iso(cond.start or shared.signed_at)
    origin["effective_from"] = cond.start_path or "Consent.dateTime"
    if cond.end is not None:
        body["expires_at"] = _iso(cond.end)
        origin["expires_at"] = cond.end_path or f"{cond.path}.period"
    else:
        origin["expires_at"] = f"{cond.path}.period.end"
    if shared.expiry_event is not None:
        body["expiry_event"] = shared.expiry_event
        origin["expiry_event"] = shared.expiry_path
    body["grantor"] = {"kind": shared.kind.value, "name": shared.name}
    origin["grantor.kind"] = origin["grantor.name"] = "Consent.performer[0]"
    body["signed_at"] = _iso(shared.signed_at)
    origin["signed_at"] = "Consent.dateTime"
    body["evidence"] = dict(shared.evidence)
    origin.update(shared.evidence_origins)
    body["revocation_right_acknowledged"] = shared.ack
    origin["revocation_right_acknowledged"] = shared.ack_path
    for key, value, path in shared.part2_2024:
        body[key] = value
        origin[key] = path
        if key == "general_designation" and cond.scopes["recipients"] is None:
            # the designation stands for the recipients no actor names
            body["recipients"] = []
    return body, origin
