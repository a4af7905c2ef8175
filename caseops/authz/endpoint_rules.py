"""Every /api/v1 operation declares its agency rule here (issue 14).

Why a table: an agency boundary that each handler remembers on its own is one that the
next handler forgets. Declaring, per operation, *which* path parameters name something an
agency owns and *which* rule guards it lets one test (tests/security/
test_cross_agency_matrix.py) read the OpenAPI document, find every operation, and run
every role against own / other agency / Part 2 program / unknown ids. An operation without
a declaration fails that test, so a new endpoint is covered the day it is added. The same
declaration is published in ``/api/v1/openapi.json`` as ``x-caseops-agency-rule``
(``caseops.authz.openapi_rules``), so outside callers can read the contract too.

The table only *declares*; enforcement stays in the services (``caseops.authz.permissions``
and ``guard``). The rules, each a promise the matrix test checks:

``public``
    No agency-owned parameter, and the answer is the same for every agency (the signing
    key, checkpoints, the agency list).
``caller_agency``
    No agency-owned path parameter; the answer is computed from the caller's own agency or
    oversight scope (lists, searches, queues): tests/security/test_cross_agency_lists.py
    finds no other agency's data in any of them.
``organisation``
    Organisation-wide matters: only system administrators or roles with organisation-wide
    scope by policy. Any agency-owned parameter still answers hidden = unknown.
``client``
    ``client_id``: a client whose existence is hidden from the caller (only another agency's
    Part 2 records, no consent naming the caller's agency) answers exactly like an unknown id.
``user``
    ``username`` (and a token under it): another agency's users answer 404 like unknown
    users, unless the caller may manage users of every agency.
``agency_code``
    ``code``: only that agency's own ``acting_roles`` act (its integration account writes its
    records, its administrator keeps its trust rules); agency codes are public, so another
    agency's code is refused, not hidden; the answer never depends on other agencies'
    records.
``consent``
    ``consent_id``: a consent that does not involve the caller's agency (recorded by it, or
    naming it as a source or recipient), or that is about a client hidden from the caller,
    answers like an unknown id (organisation-wide consent scope by policy aside).
``referral``
    ``referral_id``: a referral is known only to its two sides (the sending agency's
    workers and system; the recipient agency's supervisors, assigned worker and system,
    once sent); every other caller, the recipient's other workers included, gets the
    unknown-id answer. Neither side learns the other's user names.
``agreement``
    ``agreement_id``: a data sharing agreement is known to its parties' administrators and
    privacy officers (and to system administrators); every other caller gets the
    unknown-id answer.
``oversight``
    A review item, a record in linkage, a link event, a break-the-glass grant, a log entry
    or an incident belongs to an agency: only that agency's oversight roles (or
    organisation-wide scope) know of it; every other caller gets the unknown-id answer.
``agency_item``
    ``task_id``, ``note_id``: a task or note belongs to the agency whose worker wrote it;
    only that agency's case workers and supervisors know of it by id; every other caller
    gets the unknown-id answer (what another agency reads of a note is the record view's
    decision, never this id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Rule(StrEnum):
    """How an operation guards the agency boundary (see the module docstring)."""

    PUBLIC = "public"
    CALLER_AGENCY = "caller_agency"
    ORGANISATION = "organisation"
    CLIENT = "client"
    USER = "user"
    AGENCY_CODE = "agency_code"
    CONSENT = "consent"
    OVERSIGHT = "oversight"
    REFERRAL = "referral"
    AGREEMENT = "agreement"
    AGENCY_ITEM = "agency_item"


class Owned(StrEnum):
    """What an agency-owned path parameter names."""

    CLIENT = "client"
    USER = "user"
    TOKEN = "token"  # noqa: S105 - an API token id, not a secret
    AGENCY = "agency"
    AGENCY_RECORD = "agency_record"  # a source record id, namespaced under the agency code
    CONSENT = "consent"
    REVIEW_ITEM = "review_item"
    RECORD = "record"  # a source record's internal id (linkage)
    LINK_EVENT = "link_event"
    GRANT = "grant"  # a break-the-glass grant
    AUDIT_ENTRY = "audit_entry"  # a log entry's sequence number
    TRUST_RULE = "trust_rule"  # an agency's standing rule, namespaced under the agency code
    REFERRAL = "referral"
    WEBHOOK = "webhook"  # an agency's webhook, namespaced under the agency code
    INCIDENT = "incident"  # an incident, owned by the agency whose officer opened it
    AGREEMENT = "agreement"  # a data sharing agreement, known to its parties
    ACCESS_CODE = "access_code"  # a client access code, owned by the issuing agency
    TASK = "task"  # a task, coordination data of the agency whose worker created it
    NOTE = "note"  # a worker's note, a section of the author's agency (issue 18)


@dataclass(frozen=True)
class EndpointRule:
    """One operation's declaration: its rule, what each path parameter names and, for the
    ``agency_code`` rule, which of that agency's roles act for it."""

    rule: Rule
    parameters: Mapping[str, Owned] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""
    acting_roles: frozenset[str] = frozenset()

    def as_extension(self) -> dict[str, Any]:
        """The value published as ``x-caseops-agency-rule`` in the OpenAPI document."""
        value: dict[str, Any] = {"rule": self.rule.value}
        if self.parameters:
            value["parameters"] = {name: kind.value for name, kind in self.parameters.items()}
        if self.acting_roles:
            value["acting_roles"] = sorted(self.acting_roles)
        if self.note:
            value["note"] = self.note
        return value


def _r(
    rule: Rule, note: str = "", *, acting: tuple[str, ...] = (), **parameters: Owned
) -> EndpointRule:
    return EndpointRule(rule, MappingProxyType(dict(parameters)), note, frozenset(acting))


INTEGRATION = ("integration",)
AGENCY_ADMIN = ("agency_admin",)


V1 = "/api/v1"
C = Owned.CLIENT

# Key: (HTTP method, path template exactly as in /api/v1/openapi.json, FHIR paths included).
ENDPOINT_RULES: Mapping[tuple[str, str], EndpointRule] = MappingProxyType(
    {
        # agencies
        ("GET", f"{V1}/agencies"): _r(Rule.PUBLIC, "agency codes and names are not secret"),
        ("POST", f"{V1}/agencies"): _r(Rule.ORGANISATION, "system administrators only"),
        # 42 CFR Part 2 (2024) facts: system administrators set them, Part 2 programs see them
        ("PUT", f"{V1}/agencies/{{code}}/facts"): _r(
            Rule.ORGANISATION, "system administrators only", code=Owned.AGENCY
        ),
        ("GET", f"{V1}/agencies/fact-changes"): _r(
            Rule.PUBLIC,
            "agency facts and their changes are the same for every reader: system "
            "administrators and the Part 2 programs' officers",
        ),
        # record ingest (agency systems)
        ("PUT", f"{V1}/agencies/{{code}}/records/{{source_record_id}}"): _r(
            Rule.AGENCY_CODE,
            acting=INTEGRATION,
            code=Owned.AGENCY,
            source_record_id=Owned.AGENCY_RECORD,
        ),
        ("DELETE", f"{V1}/agencies/{{code}}/records/{{source_record_id}}"): _r(
            Rule.AGENCY_CODE,
            acting=INTEGRATION,
            code=Owned.AGENCY,
            source_record_id=Owned.AGENCY_RECORD,
        ),
        ("POST", f"{V1}/agencies/{{code}}/records:bulk"): _r(
            Rule.AGENCY_CODE, acting=INTEGRATION, code=Owned.AGENCY
        ),
        # (standing trust rules: gone, 410, not in the document; docs/agreements.md)
        # an agency's webhooks to its own systems (issue 17)
        ("GET", f"{V1}/agencies/{{code}}/webhooks"): _r(
            Rule.AGENCY_CODE, acting=AGENCY_ADMIN, code=Owned.AGENCY
        ),
        ("POST", f"{V1}/agencies/{{code}}/webhooks"): _r(
            Rule.AGENCY_CODE, acting=AGENCY_ADMIN, code=Owned.AGENCY
        ),
        ("DELETE", f"{V1}/agencies/{{code}}/webhooks/{{webhook_id}}"): _r(
            Rule.AGENCY_CODE, acting=AGENCY_ADMIN, code=Owned.AGENCY, webhook_id=Owned.WEBHOOK
        ),
        ("GET", f"{V1}/agencies/{{code}}/webhooks/{{webhook_id}}/deliveries"): _r(
            Rule.AGENCY_CODE, acting=AGENCY_ADMIN, code=Owned.AGENCY, webhook_id=Owned.WEBHOOK
        ),
        # clients, the view, care team, break-the-glass
        ("GET", f"{V1}/clients"): _r(
            Rule.CALLER_AGENCY, "search finds only clients known to the caller"
        ),
        ("GET", f"{V1}/clients/{{client_id}}/record"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/record/fingerprint"): _r(Rule.CLIENT, client_id=C),
        ("POST", f"{V1}/clients/{{client_id}}/care-team"): _r(Rule.CLIENT, client_id=C),
        ("POST", f"{V1}/clients/{{client_id}}/break-glass"): _r(Rule.CLIENT, client_id=C),
        # the worker's desk (issue 18)
        ("GET", f"{V1}/me/caseload"): _r(
            Rule.CALLER_AGENCY,
            "the caller's own relationships; scope=agency: a supervisor's own agency",
        ),
        ("GET", f"{V1}/me/events"): _r(
            Rule.CALLER_AGENCY,
            "events addressed to the caller, or to the caller's agency for their roles; ids only",
        ),
        ("GET", f"{V1}/me/notifications"): _r(
            Rule.CALLER_AGENCY,
            "events addressed to the caller, or to the caller's agency for their roles; ids only",
        ),
        # tasks and notes (issue 18): a task is its agency's coordination data; a note is a
        # section of its author's agency, read only through the record view's decision
        ("POST", f"{V1}/clients/{{client_id}}/tasks"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/tasks"): _r(
            Rule.CLIENT, "only the caller's agency's tasks", client_id=C
        ),
        ("GET", f"{V1}/me/tasks"): _r(
            Rule.CALLER_AGENCY, "tasks of the caller's agency assigned to the caller"
        ),
        ("POST", f"{V1}/tasks/{{task_id}}/status"): _r(Rule.AGENCY_ITEM, task_id=Owned.TASK),
        ("POST", f"{V1}/tasks/{{task_id}}/assign"): _r(Rule.AGENCY_ITEM, task_id=Owned.TASK),
        ("POST", f"{V1}/clients/{{client_id}}/notes"): _r(Rule.CLIENT, client_id=C),
        ("POST", f"{V1}/notes/{{note_id}}/amend"): _r(Rule.AGENCY_ITEM, note_id=Owned.NOTE),
        # referrals between agencies
        ("POST", f"{V1}/clients/{{client_id}}/referrals"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/referrals/preview"): _r(
            Rule.CLIENT, "names only sources the caller may know of", client_id=C
        ),
        ("GET", f"{V1}/referrals"): _r(
            Rule.CALLER_AGENCY, "referrals sent by or addressed to the caller's agency"
        ),
        ("GET", f"{V1}/referrals/{{referral_id}}"): _r(Rule.REFERRAL, referral_id=Owned.REFERRAL),
        ("POST", f"{V1}/referrals/{{referral_id}}/status"): _r(
            Rule.REFERRAL, referral_id=Owned.REFERRAL
        ),
        ("POST", f"{V1}/referrals/{{referral_id}}/assign"): _r(
            Rule.REFERRAL, "the recipient agency's supervisors", referral_id=Owned.REFERRAL
        ),
        # consents
        ("POST", f"{V1}/clients/{{client_id}}/consents"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/consents"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/sharing"): _r(Rule.CLIENT, client_id=C),
        ("POST", f"{V1}/clients/{{client_id}}/consent-documents"): _r(Rule.CLIENT, client_id=C),
        ("POST", f"{V1}/consents/{{consent_id}}/amend"): _r(Rule.CONSENT, consent_id=Owned.CONSENT),
        ("POST", f"{V1}/consents/{{consent_id}}/revoke"): _r(
            Rule.CONSENT, consent_id=Owned.CONSENT
        ),
        ("POST", f"{V1}/consents/{{consent_id}}/attest"): _r(
            Rule.CONSENT, "only a source agency the consent names", consent_id=Owned.CONSENT
        ),
        # client access codes (issue 19): issued for clients the caller may know of; a code
        # is known only to the issuing agency's consent officers
        ("POST", f"{V1}/clients/{{client_id}}/access-codes"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/access-codes"): _r(
            Rule.CLIENT, "only the codes the caller's agency issued", client_id=C
        ),
        ("POST", f"{V1}/access-codes/{{code_id}}/revoke"): _r(
            Rule.OVERSIGHT,
            "only the issuing agency's consent officers know of a code",
            code_id=Owned.ACCESS_CODE,
        ),
        ("GET", f"{V1}/consents/attestations"): _r(
            Rule.CALLER_AGENCY, "consents naming the caller's agency as a source"
        ),
        ("GET", f"{V1}/consents/expiring"): _r(
            Rule.CALLER_AGENCY, "consents involving the caller's agency"
        ),
        # linkage (data stewards)
        ("GET", f"{V1}/linkage/review"): _r(Rule.CALLER_AGENCY, "items of the steward's agency"),
        ("GET", f"{V1}/linkage/model"): _r(Rule.PUBLIC, "aggregate weights, no record data"),
        ("GET", f"{V1}/linkage/review/ranked"): _r(
            Rule.CALLER_AGENCY, "items of the steward's agency"
        ),
        ("GET", f"{V1}/linkage/review/size"): _r(
            Rule.CALLER_AGENCY, "items of the steward's agency"
        ),
        ("POST", f"{V1}/linkage/review/decisions"): _r(
            Rule.CALLER_AGENCY, "items of the steward's agency; any other answers 404 per item"
        ),
        ("POST", f"{V1}/linkage/review/{{item_id}}/link"): _r(
            Rule.OVERSIGHT, item_id=Owned.REVIEW_ITEM
        ),
        ("POST", f"{V1}/linkage/review/{{item_id}}/keep-apart"): _r(
            Rule.OVERSIGHT, item_id=Owned.REVIEW_ITEM
        ),
        ("POST", f"{V1}/linkage/records/{{record_id}}/unlink"): _r(
            Rule.OVERSIGHT, record_id=Owned.RECORD
        ),
        ("POST", f"{V1}/linkage/events/{{event_id}}/undo"): _r(
            Rule.OVERSIGHT, event_id=Owned.LINK_EVENT
        ),
        # the access log (privacy officers, auditors)
        ("GET", f"{V1}/audit/events"): _r(
            Rule.CALLER_AGENCY, "entries within the caller's oversight"
        ),
        ("GET", f"{V1}/audit/verify"): _r(Rule.PUBLIC, "reveals no entry; every privacy officer"),
        ("GET", f"{V1}/audit/checkpoints/latest"): _r(Rule.PUBLIC, "reveals no entry"),
        ("GET", f"{V1}/audit/public-key"): _r(Rule.PUBLIC),
        ("GET", f"{V1}/audit/public-keys"): _r(Rule.PUBLIC, "every signing key, retired too"),
        ("GET", f"{V1}/audit/consistency"): _r(Rule.PUBLIC, "tree hashes only"),
        ("GET", f"{V1}/audit/events/{{seq}}/proof"): _r(
            Rule.OVERSIGHT, "entries in the caller's oversight", seq=Owned.AUDIT_ENTRY
        ),
        ("GET", f"{V1}/audit/export"): _r(Rule.ORGANISATION, "the full log"),
        ("GET", f"{V1}/audit/break-glass"): _r(
            Rule.CALLER_AGENCY, "grants within the caller's oversight"
        ),
        ("POST", f"{V1}/audit/break-glass/{{grant_id}}/review"): _r(
            Rule.OVERSIGHT, grant_id=Owned.GRANT
        ),
        ("GET", f"{V1}/audit/activity"): _r(
            Rule.CALLER_AGENCY, "activity within the caller's oversight"
        ),
        # data sharing agreements (issue 22): known to their parties (and system admins)
        ("GET", f"{V1}/agreements"): _r(
            Rule.CALLER_AGENCY, "agreements the caller's agency is party to"
        ),
        ("POST", f"{V1}/agreements"): _r(
            Rule.CALLER_AGENCY, "system administrators, or an administrator of a party"
        ),
        ("GET", f"{V1}/agreements/{{agreement_id}}"): _r(
            Rule.AGREEMENT, agreement_id=Owned.AGREEMENT
        ),
        ("POST", f"{V1}/agreements/{{agreement_id}}/accept"): _r(
            Rule.AGREEMENT, "a party's agency_admin", agreement_id=Owned.AGREEMENT
        ),
        ("POST", f"{V1}/agreements/{{agreement_id}}/amend"): _r(
            Rule.AGREEMENT, agreement_id=Owned.AGREEMENT
        ),
        ("POST", f"{V1}/agreements/{{agreement_id}}/terminate"): _r(
            Rule.AGREEMENT, agreement_id=Owned.AGREEMENT
        ),
        ("GET", f"{V1}/agreements/{{agreement_id}}/document"): _r(
            Rule.AGREEMENT, "the parties only", agreement_id=Owned.AGREEMENT
        ),
        # incident response (privacy officers; administrators reverse a containment)
        ("GET", f"{V1}/incidents"): _r(
            Rule.CALLER_AGENCY, "incidents the caller's agency opened or is named in"
        ),
        ("POST", f"{V1}/incidents"): _r(Rule.CALLER_AGENCY, "owned by the caller's agency"),
        ("GET", f"{V1}/incidents/{{incident_id}}"): _r(Rule.OVERSIGHT, incident_id=Owned.INCIDENT),
        ("POST", f"{V1}/incidents/{{incident_id}}/contain"): _r(
            Rule.OVERSIGHT, "only the caller's agency's accounts", incident_id=Owned.INCIDENT
        ),
        ("POST", f"{V1}/incidents/{{incident_id}}/containment/reverse"): _r(
            Rule.OVERSIGHT,
            "administrators of the locked accounts' agency",
            incident_id=Owned.INCIDENT,
        ),
        ("GET", f"{V1}/incidents/{{incident_id}}/scope"): _r(
            Rule.OVERSIGHT, "entries within the caller's oversight", incident_id=Owned.INCIDENT
        ),
        ("POST", f"{V1}/incidents/{{incident_id}}/notifications"): _r(
            Rule.OVERSIGHT, incident_id=Owned.INCIDENT
        ),
        ("GET", f"{V1}/incidents/{{incident_id}}/notifications"): _r(
            Rule.OVERSIGHT, incident_id=Owned.INCIDENT
        ),
        ("GET", f"{V1}/incidents/{{incident_id}}/notifications.csv"): _r(
            Rule.OVERSIGHT, incident_id=Owned.INCIDENT
        ),
        ("POST", f"{V1}/incidents/{{incident_id}}/close"): _r(
            Rule.OVERSIGHT, incident_id=Owned.INCIDENT
        ),
        ("GET", f"{V1}/incidents/{{incident_id}}/timeline"): _r(
            Rule.OVERSIGHT, incident_id=Owned.INCIDENT
        ),
        ("GET", f"{V1}/clients/{{client_id}}/disclosures"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/disclosures.csv"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/access-statement"): _r(Rule.CLIENT, client_id=C),
        # 42 CFR 2.24: the intermediary's list of disclosures (consent officers)
        ("POST", f"{V1}/clients/{{client_id}}/part2-list-requests"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/part2-list-requests"): _r(
            Rule.CALLER_AGENCY, "the written requests the caller's agency recorded"
        ),
        ("GET", f"{V1}/clients/{{client_id}}/part2-list"): _r(Rule.CLIENT, client_id=C),
        ("GET", f"{V1}/clients/{{client_id}}/part2-list.csv"): _r(Rule.CLIENT, client_id=C),
        # users and tokens
        ("GET", f"{V1}/users"): _r(Rule.CALLER_AGENCY, "users the caller may manage"),
        ("POST", f"{V1}/users"): _r(
            Rule.CALLER_AGENCY, "the body's agency must be one the caller manages"
        ),
        ("GET", f"{V1}/users/{{username}}"): _r(Rule.USER, username=Owned.USER),
        ("PUT", f"{V1}/users/{{username}}/roles"): _r(Rule.USER, username=Owned.USER),
        ("POST", f"{V1}/users/{{username}}/approve"): _r(
            Rule.USER, "the second person of a reading-role grant", username=Owned.USER
        ),
        ("POST", f"{V1}/users/{{username}}/deactivate"): _r(Rule.USER, username=Owned.USER),
        ("POST", f"{V1}/users/{{username}}/reactivate"): _r(Rule.USER, username=Owned.USER),
        ("POST", f"{V1}/users/{{username}}/reset-second-factor"): _r(
            Rule.USER, username=Owned.USER
        ),
        ("POST", f"{V1}/users/{{username}}/unlock"): _r(Rule.USER, username=Owned.USER),
        ("GET", f"{V1}/users/{{username}}/tokens"): _r(Rule.USER, username=Owned.USER),
        ("POST", f"{V1}/users/{{username}}/tokens"): _r(Rule.USER, username=Owned.USER),
        ("DELETE", f"{V1}/users/{{username}}/tokens/{{token_id}}"): _r(
            Rule.USER, username=Owned.USER, token_id=Owned.TOKEN
        ),
        # FHIR R4 (consent officers)
        ("GET", "/fhir/"): _r(Rule.PUBLIC, "the capability statement"),
        ("GET", "/fhir/metadata"): _r(Rule.PUBLIC, "the capability statement"),
        ("POST", "/fhir/Consent"): _r(
            Rule.CALLER_AGENCY, "the patient named in the body answers as client_id does"
        ),
        ("GET", "/fhir/Consent/{consent_id}"): _r(Rule.CONSENT, consent_id=Owned.CONSENT),
        # FHIR R4 referrals (either side of the referral, their systems included)
        ("GET", "/fhir/Task/{referral_id}"): _r(Rule.REFERRAL, referral_id=Owned.REFERRAL),
        ("GET", "/fhir/ServiceRequest/{referral_id}"): _r(
            Rule.REFERRAL, referral_id=Owned.REFERRAL
        ),
        # role policy
        ("GET", f"{V1}/policies"): _r(Rule.ORGANISATION, "system administrators only"),
        ("POST", f"{V1}/policies"): _r(Rule.ORGANISATION, "system administrators only"),
        ("DELETE", f"{V1}/policies"): _r(Rule.ORGANISATION, "system administrators only"),
        # policy simulation (issue 19): the client and user travel in the body, checked
        # within the caller's oversight scope (hidden = unknown = 404)
        ("POST", f"{V1}/simulate/view"): _r(
            Rule.CALLER_AGENCY,
            "privacy officers, for users and clients within their oversight scope",
        ),
        ("POST", f"{V1}/policies/impact"): _r(
            Rule.CALLER_AGENCY,
            "privacy officers replay views within their scope; system administrators get "
            "counts only",
        ),
    }
)


def rule_for(method: str, path: str) -> EndpointRule | None:
    """The declaration of one operation, or None when it has not declared one (a test fails)."""
    return ENDPOINT_RULES.get((method.upper(), path))
