"""Log -> affected clients: whose data the named accounts or tokens were shown, and when.

Computed from the access log alone, with the newest signed checkpoint and an inclusion
proof of every entry relied on (``caseops.audit.tree_store``, the functions behind
``GET /api/v1/audit/events/{seq}/proof``), so the list can be checked by anyone holding
the log's public key: each affected client is backed by entries whose leaves are in the
signed tree.

What counts. Entries by a named account (``actor``) or made with a named token
(``token_id``), with ``window_start <= occurred_at < window_end``:

* a successful ``client.view`` that disclosed sections (``detail.disclosed``, each
  ``agency/category``): the client is affected, for those categories and source agencies;
  a view under break-the-glass names its grant;
* ``client.break_glass`` (emergency access opened) is listed apart, with its client;
* a denied entry (nothing shown) and a ``client.search`` (names and birth dates of the
  matches, no record sections) are listed apart, as are every other entry's counts.

Scope. An agency-scoped privacy officer gets the entries in their oversight only, each as
they may read it (``caseops.audit.scope.AuditScope``: ``events_condition``, ``admits``,
``redact_detail``); an organisation-wide one gets everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from caseops.audit import tree_store
from caseops.audit.canonical import iso_utc
from caseops.audit.models import AccessEvent
from caseops.audit.scope import AuditScope
from caseops.extensions import db

EVENTS = AccessEvent.__table__
APART_ACTIONS = ("client.search", "client.break_glass")


def _section_agency(key: str) -> str:
    return key.split("/", 1)[0]


def _section_category(key: str) -> str:
    return key.split("/", 1)[1] if "/" in key else key


def entries(
    scope: AuditScope,
    accounts: Iterable[str],
    token_ids: Iterable[int],
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """The entries of the named accounts/tokens in ``[start, end)`` within ``scope``,
    oldest first, each redacted as the officer may read it."""
    accounts, token_ids = sorted(set(accounts)), sorted(set(token_ids))
    if not accounts and not token_ids:
        return []
    query = (
        select(EVENTS)
        .where(
            or_(EVENTS.c.actor.in_(accounts), EVENTS.c.token_id.in_(token_ids)),
            EVENTS.c.occurred_at >= start,
            EVENTS.c.occurred_at < end,
            scope.events_condition(),
        )
        .order_by(EVENTS.c.seq)
    )
    rows = [
        dict(row._mapping)
        for row in db.session.execute(query)
        if scope.admits(row.action, row.actor_agency, row.detail)
    ]
    return scope.redact_entries(rows)


def _proofs(seqs: list[int]) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """The newest checkpoint and, for each sealed entry of ``seqs``, its inclusion proof."""
    conn = db.session.connection()
    latest = tree_store.latest_checkpoint(conn)
    if latest is None:
        return None, {}
    proofs: dict[int, dict[str, Any]] = {}
    for seq in seqs:
        leaf = tree_store.leaf_of(conn, seq)
        if leaf is None or leaf[0] >= latest.tree_size:
            continue
        index, digest = leaf
        proofs[seq] = {
            "leaf_index": index,
            "leaf_hash": digest.hex(),
            "audit_path": [n.hex() for n in tree_store.audit_path(conn, index, latest.tree_size)],
        }
    checkpoint = latest.as_dict() | {"signed_at": iso_utc(latest.signed_at)}
    return checkpoint, proofs


def compute(
    scope: AuditScope,
    accounts: Iterable[str],
    token_ids: Iterable[int],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """The affected clients and what is listed apart (see the module docstring)."""
    found = entries(scope, accounts, token_ids, start, end)
    checkpoint, proofs = _proofs([e["seq"] for e in found])
    clients: dict[str, dict[str, Any]] = {}
    denials, searches, break_glass = [], [], []
    other = 0
    unsealed: list[int] = []

    def proof_of(seq: int) -> dict[str, Any] | None:
        if seq not in proofs:
            unsealed.append(seq)
        return proofs.get(seq)

    for entry in found:
        detail = entry.get("detail") or {}
        base = {
            "seq": entry["seq"],
            "at": iso_utc(entry["occurred_at"]),
            "actor": entry["actor"],
            "actor_agency": entry["actor_agency"],
            "token_id": entry["token_id"],
            "action": entry["action"],
            "client_id": entry["client_id"],
        }
        if entry["outcome"] != "success":
            denials.append(base | {"outcome": entry["outcome"], "reason": detail.get("reason")})
            continue
        if entry["action"] == "client.search":
            searches.append(base | {"results": len(detail.get("result_client_ids") or [])})
            continue
        if entry["action"] == "client.break_glass":
            break_glass.append(base | {"proof": proof_of(entry["seq"])})
            continue
        disclosed = [k for k in detail.get("disclosed") or [] if isinstance(k, str)]
        if entry["action"] != "client.view" or not disclosed or not entry["client_id"]:
            other += 1
            continue
        client = clients.setdefault(
            entry["client_id"],
            {
                "client_id": entry["client_id"],
                "sections": set(),
                "first_seen": base["at"],
                "last_seen": base["at"],
                "entries": [],
            },
        )
        client["sections"].update(disclosed)
        client["last_seen"] = base["at"]
        client["entries"].append(
            base
            | {
                "sections": sorted(disclosed),
                "break_glass_grant": detail.get("break_glass_grant"),
                "proof": proof_of(entry["seq"]),
            }
        )
    affected = []
    for client in sorted(clients.values(), key=lambda c: c["client_id"]):
        sections = sorted(client.pop("sections"))
        affected.append(
            client
            | {
                "sections": sections,
                "categories": sorted({_section_category(k) for k in sections}),
                "source_agencies": sorted({_section_agency(k) for k in sections}),
            }
        )
    return {
        "scope": scope.as_dict(),
        "checkpoint": checkpoint,
        "affected_clients": affected,
        "break_glass": break_glass,
        "denials": denials,
        "searches": searches,
        "other_entries": other,
        "unsealed_seqs": sorted(set(unsealed)),
    }
