"""What hangs on a client id when records change client.

Consents, care-team memberships, break-glass grants (and referrals, notes, tasks and
access codes as they arrive) are keyed by ``client_id``. When a steward unlinks a record,
links one from the review queue, undoes either, or ``caseops link rebuild`` separates or
joins records, a row keyed by a client that *lost* records may now belong to another
client. Nothing may silently follow the wrong person, so every row of every registered
table on such a client is decided again, by one rule:

* a row **attributable** to agencies (a consent recorded by agency X, a care-team member
  of agency X, a referral sent by agency X) belongs to the clients that now hold a current
  record of those agencies, among the client that lost records and the clients that got
  them: if that is one client, the row stays (``kept``) or follows it (``moved``);
* a row attributable to nobody (a break-glass grant) follows only a whole person: when
  the client that lost records has none left and they all went to one client;
* otherwise (the agency's records are now on two clients, or on none of them) the row
  is **suspended** (``suspended``) until a data steward says whose it is
  (``resolve_hold``): it gives no access meanwhile.

Every decision is a row of the append-only ``client_key_moves`` (with the link event that
caused it) and the whole pass is one access-log entry per steward act or rebuild.

How a row moves or is suspended depends on its table (``ClientKeyed``): a mutable table
updates its ``client_id`` (a care-team membership; suspended: ended now, reinstated as a
new membership); an append-only one is re-recorded (a consent: a copy under the new client
and, on the old one, a revocation with method ``linkage`` naming the copy). A table that can
do neither (break-glass grants, append-only and time-boxed) only gets a hold: readers must
then ask ``suspended_rows``.

**Extension point**: a new client-keyed table registers itself with ``register`` (see
``_referrals`` at the end of this module for the shape the referrals table takes).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, select, update

from caseops.agencies.models import Agency
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.matching.models import ClientKeyHold, ClientKeyMove
from caseops.records.models import SourceRecord
from caseops.storage.dialect import batches

Row = Any
Attribution = Callable[[Row], frozenset[str]]


@dataclass(frozen=True)
class ClientKeyed:
    """A table keyed by client id and how re-homing treats its rows.

    ``attribution``: the agencies whose records a row came from (empty: nobody's);
    ``live``: a SQL condition for the rows that still matter (an ended membership does
    not); ``move(row, client_id, reason)``: put the row on another client, returning the
    id it has there (a re-recorded row has a new one); ``suspend(row, reason)``: stop it
    giving access (None: the table cannot, readers must ask ``suspended_rows``);
    ``reinstate(row, client_id)``: a steward's decision on a suspended row. A table
    whose rows never move (``move`` None) holds them where it would move them."""

    table: Table
    attribution: Attribution
    move: Callable[[Row, str, str], str] | None
    suspend: Callable[[Row, str], None] | None
    reinstate: Callable[[Row, str], str] | None
    live: Callable[[Table], Any] | None = None
    id_column: str = "id"
    client_column: str = "client_id"

    @property
    def name(self) -> str:
        return self.table.name


REGISTRY: dict[str, ClientKeyed] = {}


def register(entry: ClientKeyed) -> None:
    """Add a client-keyed table (the extension point; one entry per table)."""
    REGISTRY[entry.name] = entry


@dataclass(frozen=True)
class Decision:
    table: str
    row_id: str
    from_client: str
    to_client: str | None
    outcome: str  # moved | kept | suspended
    reason: str


def _holders(clients: Iterable[str]) -> dict[str, set[str]]:
    """Agency code -> the clients among ``clients`` holding a current record of it."""
    held: defaultdict[str, set[str]] = defaultdict(set)
    for part in batches(set(clients)):
        query = (
            select(SourceRecord.client_id, Agency.code)
            .join(Agency, Agency.id == SourceRecord.agency_id)
            .where(SourceRecord.client_id.in_(part), SourceRecord.withdrawn_at.is_(None))
            .distinct()
        )
        for client_id, code in db.session.execute(query):
            held[code].add(client_id)
    return held


def _rows_of(entry: ClientKeyed, clients: Iterable[str]) -> list[Row]:
    table = entry.table
    rows: list[Row] = []
    for part in batches(set(clients)):
        query = select(table).where(table.c[entry.client_column].in_(part))
        if entry.live is not None:
            query = query.where(entry.live(table))
        rows.extend(db.session.execute(query).all())
    return rows


def _decide(
    entry: ClientKeyed, row: Row, from_client: str, to_clients: set[str], held: Mapping
) -> tuple[str, str | None, str]:
    candidates = {from_client, *to_clients}
    agencies = entry.attribution(row)
    if agencies:
        owners = {c for a in agencies for c in held.get(a, ()) if c in candidates}
        said = "records of " + ", ".join(sorted(agencies))
    else:
        whole = not any(from_client in clients for clients in held.values())
        owners = set(to_clients) if whole and len(to_clients) == 1 else set()
        said = "whole person moved" if owners else "not attributable to any agency's records"
    if owners == {from_client}:
        return "kept", from_client, f"{said} stay on this client"
    if len(owners) == 1:
        return "moved", next(iter(owners)), f"follows {said}"
    if owners:
        return "suspended", None, f"{said} are now on {len(owners)} clients"
    return "suspended", None, f"{said}: none left on these clients"


def rehome(
    changes: Mapping[str, Iterable[str]],
    actor_name: str,
    link_events: Mapping[str, int] | None = None,
) -> list[Decision]:
    """Decide again every registered row on each client that lost records (``changes``:
    that client -> the clients that got its records), apply and log the decisions (in
    the caller's transaction). ``link_events``: from client -> the link event to cite."""
    changes = {c: set(to) - {c} for c, to in changes.items() if set(to) - {c}}
    if not changes:
        return []
    rows = {name: _rows_of(entry, changes) for name, entry in REGISTRY.items()}
    if not any(rows.values()):
        return []
    everyone = set(changes) | {c for to in changes.values() for c in to}
    held = _holders(everyone)
    decisions: list[Decision] = []
    now = utcnow()
    for name, entry in REGISTRY.items():
        waiting = suspended_rows(name, [str(getattr(r, entry.id_column)) for r in rows[name]])
        for row in rows[name]:
            if str(getattr(row, entry.id_column)) in waiting:
                continue  # already waits for a steward, who sees where it may belong
            from_client = getattr(row, entry.client_column)
            outcome, to_client, reason = _decide(
                entry, row, from_client, changes[from_client], held
            )
            row_id = str(getattr(row, entry.id_column))
            moved_id = row_id
            if outcome == "moved" and entry.move is None:
                outcome, to_client = "suspended", None
                reason = f"{reason}, but rows of this table are never moved"
            if outcome == "moved":
                moved_id = entry.move(row, to_client, reason)
            elif outcome == "suspended":
                if entry.suspend is not None:
                    entry.suspend(row, reason)
                db.session.add(
                    ClientKeyHold(
                        table_name=name,
                        row_id=row_id,
                        client_id=from_client,
                        candidates=sorted({from_client, *changes[from_client]}),
                        reason=reason[:300],
                        created_at=now,
                    )
                )
            note = reason if moved_id == row_id else f"{reason}; now {moved_id}"
            db.session.add(
                ClientKeyMove(
                    table_name=name,
                    row_id=row_id,
                    from_client_id=from_client,
                    to_client_id=to_client,
                    outcome=outcome,
                    reason=note[:300],
                    link_event_id=(link_events or {}).get(from_client),
                    actor=actor_name,
                    created_at=now,
                )
            )
            decisions.append(Decision(name, row_id, from_client, to_client, outcome, reason))
    db.session.flush()
    return decisions


def summary(decisions: Iterable[Decision]) -> dict[str, Any]:
    """Counts per table and outcome, and the held rows, for the access log."""
    counts: defaultdict[str, int] = defaultdict(int)
    held = []
    for d in decisions:
        counts[f"{d.table}.{d.outcome}"] += 1
        if d.outcome == "suspended":
            held.append(f"{d.table}/{d.row_id}")
    return {"counts": dict(sorted(counts.items())), "suspended": held[:50]}


def suspended_rows(table_name: str, row_ids: Iterable[str] | None = None) -> set[str]:
    """Ids of the rows of ``table_name`` suspended now (for tables that cannot stop a
    row themselves, and for anybody who asks)."""
    query = select(ClientKeyHold.row_id).where(
        ClientKeyHold.table_name == table_name, ClientKeyHold.resolved_at.is_(None)
    )
    if row_ids is not None:
        wanted = [str(r) for r in row_ids]
        if not wanted:
            return set()
        query = query.where(ClientKeyHold.row_id.in_(wanted))
    return set(db.session.scalars(query))


def open_holds(client_ids: Iterable[str] | None = None) -> list[ClientKeyHold]:
    query = select(ClientKeyHold).where(ClientKeyHold.resolved_at.is_(None))
    if client_ids is not None:
        query = query.where(ClientKeyHold.client_id.in_(list(client_ids)))
    return list(db.session.scalars(query.order_by(ClientKeyHold.id)))


def resolve_hold(hold: ClientKeyHold, client_id: str | None, actor_name: str) -> ClientKeyMove:
    """A steward's decision on a suspended row: it belongs to ``client_id`` (one of the
    hold's candidates) and is reinstated there, or to nobody (``None``: it stays ended)."""
    if hold.resolved_at is not None:
        raise ValueError("this hold is already resolved")
    if client_id is not None and client_id not in hold.candidates:
        raise ValueError("the client is not one the row may belong to")
    entry = REGISTRY[hold.table_name]
    if client_id is not None and entry.reinstate is None:
        raise ValueError(f"rows of {hold.table_name} are not reinstated: record a new one")
    table = entry.table
    row = db.session.execute(
        select(table).where(table.c[entry.id_column] == _typed(entry, hold.row_id))
    ).one()
    now = utcnow()
    new_id = entry.reinstate(row, client_id) if client_id is not None else hold.row_id
    hold.resolved_at, hold.resolved_by = now, actor_name
    hold.resolution = "reinstated" if client_id is not None else "ended"
    move = ClientKeyMove(
        table_name=hold.table_name,
        row_id=hold.row_id,
        from_client_id=hold.client_id,
        to_client_id=client_id,
        outcome=hold.resolution,
        reason=(f"steward's decision; now {new_id}" if client_id else "steward's decision"),
        actor=actor_name,
        created_at=now,
    )
    db.session.add(move)
    db.session.flush()
    return move


def after_move(actor: Any, from_client: str, to_client: str, link_event_id: int | None) -> dict:
    """Re-home after a steward moved a record (unlink, link, undo), in the steward's
    transaction, with one access-log entry when anything was decided."""
    from caseops.audit.service import record as audit

    decisions = rehome({from_client: {to_client}}, actor.username, {from_client: link_event_id})
    done = summary(decisions)
    if decisions:
        audit(
            "linkage.rehomed",
            actor=actor,
            client_id=from_client,
            detail=done | {"link_event": link_event_id, "to_client": to_client},
            session=db.session,
        )
    return done


def steward_resolves(actor: Any, hold_id: int, client_id: str | None) -> dict[str, Any]:
    """``resolve_hold`` for a data steward (or the operator), logged and committed."""
    from caseops.audit.service import record as audit
    from caseops.authz.guard import require

    require(
        actor,
        "linkage",
        "manage",
        action="linkage.hold_resolved",
        message="Your role may not decide on suspended rows.",
    )
    hold = db.session.get(ClientKeyHold, hold_id)
    if hold is None:
        raise ValueError(f"no hold {hold_id}")
    move = resolve_hold(hold, client_id, actor.username)
    result = {
        "hold": hold.id,
        "table": hold.table_name,
        "row_id": hold.row_id,
        "outcome": move.outcome,
        "client_id": client_id,
        "reason": move.reason,
    }
    audit(
        "linkage.hold_resolved",
        actor=actor,
        target_type=hold.table_name,
        target_id=hold.row_id,
        client_id=client_id or hold.client_id,
        detail=result,
        session=db.session,
    )
    db.session.commit()
    return result


def _typed(entry: ClientKeyed, row_id: str) -> Any:
    column = entry.table.c[entry.id_column]
    return int(row_id) if column.type.python_type is int else row_id


# --- the registered tables ---------------------------------------------------------------


def _consents() -> ClientKeyed:
    from caseops.registry.models import ConsentRecord, ConsentRevocation

    table = ConsentRecord.__table__
    revocations = ConsentRevocation.__table__

    def attribution(row: Row) -> frozenset[str]:
        if row.recorded_by_agency:
            return frozenset({row.recorded_by_agency})
        return frozenset(row.source_agencies or ())

    def copy(row: Row, client_id: str) -> str:
        """The same consent recorded again under ``client_id`` (append-only table)."""
        values = {c.name: getattr(row, c.name) for c in table.columns}
        values |= {
            "id": "cns_" + secrets.token_hex(10),
            "client_id": client_id,
            "version": 1,
            "supersedes": None,
            "recorded_at": utcnow(),
        }
        db.session.execute(table.insert().values(**values))
        return values["id"]

    def end(row: Row, reason: str) -> None:
        from caseops.webhooks import outbox

        db.session.execute(
            revocations.insert().values(
                consent_id=row.id,
                revoked_at=utcnow(),
                revoked_by="linkage",
                reason=f"re-homed by linkage: {reason}"[:1000],
                method="linkage",
            )
        )
        # As a revocation by a consent officer: the agencies it names hear of it.
        outbox.enqueue(
            "consent.revoked",
            [*row.recipients, *row.source_agencies],
            {"consent_id": row.id},
            session=db.session,
        )

    def move(row: Row, client_id: str, reason: str) -> str:
        new_id = copy(row, client_id)
        end(row, f"{reason}; recorded again as {new_id}")
        return new_id

    def live(t: Table) -> Any:
        # The latest version, not revoked: older versions and revoked ones grant nothing.
        later = table.alias("later_version")
        newer = select(later.c.id).where(later.c.supersedes == t.c.id).exists()
        revoked = select(revocations.c.id).where(revocations.c.consent_id == t.c.id).exists()
        return and_(~newer, ~revoked)

    return ClientKeyed(table, attribution, move, end, copy, live)


def _care_team() -> ClientKeyed:
    from caseops.access.models import CareTeamMember

    table = CareTeamMember.__table__

    def move(row: Row, client_id: str, _reason: str) -> str:
        db.session.execute(update(table).where(table.c.id == row.id).values(client_id=client_id))
        return str(row.id)

    def suspend(row: Row, _reason: str) -> None:
        db.session.execute(update(table).where(table.c.id == row.id).values(ends_at=utcnow()))

    def reinstate(row: Row, client_id: str) -> str:
        values = {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"}
        values |= {"client_id": client_id, "starts_at": utcnow(), "ends_at": None}
        values["created_at"] = utcnow()
        result = db.session.execute(table.insert().values(**values))
        return str(result.inserted_primary_key[0])

    def live(t: Table) -> Any:
        return (t.c.ends_at.is_(None)) | (t.c.ends_at > utcnow())

    return ClientKeyed(
        table, lambda row: frozenset({row.agency_code}), move, suspend, reinstate, live
    )


def _break_glass() -> ClientKeyed:
    from caseops.access.models import BreakGlassGrant

    table = BreakGlassGrant.__table__

    def live(t: Table) -> Any:
        return t.c.expires_at > utcnow()

    # Append-only and time-boxed: never moved, held (readers ask ``suspended_rows``).
    return ClientKeyed(table, lambda _row: frozenset(), None, None, None, live)


def _referrals() -> ClientKeyed:
    from caseops.referrals.models import Referral

    # Append-only, and a referral speaks of the client its sender knew: never moved, held
    # (it then opens nothing and both sides see it flagged) when its sender's records no
    # longer sit on exactly one of the clients. Its sender's records decide.
    return ClientKeyed(
        Referral.__table__, lambda row: frozenset({row.from_agency}), None, None, None, None
    )


def _notes() -> ClientKeyed:
    from caseops.notes.models import Note

    # Append-only, and a note speaks of the person its author's agency knew: never moved,
    # held (the record view leaves it out) when that agency's records no longer sit on
    # exactly one of the clients. A steward cannot reinstate one: the author writes it again.
    # Tasks are not registered: a task is its own agency's coordination data, shown to no
    # other agency, so one left on the old client discloses nothing.
    return ClientKeyed(
        Note.__table__, lambda row: frozenset({row.agency_code}), None, None, None, None
    )


for _entry in (_consents(), _care_team(), _break_glass(), _referrals(), _notes()):
    register(_entry)
