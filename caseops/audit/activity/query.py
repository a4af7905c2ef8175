"""What the activity report reads: the period, the `client.view` entries and the open grants
in the officer's scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from caseops.access.models import BreakGlassGrant
from caseops.audit import break_glass
from caseops.audit.models import AccessEvent, BreakGlassReview
from caseops.audit.scope import AuditScope
from caseops.db_types import utcnow
from caseops.errors import ValidationFailed
from caseops.extensions import db

DEFAULT_DAYS = 14
MAX_DAYS = 366


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """`[since, until)`, defaulting to the last `DEFAULT_DAYS` days; at most `MAX_DAYS`."""
    until = until or utcnow()
    since = since or until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValidationFailed("Empty period.", details={"since": ["Must be before until."]})
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            "Period too long.", details={"since": [f"At most {MAX_DAYS} days before until."]}
        )
    return since, until


def view_rows(scope: AuditScope, since: datetime, until: datetime) -> Sequence[Any]:
    """The `client.view` entries of the period the scope admits, in log order."""
    rows = db.session.execute(
        select(
            AccessEvent.seq,
            AccessEvent.occurred_at,
            AccessEvent.actor,
            AccessEvent.actor_agency,
            AccessEvent.client_id,
            AccessEvent.detail,
        )
        .where(
            AccessEvent.action == "client.view",
            AccessEvent.occurred_at >= since,
            AccessEvent.occurred_at < until,
            scope.events_condition(),
        )
        .order_by(AccessEvent.seq)
    ).all()
    return [r for r in rows if scope.admits("client.view", r.actor_agency, r.detail)]


def unreviewed_grants(scope: AuditScope) -> list[BreakGlassGrant]:
    """Break-the-glass grants in the scope that no privacy officer has reviewed, by id."""
    reviewed = select(BreakGlassReview.grant_id)
    return break_glass.in_scope(
        scope,
        list(
            db.session.scalars(
                select(BreakGlassGrant)
                .where(BreakGlassGrant.id.not_in(reviewed), scope.grants_condition())
                .order_by(BreakGlassGrant.id)
            )
        ),
    )


def withheld_reasons(scope: AuditScope, row: Any) -> dict[str, str]:
    """The withheld sections' reasons the officer may read (a hidden Part 2 section must
    not raise a flag its listing would not show)."""
    return scope.redact_detail(row.detail, row.actor_agency, set()).get("reasons") or {}
