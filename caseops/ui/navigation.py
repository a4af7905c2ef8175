"""The navigation each persona sees. Entries appear only for roles that can use them."""

from __future__ import annotations

from dataclasses import dataclass

from caseops.authz.actor import Actor


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: frozenset[str]


NAVIGATION = (
    NavItem("Home", "ui.home", frozenset()),
    NavItem("Agencies", "admin.agencies_page", frozenset({"system_admin"})),
    NavItem("Users", "admin.users_page", frozenset({"system_admin", "agency_admin"})),
    NavItem(
        "Clients",
        "client_pages.search_page",
        frozenset({"case_worker", "supervisor", "consent_officer"}),
    ),
    NavItem(
        "Incoming referrals",
        "referral_pages.incoming_page",
        frozenset({"case_worker", "supervisor"}),
    ),
    NavItem(
        "Outgoing referrals",
        "referral_pages.outgoing_page",
        frozenset({"case_worker", "supervisor"}),
    ),
    NavItem("My tasks", "task_pages.my_tasks_page", frozenset({"case_worker", "supervisor"})),
    NavItem("Consents expiring", "consent_pages.expiring_page", frozenset({"consent_officer"})),
    NavItem(
        "Consents to attest", "consent_pages.attestations_page", frozenset({"consent_officer"})
    ),
    NavItem("Review queue", "linkage_pages.review_page", frozenset({"data_steward"})),
    NavItem("Audit", "audit_pages.index", frozenset({"privacy_officer"})),
    NavItem("Incidents", "incident_pages.index", frozenset({"privacy_officer"})),
    NavItem(
        "Agreements",
        "agreement_pages.index",
        frozenset({"system_admin", "agency_admin", "privacy_officer"}),
    ),
    NavItem("Policy", "policy_pages.index", frozenset({"system_admin", "privacy_officer"})),
)


def navigation_for(actor: Actor | None) -> list[NavItem]:
    if actor is None:
        return []
    return [item for item in NAVIGATION if not item.roles or item.roles & actor.roles]
