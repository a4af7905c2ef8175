"""Test data built through the real services (so tests exercise what users exercise)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyotp
from flask import current_app
from sqlalchemy import select, update

from caseops.agencies.service import create_agency
from caseops.auth.totp import new_secret
from caseops.authz.actor import Actor
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.users import service as users
from caseops.users.models import User

PASSWORD = "correct-horse-battery-staple"
OPERATOR = Actor.operator()


@dataclass
class Person:
    username: str
    agency: str
    roles: list[str]
    password: str | None
    totp_secret: str | None

    def code(self, steps_ahead: int = 0) -> str:
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(utcnow().timestamp() + 30 * steps_ahead)


@dataclass
class World:
    people: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, username: str) -> Person:
        return self.people[username]


def make_agency(code: str, *, waived: bool = True, **fields) -> None:
    """An agency, by default waived from data sharing agreements with every agency made so
    far: test worlds model an *upgraded* installation, where migration 0020 wrote a waiver
    for every pair that shared before agreements existed (docs/agreements.md). Tests of
    agreements themselves pass ``waived=False`` (a new installation requires agreements)."""
    data = {"code": code, "name": fields.pop("name", code.upper()), "kind": "other"}
    create_agency(OPERATOR, data | fields)
    if waived:
        waive_all_pairs()


def waive_all_pairs() -> None:
    """What migration 0020 writes on upgrade: a waiver (a Casbin rule) for every pair of
    agencies that has none yet, and a policy version bump so every worker reloads."""
    from caseops.agreements import waivers

    waivers.waive_all_pairs()


def make_user(username: str, agency: str, roles: list[str], *, enrolled: bool = True) -> Person:
    integration = roles == ["integration"]
    password = None if integration else PASSWORD
    created = users.create_user(
        OPERATOR, {"username": username, "agency": agency, "roles": roles, "password": password}
    )
    secret = None
    if enrolled and not integration:
        secret = new_secret()
        user = created.user
        keyring = keyring_from_config(current_app.config)
        user.totp_secret_encrypted = keyring.encrypt(secret.encode(), f"totp:{user.id}")
        user.totp_confirmed_at = utcnow()
        db.session.commit()
    return Person(username, agency, roles, password, secret)


def forget_last_totp_step(username: str) -> None:
    """Let a test log the same person in twice within one 30-second step."""
    db.session.execute(update(User).where(User.username == username).values(totp_last_step=None))
    db.session.commit()


def token_for(username: str, scopes: list[str] | None = None, days: int | None = None) -> str:
    issued = users.create_token(
        OPERATOR, username, {"scopes": scopes, "expires_in_days": days, "name": "test"}
    )
    return issued.plaintext


AGENCIES = {
    "ops": {},
    "hha": {"name": "Harbor Housing Authority", "kind": "housing"},
    "cchc": {"name": "Community Health Center", "kind": "health"},
    "rrp": {"name": "Riverside Recovery", "kind": "substance_use", "part2_program": True},
}
PERSONAS = [
    "system_admin",
    "agency_admin",
    "case_worker",
    "supervisor",
    "consent_officer",
    "privacy_officer",
    "data_steward",
    "integration",
]


def standard_world() -> World:
    """Agencies hha and cchc each with one account per role (``hha.case_worker`` ...)."""
    for code, fields in AGENCIES.items():
        make_agency(code, **fields)
    world = World()
    for agency in ("hha", "cchc"):
        for role in PERSONAS:
            person = make_user(f"{agency}.{role}", agency, [role])
            world.people[person.username] = person
    return world


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    if match is None:
        match = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match is not None, "page has no CSRF token"
    return match.group(1)


def login(client, person: Person, *, code: str | None = None):
    """The full browser login: password form, then the TOTP form. Returns the last response."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    return client.post(
        "/login/second-factor",
        data={
            "code": code or person.code(),
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )


def events(action: str | None = None) -> list:
    from caseops.audit.models import AccessEvent

    query = select(AccessEvent).order_by(AccessEvent.seq)
    if action:
        query = query.where(AccessEvent.action == action)
    db.session.expire_all()
    return list(db.session.scalars(query))


def issue_token_id(username: str) -> int:
    """A token's id (for revocation tests), issued by the operator."""
    return users.create_token(OPERATOR, username, {"name": "spare"}).token.id


def grant_organisation_scope(role: str, agency: str, area: str) -> None:
    """Widen ``role`` in ``agency`` to organisation-wide oversight of ``area`` (``audit``,
    ``linkage``, ``consents``), through the policy service as an operator would."""
    from caseops.authz import service as policy_rules

    policy_rules.add_rule(
        OPERATOR,
        {"sub": role, "dom": agency, "obj": "scope:organisation", "act": area, "eft": "allow"},
    )
