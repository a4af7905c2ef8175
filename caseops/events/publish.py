"""``publish``: write an event for the people it concerns, in the caller's transaction.

Callers (referrals, consent revocation, tasks, the record-change notifier) do::

    from caseops.events.publish import publish

    publish("task.assigned", users=[task.assignee_id], data={"task_id": task.id,
            "client_id": task.client_id}, session=db.session)
    db.session.commit()  # the caller's own commit: the change and its event together

and never commit on its behalf. Streams and lists read committed rows only, so an event
exists if and only if the change it announces committed; a rollback takes it away unseen.
On PostgreSQL a trigger of the table (migration 0024) sends ``NOTIFY caseops_events`` with
the new id, which PostgreSQL delivers at commit, and only then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseops.db_types import utcnow
from caseops.events.models import Notification, RecordChange
from caseops.events.rules import AGENCY_AUDIENCE, EVENT_KINDS, check_data
from caseops.users.models import User


def _user_ids(users: Iterable[int | str], session: Session) -> list[int]:
    """User ids, usernames resolved (an unknown username is dropped: nobody to tell)."""
    ids: set[int] = set()
    names: set[str] = set()
    for user in users:
        if isinstance(user, bool):
            raise ValueError("users are user ids or usernames")
        if isinstance(user, int):
            ids.add(user)
        elif isinstance(user, str) and user:
            names.add(user)
        elif user is not None:
            raise ValueError("users are user ids or usernames")
    if names:
        ids.update(session.scalars(select(User.id).where(User.username.in_(sorted(names)))))
    return sorted(ids)


def publish(
    kind: str,
    *,
    users: Iterable[int | str] = (),
    agencies: Iterable[str] = (),
    data: Mapping[str, object],
    session: Session,
) -> list[int]:
    """Announce ``kind`` to ``users`` (ids or usernames) and ``agencies`` (codes), without
    committing.

    One ``notifications`` row per distinct user and per distinct agency, flushed into
    ``session``'s transaction. An agency's row reaches its users holding the roles of
    ``caseops.events.rules.AGENCY_AUDIENCE`` for ``kind``; a kind with no agency audience
    (``task.assigned``, ``client.updated``) refuses agencies (ValueError), and a wildcard
    agency is never expanded. ``data`` holds ids and kinds only (``check_data``), so no
    event ever carries client data. Returns the new notification ids.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    if isinstance(users, str | int) or isinstance(agencies, str):
        raise ValueError("users and agencies must be iterables, not one value")
    codes = sorted({code for code in agencies if code and code != "*"})
    if codes and kind not in AGENCY_AUDIENCE:
        raise ValueError(f"{kind!r} is addressed to users only")
    checked = check_data(data)
    now = utcnow()
    rows = [
        Notification(kind=kind, user_id=user_id, data=checked, created_at=now)
        for user_id in _user_ids(users, session)
    ] + [Notification(kind=kind, agency_code=code, data=checked, created_at=now) for code in codes]
    if not rows:
        return []
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def record_changed(sections: Iterable[tuple[str, str, str]], *, session: Session) -> None:
    """Queue ``client.updated`` decisions for records written or withdrawn, in the
    writer's transaction: ``sections`` are ``(client_id, agency code, category)``, one
    queued row per distinct one (a bulk chunk's rows go in one statement).

    The notifier (``caseops.events.notifier``) decides later, per worker with a
    relationship to the client, whether that section is shown to them, so ingest does
    not wait for those decisions.
    """
    from caseops.storage.bulk import insert_mappings

    now = utcnow()
    rows = [
        {"client_id": client_id, "agency_code": agency, "category": category, "created_at": now}
        for client_id, agency, category in sorted(set(sections))
        if client_id
    ]
    if rows:
        insert_mappings(session.connection(), RecordChange.__table__, rows)
