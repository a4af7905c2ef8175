"""What would this user see, and what would this policy change do (issue 19, items 5, 6, 8).

Both answer from the live view's decision code: ``access.service.gather_facts`` (the same
three queries the view runs) and ``access.rules.decide_view``. Neither writes anything but
its own access-log entry, and neither decrypts or returns a record's contents.

Who: privacy officers (the policy's ``audit``/``review``), within their oversight scope
(``audit.scope``): an agency-scoped officer simulates only their own agency's users, and
sees of another agency's 42 CFR Part 2 records only what their worker was shown. A system
administrator (``admin:policy``/``manage``) may ask for the impact of a draft, and gets the
counts only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from caseops.access.rules import SectionDecision, decide_view
from caseops.access.service import gather_facts
from caseops.agreements import service as agreements
from caseops.audit.models import AccessEvent
from caseops.audit.scope import AuditScope, scope_of
from caseops.audit.service import record as audit
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.authz.permissions import knows_client, load_client
from caseops.db_types import utcnow
from caseops.errors import NotFound
from caseops.extensions import db
from caseops.simulation import engine
from caseops.users.models import User
from caseops.vocabulary import CATEGORIES

# The views an impact run replays, newest first; the answer says when it stopped short.
MAX_REPLAY = 500
MAX_EXAMPLES = 20
DEFAULT_WINDOW = timedelta(days=30)


def _is_officer(actor: Actor) -> bool:
    return permissions.may(actor, "audit", "review")


def _require_officer(actor: Actor, action: str) -> None:
    if not _is_officer(actor):
        refuse(actor, action, "Only a privacy officer may run simulations.")


def _subject(officer: Actor, username: str, scope: AuditScope) -> tuple[User, Actor]:
    """The simulated user, if the officer oversees them; another agency's user answers as
    an unknown name does (an agency-scoped officer must not learn who works elsewhere)."""
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or not (scope.organisation or user.agency.code == scope.agency):
        raise NotFound(f"No user {username!r}.")
    roles = policy.roles_of(user.username, user.agency.code)
    return user, Actor(
        username=user.username, user_id=user.id, agency=user.agency.code, roles=roles
    )


def _reads_records(permits) -> bool:
    return any(
        permits(f"record:{c}", "read") or permits(f"record:{c}", "break_glass") for c in CATEGORIES
    )


def _officer_may_know(scope: AuditScope, subject_agency: str | None, d: SectionDecision) -> bool:
    """Whether the officer may be told of this section of their worker's view: never a
    section hidden from the worker; and, for an agency-scoped officer, another agency's
    Part 2 section only when it was shown to their worker (as ``AuditScope._keeps`` does
    for the worker's log entries)."""
    if d.hidden:
        return False
    if scope.organisation or d.section.agency == scope.agency:
        return True
    if subject_agency != scope.agency:
        return False
    return not d.section.part2 or d.shown


def _section(d: SectionDecision, rule: dict[str, str] | None) -> dict[str, Any]:
    return {
        "agency": d.section.agency,
        "category": d.section.category,
        "would_show": d.shown,
        "reason": d.reason,
        "basis": d.basis,
        "policy_rule": rule,
        "consent_id": d.consent_id,
        "relationship": d.relationship,
        "referral_id": d.referral_id,
        # the data sharing agreement behind a cross-agency section: id, "waived" or None
        "agreement": d.agreement,
    }


def simulate_view(
    officer: Actor, username: str, client_id: str, purpose: str, at: datetime | None
) -> dict[str, Any]:
    """What ``username``'s view of the client for ``purpose`` would show at ``at`` (now by
    default). ``outcome``: ``view`` (sections follow), ``not_found`` (the user's view would
    answer 404: the client is hidden from them), ``refused`` (their roles read no records:
    403), ``inactive`` (the account cannot sign in)."""
    _require_officer(officer, "simulation.view")
    scope = scope_of(officer)
    user, subject = _subject(officer, username, scope)
    load_client(officer, client_id)
    now = utcnow()
    instant = at or now
    sections: list[dict[str, Any]] = []
    if not user.active:
        outcome = "inactive"
    elif not knows_client(subject, client_id, at=instant):
        outcome = "not_found"
    else:
        permits = policy.permissions(subject)
        if not _reads_records(permits):
            outcome = "refused"
        else:
            outcome = "view"
            facts, _, _ = gather_facts(subject, client_id, instant)
            live = policy.enforcer()
            sections = [
                _section(d, engine.explain(live, subject.roles, subject.agency, d))
                for d in decide_view(facts, subject.agency or "", permits, purpose, instant)
                if _officer_may_know(scope, subject.agency, d)
            ]
    audit(
        "simulation.view",
        actor=officer,
        target_type="user",
        target_id=user.username,
        client_id=client_id,
        purpose=purpose,
        detail={
            "simulated_user": user.username,
            "simulated_agency": subject.agency,
            "at": instant.isoformat(),
            "outcome": outcome,
            "would_show": [f"{s['agency']}/{s['category']}" for s in sections if s["would_show"]],
            "withheld": {
                f"{s['agency']}/{s['category']}": s["reason"]
                for s in sections
                if not s["would_show"]
            },
            "policy_version": policy.current_version(),
        },
    )
    return {
        "username": user.username,
        "agency": subject.agency,
        "client_id": client_id,
        "purpose": purpose,
        "at": instant,
        "decided_at": now,
        "outcome": outcome,
        "policy_version": policy.current_version(),
        "sections": sections,
    }


# --- impact of a draft ------------------------------------------------------------------


def _logged_views(scope: AuditScope, since: datetime) -> tuple[list[AccessEvent], bool]:
    """The newest ``client.view`` entry since ``since`` of each (user, agency, client,
    purpose) within the scope, newest first, at most ``MAX_REPLAY``; and whether the window
    held more. Deduplicated and bounded in SQL, so a long window costs one grouped scan."""
    latest = (
        select(func.max(AccessEvent.seq).label("seq"))
        .where(
            AccessEvent.action == "client.view",
            AccessEvent.occurred_at >= since,
            AccessEvent.client_id.is_not(None),
            AccessEvent.purpose.is_not(None),
            scope.events_condition(),
        )
        .group_by(
            AccessEvent.actor, AccessEvent.actor_agency, AccessEvent.client_id, AccessEvent.purpose
        )
        .subquery()
    )
    seqs = list(
        db.session.scalars(select(latest.c.seq).order_by(latest.c.seq.desc()).limit(MAX_REPLAY + 1))
    )
    events = db.session.scalars(
        select(AccessEvent)
        .where(AccessEvent.seq.in_(seqs[:MAX_REPLAY]))
        .order_by(AccessEvent.seq.desc())
    )
    views = [e for e in events if scope.admits(e.action, e.actor_agency, e.detail)]
    return views, len(seqs) > MAX_REPLAY


def _cells(counter: Counter) -> list[dict[str, Any]]:
    return [
        {"agency": agency, "category": category, "count": count}
        for (agency, category), count in sorted(counter.items())
    ]


def policy_impact(
    actor: Actor,
    add: list[dict[str, str]],
    remove: list[dict[str, str]],
    since: datetime | None,
    *,
    counts_only: bool = False,
) -> dict[str, Any]:
    """Replay the logged views since ``since`` (30 days by default) under today's policy
    and under the draft; count the sections newly shown and newly withheld by source
    agency x category. Today's policy is the live enforcer; the draft an in-memory copy.

    ``counts_only``: answer as to a system administrator (the whole organisation's views,
    counts, no examples) whatever the actor's other roles: the policy-change guard
    (``caseops.authz.service``) must weigh every view a change would affect."""
    officer = _is_officer(actor) and not counts_only
    if not officer and not permissions.may(actor, "admin:policy", "manage"):
        refuse(
            actor,
            "policy.impact",
            "Only a privacy officer or a system administrator may assess a policy change.",
        )
    scope = scope_of(actor) if officer else AuditScope(None)
    now = utcnow()
    since = since or now - DEFAULT_WINDOW
    live = policy.enforcer()
    draft = engine.copy_of(live)
    ignored = engine.apply_draft(draft, add, remove)
    views, truncated = _logged_views(scope, since)
    shown: Counter = Counter()
    withheld: Counter = Counter()
    examples: list[dict[str, Any]] = []
    replayed = skipped = 0
    for event in views:
        user = db.session.scalar(select(User).where(User.username == event.actor))
        if user is None or not user.active or user.agency.code != event.actor_agency:
            skipped += 1  # gone, deactivated or moved: no view of theirs to replay
            continue
        roles = policy.roles_of(user.username, user.agency.code)
        subject = Actor(
            username=user.username, user_id=user.id, agency=user.agency.code, roles=roles
        )
        if not knows_client(subject, event.client_id, at=now):
            skipped += 1
            continue
        replayed += 1
        facts, _, _ = gather_facts(subject, event.client_id, now)
        before = decide_view(
            facts, subject.agency or "", policy.permissions(subject), event.purpose, now
        )
        # the draft's waivers of agreements too: a waiver added or removed is a change
        draft_facts = replace(
            facts,
            agreements=agreements.under_policy(
                facts.agreements, draft, subject.agency, {s.agency for s in facts.sections}
            ),
        )
        after = decide_view(
            draft_facts,
            subject.agency or "",
            engine.permits(draft, roles, subject.agency),
            event.purpose,
            now,
        )
        for old, new in zip(before, after, strict=True):
            if old.shown == new.shown:
                continue
            # the section as the officer may know of it under either policy (a Part 2
            # section of another agency: only where shown to their worker)
            if not (
                _officer_may_know(scope, subject.agency, old)
                or _officer_may_know(scope, subject.agency, new)
            ):
                continue
            cell = (old.section.agency, old.section.category)
            (shown if new.shown else withheld)[cell] += 1
            if officer and len(examples) < MAX_EXAMPLES:
                examples.append(
                    {
                        "username": subject.username,
                        "user_agency": subject.agency,
                        "client_id": event.client_id,
                        "purpose": event.purpose,
                        "agency": old.section.agency,
                        "category": old.section.category,
                        "change": "newly_shown" if new.shown else "newly_withheld",
                        "reason_before": old.reason,
                        "reason_after": new.reason,
                        "rule_after": engine.explain(draft, roles, subject.agency, new),
                        "logged_seq": event.seq,
                    }
                )
    answer: dict[str, Any] = {
        "since": since,
        "decided_at": now,
        "scope": scope.as_dict(),
        "limit": MAX_REPLAY,
        "truncated": truncated,
        "views_found": len(views),
        "views_replayed": replayed,
        "views_skipped": skipped,
        "ignored": ignored,
        "newly_shown": _cells(shown),
        "newly_withheld": _cells(withheld),
        "counts_only": not officer,
    }
    if officer:
        answer["examples"] = examples
    audit(
        "policy.impact",
        actor=actor,
        target_type="policy",
        target_id=str(policy.current_version()),
        detail={
            "add": add,
            "remove": remove,
            "since": since.isoformat(),
            "views_replayed": replayed,
            "truncated": truncated,
            "newly_shown": sum(shown.values()),
            "newly_withheld": sum(withheld.values()),
            "counts_only": not officer,
        },
    )
    return answer
