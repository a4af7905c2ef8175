"""The waiver index (``caseops.agreements.service._waives``) reads the policy's waiver lines
once per version instead of asking Casbin per agency pair (the 30-agency sharing matrix asked
~930 times). It must say exactly what Casbin says for every pair, whatever lines are stored:
allow and deny lines, ``*`` objects, actions and domains."""

from __future__ import annotations

import casbin
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from caseops.agreements import service
from caseops.authz import policy
from caseops.authz.models import CasbinRule
from caseops.extensions import db

AGENCIES = ("aaa", "bbb", "ccc")
LINES = st.lists(
    st.tuples(
        st.sampled_from(AGENCIES),
        st.sampled_from(("*", "aaa", "bbb")),
        st.sampled_from((*AGENCIES, "*")),
        st.sampled_from(("waive", "*", "read")),
        st.sampled_from(("allow", "deny")),
    ),
    max_size=6,
)


def _casbin_verdict(a: str, b: str) -> bool:
    ok, _ = policy.role_verdict(f"agency:{a}", a, f"agreement_waiver:{b}", "waive")
    return ok


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=LINES)
@example(lines=[("aaa", "*", "bbb", "waive", "allow"), ("aaa", "*", "*", "*", "deny")])
@example(lines=[("bbb", "bbb", "*", "waive", "allow"), ("aaa", "aaa", "ccc", "read", "allow")])
def test_the_index_answers_as_casbin_for_every_pair(app, lines):
    with app.test_request_context():
        db.session.query(CasbinRule).filter(CasbinRule.v0.like("agency:%")).delete(
            synchronize_session=False
        )
        for sub, dom, obj, act, effect in lines:
            db.session.add(
                CasbinRule(
                    ptype="p",
                    v0=f"agency:{sub}",
                    v1=dom,
                    v2=f"agreement_waiver:{obj}",
                    v3=act,
                    v4=effect,
                )
            )
        policy.bump_version(db.session)
        db.session.commit()
        assert isinstance(policy.enforcer(), casbin.Enforcer)
        for a in AGENCIES:
            for b in AGENCIES:
                assert service._waives(a, b) == _casbin_verdict(a, b), (a, b, lines)
