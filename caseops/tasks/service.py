"""Tasks: create on a client (optionally on a referral), assign, mark done or cancelled,
list. Services take the acting user and never touch the request.

A task is **coordination data of one agency**: its title, assignee and due date are seen
by that agency's case workers and supervisors only. To anyone else (another agency's
workers, the agency's own administrators or officers) a task does not exist: 404, exactly
as an unknown id. Nothing in an answer depends on another agency's tasks.

Creating one needs need-to-know (the care team, or an open referral addressed to the
worker: the same relationship facts the record view uses); a supervisor may also create a
task for a colleague who has that relationship. Every change is a new append-only move and
one access-log entry; titles and notes are encrypted at rest and never written to the log.

For the caseload (``caseops.desk``): ``open_tasks_by_client`` and ``tasks_for`` answer
within the actor's agency and write no log entry of their own (the caller's view does).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from caseops.access.need_to_know import has_relationship, referral_of_agency
from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse, require
from caseops.authz.permissions import load_client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.tasks import rules
from caseops.tasks.models import Task, TaskMove
from caseops.users.models import User

WORKERS = frozenset({"case_worker", "supervisor"})
SUPERVISOR = "supervisor"
MAX_TITLE = 200
MAX_NOTE = 2000


def task_not_found(task_id: str) -> NotFound:
    """The one answer for an unknown task and for one hidden from the caller."""
    return NotFound(f"No task {task_id!r}.")


def today() -> date:
    """The deployment's date (``CASEOPS_TIME_ZONE``, an IANA name; UTC when unset): a task
    due today is overdue once today has ended where the agencies work, not in Greenwich."""
    name = current_app.config.get("CASEOPS_TIME_ZONE") or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return utcnow().astimezone(zone).date()


# --- encryption of free text --------------------------------------------------------------


def _seal(text: str, task_id: str, field: str) -> str:
    keyring = keyring_from_config(current_app.config)
    return keyring.encrypt(text.encode(), f"task:{task_id}:{field}")


def _open(token: str | None, task_id: str, field: str) -> str | None:
    if token is None:
        return None
    keyring = keyring_from_config(current_app.config)
    return keyring.decrypt(token, f"task:{task_id}:{field}").decode()


# --- who and what -------------------------------------------------------------------------


def _is_worker(actor: Actor) -> bool:
    return actor.agency is not None and bool(actor.roles & WORKERS)


def _standing(actor: Actor) -> rules.Standing:
    return rules.Standing(actor.username, SUPERVISOR in actor.roles)


def _colleague(actor: Actor, username: str | None, field: str = "assignee") -> User:
    """An active case worker or supervisor of the actor's own agency; a 422 that says the
    same for another agency's user as for no such user (users are hidden across agencies)."""
    user = (
        db.session.scalar(select(User).where(User.username == username.lower()))
        if username
        else None
    )
    if (
        user is None
        or not user.active
        or user.agency.code != actor.agency
        or not (policy.roles_of(user.username, user.agency.code) & WORKERS)
    ):
        raise ValidationFailed(
            "Assign the task to an active case worker or supervisor of your agency.",
            details={field: ["No active case worker or supervisor of your agency by that name."]},
        )
    return user


def _as_actor(user: User) -> Actor:
    return Actor(
        username=user.username,
        user_id=user.id,
        agency=user.agency.code,
        roles=frozenset(policy.roles_of(user.username, user.agency.code)),
    )


# --- reading ------------------------------------------------------------------------------


def _current_move():
    """A correlated condition: the move is its task's last (its status and assignee now)."""
    inner = aliased(TaskMove)
    return TaskMove.seq == (
        select(func.max(inner.seq))
        .where(inner.task_id == TaskMove.task_id)
        .correlate(TaskMove)
        .scalar_subquery()
    )


def _with_current():
    return select(Task, TaskMove).join(TaskMove, (TaskMove.task_id == Task.id) & _current_move())


def _describe(task: Task, move: TaskMove, on: date) -> dict[str, Any]:
    return {
        "id": task.id,
        "client_id": task.client_id,
        "agency": task.agency_code,
        "referral_id": task.referral_id,
        "title": _open(task.title_encrypted, task.id, "title"),
        "status": move.status,
        "assignee": move.assignee,
        "due_on": task.due_on,
        "overdue": rules.is_overdue(move.status, task.due_on, on),
        "created_by": task.created_by,
        "created_at": task.created_at,
        "updated_at": move.at,
        "updated_by": move.by_user,
        "note": _open(move.note_encrypted, task.id, f"note:{move.seq}"),
    }


def load_task(actor: Actor, task_id: str) -> tuple[Task, TaskMove]:
    """Load-or-404 and authorize in one call: the task and its current move, if the actor
    is a case worker or supervisor of the task's agency; else exactly the answer an
    unknown id gets."""
    row = db.session.execute(_with_current().where(Task.id == task_id)).first()
    if row is None or not _is_worker(actor) or row[0].agency_code != actor.agency:
        raise task_not_found(task_id)
    return row[0], row[1]


def tasks_for(
    actor: Actor,
    *,
    status: str | None = "open",
    assignee: str | None = None,
    client_ids: Iterable[str] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Tasks of the actor's agency (never another's), newest due first among the dated:
    by status (None: every status), assignee (a username) and clients. Each with its
    decrypted title and ``overdue`` (open and due before the deployment's today).

    Writes no log entry: the caller logs its own view (``my_tasks``, the caseload)."""
    if not _is_worker(actor):
        return []
    statement = _with_current().where(Task.agency_code == actor.agency)
    if status is not None:
        statement = statement.where(TaskMove.status == status)
    if assignee is not None:
        statement = statement.where(TaskMove.assignee == assignee)
    if client_ids is not None:
        statement = statement.where(Task.client_id.in_(list(client_ids)))
    statement = statement.order_by(
        Task.due_on.is_(None), Task.due_on, Task.created_at, Task.id
    ).limit(limit)
    on = today()
    return [_describe(task, move, on) for task, move in db.session.execute(statement)]


def open_tasks_by_client(
    actor: Actor, client_ids: Iterable[str], *, assignee: str | None = None
) -> dict[str, int]:
    """``{client_id: number of open tasks}`` of the actor's agency (only those assigned to
    ``assignee`` when given) for these clients; clients without any are left out. Counts
    only the actor's own agency's tasks, so the number says nothing of other agencies.
    Writes no log entry (the caseload logs its view)."""
    ids = list(client_ids)
    if not ids or not _is_worker(actor):
        return {}
    statement = (
        select(Task.client_id, func.count())
        .join(TaskMove, (TaskMove.task_id == Task.id) & _current_move())
        .where(
            Task.agency_code == actor.agency,
            Task.client_id.in_(ids),
            TaskMove.status == rules.OPEN,
        )
        .group_by(Task.client_id)
    )
    if assignee is not None:
        statement = statement.where(TaskMove.assignee == assignee)
    return {client_id: count for client_id, count in db.session.execute(statement)}


def my_tasks(actor: Actor, status: str = "open", worker: str | None = None) -> list[dict[str, Any]]:
    """``GET /me/tasks``: the tasks assigned to me (a supervisor may ask for a colleague's
    with ``worker``). Logged as a read of the agency's coordination data."""
    assignee = actor.username
    if worker is not None and worker.lower() != actor.username:
        if SUPERVISOR not in actor.roles:
            refuse(
                actor,
                "task.list",
                "Only supervisors see a colleague's tasks.",
                detail={"worker": worker},
            )
        assignee = _colleague(actor, worker, "worker").username
    found = tasks_for(actor, status=status, assignee=assignee)
    audit(
        "task.list",
        actor=actor,
        target_type="user",
        target_id=assignee,
        detail={"status": status, "task_ids": [t["id"] for t in found]},
    )
    return found


def client_tasks(actor: Actor, client_id: str, status: str | None = None) -> list[dict[str, Any]]:
    """The actor's agency's tasks on one client (the client page). A client hidden from
    the caller answers 404 as an unknown one; another agency's tasks are never listed."""
    load_client(actor, client_id)
    found = tasks_for(actor, status=status, client_ids=[client_id])
    audit(
        "task.list",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={"status": status, "task_ids": [t["id"] for t in found]},
    )
    return found


# --- changing -----------------------------------------------------------------------------


def _check_title(title: str) -> str:
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise ValidationFailed(
            "Give the task a title.",
            details={"title": [f"Between 1 and {MAX_TITLE} characters (not only spaces)."]},
        )
    return title


def create(actor: Actor, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A task on a client the actor (or, for a supervisor, the assignee) works with."""
    load_client(actor, client_id)
    require(
        actor,
        "tasks",
        "write",
        action="task.create",
        message="Your role does not keep tasks.",
        client_id=client_id,
    )
    title = _check_title(body.get("title", ""))
    due_on = body.get("due_on")
    if due_on is not None and due_on < today():
        raise ValidationFailed(
            "A task cannot be due in the past.", details={"due_on": ["Today or later."]}
        )
    at = utcnow()
    assignee = _colleague(actor, body.get("assignee") or actor.username)
    related = has_relationship(actor, client_id, at) or (
        SUPERVISOR in actor.roles
        and assignee.username != actor.username
        and has_relationship(_as_actor(assignee), client_id, at)
    )
    if not related:
        refuse(
            actor,
            "task.create",
            "Keep tasks on clients you work with (care team or an open referral).",
            reason="no_relationship",
            client_id=client_id,
        )
    referral_id = referral_of_agency(actor, client_id, body.get("referral_id"))
    task_id = "tsk_" + secrets.token_hex(10)
    db.session.add(
        Task(
            id=task_id,
            client_id=client_id,
            agency_code=actor.agency or "",
            referral_id=referral_id,
            title_encrypted=_seal(title, task_id, "title"),
            due_on=due_on,
            created_by=actor.username,
            created_at=at,
        )
    )
    db.session.flush()
    db.session.add(
        TaskMove(
            task_id=task_id,
            seq=1,
            status=rules.OPEN,
            assignee=assignee.username,
            by_user=actor.username,
            by_agency=actor.agency or "",
            at=at,
        )
    )
    audit(
        "task.created",
        actor=actor,
        target_type="task",
        target_id=task_id,
        client_id=client_id,
        detail={
            "assignee": assignee.username,
            "due_on": due_on.isoformat() if due_on else None,
            "referral_id": referral_id,
        },
        session=db.session,
    )
    if assignee.username != actor.username:
        _announce_assigned(task_id, client_id, assignee)
    db.session.commit()
    return _describe(*load_task(actor, task_id), today())


def _append(task: Task, current: TaskMove, actor: Actor, **values: Any) -> TaskMove:
    move = TaskMove(
        task_id=task.id,
        seq=current.seq + 1,
        by_user=actor.username,
        by_agency=actor.agency or "",
        at=utcnow(),
        **values,
    )
    db.session.add(move)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "The task changed while you were changing it; reload and try again.",
            code="task_changed",
        ) from None
    return move


def _refuse_change(actor: Actor, action: str, task: Task) -> None:
    refuse(
        actor,
        action,
        "Only the task's creator, its assignee or a supervisor changes it.",
        client_id=task.client_id,
        target_type="task",
        target_id=task.id,
    )


def change_status(actor: Actor, task_id: str, status: str, note: str | None) -> dict[str, Any]:
    """Done or cancelled (final; cancelling needs a note). 409 naming the allowed changes
    for any other; 403 for a colleague who is neither creator, assignee nor supervisor."""
    task, current = load_task(actor, task_id)
    if not rules.may_change(_standing(actor), task.created_by, current.assignee):
        _refuse_change(actor, "task.move", task)
    allowed = rules.allowed_moves(current.status)
    if status not in allowed:
        raise Conflict(
            f"A {current.status} task cannot become {status}; allowed: "
            f"{', '.join(allowed) or 'none (it is final)'}.",
            details={"status": [f"Allowed from {current.status}: {list(allowed)}."]},
            code="task_status",
        )
    note = (note or "").strip() or None
    if status in rules.NOTE_REQUIRED and note is None:
        raise ValidationFailed(
            "Say why the task is cancelled.", details={"note": ["Required when cancelling."]}
        )
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed(
            "The note is too long.", details={"note": [f"At most {MAX_NOTE} characters."]}
        )
    seq = current.seq + 1
    _append(
        task,
        current,
        actor,
        status=status,
        assignee=current.assignee,
        note_encrypted=_seal(note, task.id, f"note:{seq}") if note else None,
    )
    audit(
        "task.moved",
        actor=actor,
        target_type="task",
        target_id=task.id,
        client_id=task.client_id,
        detail={"from": current.status, "to": status},
        session=db.session,
    )
    db.session.commit()
    return _describe(*load_task(actor, task_id), today())


def assign(actor: Actor, task_id: str, username: str) -> dict[str, Any]:
    """Hand an open task to a colleague of the agency (the creator, the assignee or a
    supervisor). The new assignee hears of it (``task.assigned``: ids only)."""
    task, current = load_task(actor, task_id)
    if not rules.may_change(_standing(actor), task.created_by, current.assignee):
        _refuse_change(actor, "task.assign", task)
    if current.status != rules.OPEN:
        raise Conflict(
            f"A {current.status} task is final; it cannot be reassigned.",
            details={"status": [f"The task is {current.status}."]},
            code="task_status",
        )
    user = _colleague(actor, username, "username")
    if user.username == current.assignee:
        return _describe(task, current, today())  # already theirs: nothing changes
    _append(task, current, actor, status=rules.OPEN, assignee=user.username)
    audit(
        "task.assigned",
        actor=actor,
        target_type="task",
        target_id=task.id,
        client_id=task.client_id,
        detail={"from": current.assignee, "to": user.username},
        session=db.session,
    )
    if user.username != actor.username:
        _announce_assigned(task.id, task.client_id, user)
    db.session.commit()
    return _describe(*load_task(actor, task_id), today())


def _announce_assigned(task_id: str, client_id: str, assignee: User) -> None:
    """EVENTS HOOK (issue 18, item 4): the one place a task's assignment is announced to
    its new assignee, in the same transaction as the change. Ids and kinds only."""
    from caseops.events.publish import publish  # events sit beside tasks, not under them

    publish(
        "task.assigned",
        users=[assignee.username],
        data={"task_id": task_id, "client_id": client_id},
        session=db.session,
    )


def colleagues(actor: Actor) -> list[str]:
    """The active case workers and supervisors of the actor's own agency: whom a task may
    be assigned to (``_colleague`` accepts exactly these), for the pages' choices."""
    if not _is_worker(actor):
        return []
    users = db.session.scalars(
        select(User)
        .join(Agency, User.agency_id == Agency.id)
        .where(Agency.code == actor.agency, User.active.is_(True))
        .order_by(User.username)
    )
    return [u.username for u in users if policy.roles_of(u.username, actor.agency) & WORKERS]
