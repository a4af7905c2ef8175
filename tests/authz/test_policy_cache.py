"""The policy a request decides by, and what is remembered of it.

Each process keeps the loaded policy and its answers (per role question, per user's
roles) until the version moves. A request that began before a change keeps deciding by
the policy it began with (one request, one policy); what it asks then must never be
remembered as an answer of the newer policy, which every later request would read until
the next change: a removed role or rule would go on granting."""

from __future__ import annotations

from flask import g

from caseops.authz import policy
from caseops.authz.models import CasbinRule
from caseops.extensions import db

QUESTION = ("probe_role", "hha", "reports", "read")


def _as(loaded) -> None:
    g.casbin_enforcer = loaded


def test_a_request_on_the_older_policy_leaves_the_newer_ones_answers_alone(app, world):
    with app.test_request_context():
        policy.enforcer()  # the older request has loaded its policy
        older = g.casbin_enforcer
        older_version = policy.current_version()

        # another request changes the policy: a rule granted, a role taken away
        db.session.add(
            CasbinRule(ptype="p", v0="probe_role", v1="*", v2="reports", v3="read", v4="allow")
        )
        policy.set_roles(db.session, "hha.case_worker", "hha", ["supervisor"])
        policy.bump_version(db.session)
        db.session.commit()
        g.pop("casbin_enforcer")
        policy.enforcer()  # ... and a newer request loads it
        newer = g.casbin_enforcer
        assert policy.current_version() > older_version

        # the older request, still running, asks first: it decides by its own policy
        _as(older)
        assert policy.role_verdict(*QUESTION) == (False, False)
        assert policy.roles_of("hha.case_worker", "hha") == {"case_worker"}
        assert policy.current_version() == older_version

        # the newer request (and every later one) decides by the newer policy
        _as(newer)
        assert policy.role_verdict(*QUESTION) == (True, False)
        assert policy.roles_of("hha.case_worker", "hha") == {"supervisor"}
