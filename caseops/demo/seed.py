"""Demo agencies and an account for every persona. Idempotent: existing rows are kept.

Demo accounts come with their second factor already enrolled so a visitor can sign in
at once; their TOTP secrets are printed (demo mode only) and
``caseops demo totp USERNAME`` prints a current code.

Oversight roles see their own agency only unless a policy rule widens them (issue 14);
the demo gives the operations agency's privacy officer and data steward
organisation-wide scope, through the policy service (logged, version bumped), so the
demo still shows everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp
from flask import current_app
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.agencies.service import create_agency
from caseops.auth import totp
from caseops.authz import service as policy_rules
from caseops.authz.actor import Actor
from caseops.authz.models import CasbinRule
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.users import service as users
from caseops.users.models import User

DEMO_PASSWORD = "demo-Passw0rd-2026"  # noqa: S105 - printed to demo users on purpose

AGENCIES = [
    {"code": "ops", "name": "caseops operations", "kind": "operations"},
    {"code": "hha", "name": "Harbor Housing Authority", "kind": "housing"},
    {"code": "cchc", "name": "Community Health Center", "kind": "health"},
    {
        "code": "rrp",
        "name": "Riverside Recovery Program",
        "kind": "substance_use",
        "part2_program": True,
    },
    {
        "code": "usd",
        "name": "Unified School District",
        "kind": "education",
        "ferpa_institution": True,
    },
    {"code": "cws", "name": "County Child Welfare Services", "kind": "child_welfare"},
    # A second treating provider, for the 42 CFR Part 2 (2024) demo (caseops/demo/part2.py).
    {"code": "bmc", "name": "Bayview Medical Clinic", "kind": "health"},
]

# (username, agency, roles, enrolled): "newbie" shows the first-login enrolment.
ACCOUNTS = [
    ("admin", "ops", ["system_admin"], True),
    ("privacy", "ops", ["privacy_officer"], True),
    ("steward", "ops", ["data_steward"], True),
    ("hha.admin", "hha", ["agency_admin"], True),
    ("hha.worker", "hha", ["case_worker"], True),
    ("hha.supervisor", "hha", ["supervisor"], True),
    ("cchc.worker", "cchc", ["case_worker"], True),
    ("cchc.supervisor", "cchc", ["supervisor"], True),
    ("cchc.consent", "cchc", ["consent_officer"], True),
    ("hha.consent", "hha", ["consent_officer"], True),
    ("rrp.worker", "rrp", ["case_worker"], True),
    ("rrp.consent", "rrp", ["consent_officer"], True),
    ("usd.worker", "usd", ["case_worker"], True),
    ("cws.worker", "cws", ["case_worker"], True),
    ("bmc.worker", "bmc", ["case_worker"], True),
    ("newbie", "hha", ["case_worker"], False),
    ("hha.system", "hha", ["integration"], False),
    ("cchc.system", "cchc", ["integration"], False),
    ("rrp.system", "rrp", ["integration"], False),
    ("usd.system", "usd", ["integration"], False),
    ("cws.system", "cws", ["integration"], False),
    ("bmc.system", "bmc", ["integration"], False),
]


# The operator's compliance function: organisation-wide oversight for ops's officers.
ORGANISATION_SCOPE_RULES = [
    {
        "sub": "privacy_officer",
        "dom": "ops",
        "obj": "scope:organisation",
        "act": "audit",
        "eft": "allow",
    },
    {
        "sub": "data_steward",
        "dom": "ops",
        "obj": "scope:organisation",
        "act": "linkage",
        "eft": "allow",
    },
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    agency: str
    roles: list[str]
    totp_secret: str | None


def seed() -> list[DemoAccount]:
    operator = Actor.operator()
    for agency in AGENCIES:
        if db.session.scalar(select(Agency.id).where(Agency.code == agency["code"])) is None:
            create_agency(operator, dict(agency))
    accounts = []
    for username, agency, roles, enrolled in ACCOUNTS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            password = None if roles == ["integration"] else DEMO_PASSWORD
            user = users.create_user(
                operator,
                {
                    "username": username,
                    "agency": agency,
                    "roles": roles,
                    "password": password,
                    "display_name": username.replace(".", " ").title(),
                },
            ).user
            if enrolled:
                _enrol(user)
        accounts.append(DemoAccount(username, agency, roles, _secret(user)))
    _grant_organisation_scopes(operator)
    from caseops.demo.agreements import seed_agreements  # issue 22: agreements and a waiver

    seed_agreements()
    return accounts


def _grant_organisation_scopes(operator: Actor) -> None:
    """Add each rule once (a second seed adds nothing, logs nothing, bumps nothing)."""
    for rule in ORGANISATION_SCOPE_RULES:
        values = [rule[name] for name in policy_rules.FIELDS]
        stored = db.session.scalar(
            select(CasbinRule.id).where(
                CasbinRule.ptype == "p",
                *(getattr(CasbinRule, f"v{i}") == value for i, value in enumerate(values)),
            )
        )
        if stored is None:
            policy_rules.add_rule(operator, dict(rule))


def _enrol(user: User) -> None:
    keyring = keyring_from_config(current_app.config)
    user.totp_secret_encrypted = keyring.encrypt(totp.new_secret().encode(), f"totp:{user.id}")
    user.totp_confirmed_at = utcnow()
    db.session.commit()


def _secret(user: User) -> str | None:
    if user.totp_secret_encrypted is None or user.totp_confirmed_at is None:
        return None
    keyring = keyring_from_config(current_app.config)
    return keyring.decrypt(user.totp_secret_encrypted, f"totp:{user.id}").decode()


def current_code(username: str) -> str:
    user = users.get_user(username)
    secret = _secret(user)
    if secret is None:
        return f"{username} has no second factor yet: sign in to enrol one."
    return pyotp.TOTP(secret).now()


def describe(accounts: list[DemoAccount]) -> str:
    lines = [
        "Demo accounts (password for every person: " + DEMO_PASSWORD + ")",
        f"  {'username':<16} {'agency':<6} {'roles':<18} TOTP secret",
    ]
    for account in accounts:
        if account.roles == ["integration"]:
            secret = "(agency system: `caseops token create " + account.username + "`)"
        else:
            secret = account.totp_secret or "(enrols at first sign-in)"
        lines.append(
            f"  {account.username:<16} {account.agency:<6} {','.join(account.roles):<18} {secret}"
        )
    lines.append("Current code for an account: .venv/bin/caseops demo totp USERNAME")
    return "\n".join(lines)
