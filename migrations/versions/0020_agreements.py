"""Data sharing agreements (issue 22).

Agreements between two or more agencies: their parties, clauses (what they share, and trust
clauses accepting each other's consents), each party's acceptance, amendments (a new
version that supersedes) and terminations. Every table is append-only: state is derived.

Upgrading an installation that already has agencies writes a waiver (the Casbin rule
``p, agency:<a>, *, agreement_waiver:<b>, waive, allow``, unordered) for every pair of them,
so nothing that is shared today silently stops; a new installation (no agencies yet) has
none and requires agreements. The standing trust rules of migration 0013 become agreements
of two parties with one trust clause each, accepted by both when the rule was set and
terminated when it ended ("converted from standing rule N"); their tables stay, read-only
history.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MIGRATION = "<migration 0020>"

# System administrators record agreements for any agencies; agency administrators record,
# accept, amend and terminate their own agency's; privacy officers read their agency's.
POLICY = [
    ("p", "system_admin", "*", "agreements", "manage", "allow"),
    ("p", "agency_admin", "*", "agreements", "sign", "allow"),
    ("p", "agency_admin", "*", "agreements", "read", "allow"),
    ("p", "privacy_officer", "*", "agreements", "read", "allow"),
]
TABLES = (
    "agreements",
    "agreement_parties",
    "agreement_clauses",
    "agreement_acceptances",
    "agreement_terminations",
)


def waiver(a: str, b: str) -> tuple[str, ...]:
    low, high = sorted((a, b))
    return ("p", f"agency:{low}", "*", f"agreement_waiver:{high}", "waive", "allow")


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("supersedes", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("document_type", sa.String(length=100), nullable=True),
        sa.Column("document_encrypted", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_by_agency", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["agreements.id"], name=op.f("fk_agreements_supersedes_agreements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_agreements_period")
        ),
    )
    op.create_index(op.f("ix_agreements_supersedes"), "agreements", ["supersedes"])
    op.create_table(
        "agreement_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_parties_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_parties")),
        sa.UniqueConstraint(
            "agreement_id",
            "agency_code",
            name=op.f("uq_agreement_parties_agreement_id_agency_code"),
        ),
    )
    op.create_index(op.f("ix_agreement_parties_agency_code"), "agreement_parties", ["agency_code"])
    op.create_table(
        "agreement_clauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=True),
        sa.Column("agency_code", sa.String(length=32), nullable=True),
        sa.Column("partner_code", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_clauses_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_clauses")),
        sa.CheckConstraint(
            "(kind = 'share' AND purposes IS NOT NULL) OR (kind = 'trust' AND "
            "agency_code IS NOT NULL AND partner_code IS NOT NULL AND agency_code <> partner_code)",
            name=op.f("ck_agreement_clauses_kind"),
        ),
    )
    op.create_index(
        op.f("ix_agreement_clauses_agreement_id"), "agreement_clauses", ["agreement_id"]
    )
    op.create_table(
        "agreement_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("accepted_by", sa.String(length=150), nullable=False),
        sa.Column("accepted_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_acceptances_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_acceptances")),
        sa.UniqueConstraint(
            "agreement_id",
            "agency_code",
            name=op.f("uq_agreement_acceptances_agreement_id_agency_code"),
        ),
    )
    op.create_table(
        "agreement_terminations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=32), nullable=False),
        sa.Column("terminated_by", sa.String(length=150), nullable=False),
        sa.Column("terminated_at", TS, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_agreement_terminations_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_terminations")),
        sa.UniqueConstraint("agreement_id", name=op.f("uq_agreement_terminations_agreement_id")),
    )
    _convert_trust_rules()
    for table in TABLES:
        append_only(table)
    bind = op.get_bind()
    codes = sorted(bind.execute(sa.text("SELECT code FROM agencies")).scalars())
    # An upgraded installation keeps sharing as it does today: every pair is waived. (A
    # fresh one has no agencies here, so it writes nothing: agreements are required.)
    add_policy(POLICY + [waiver(a, b) for a, b in itertools.combinations(codes, 2)])


def _convert_trust_rules() -> None:
    """Each standing rule becomes an agreement of its two agencies with one trust clause."""
    bind = op.get_bind()
    rules = bind.execute(
        sa.text(
            "SELECT r.id, r.agency_code, r.partner_code, r.categories, r.created_by, "
            "r.created_at, e.ended_by, e.ended_at FROM consent_trust_rules r "
            "LEFT JOIN consent_trust_rule_ends e ON e.rule_id = r.id ORDER BY r.id"
        )
    ).all()
    if not rules:
        return
    sqlite = bind.dialect.name == "sqlite"

    def stored(value: datetime) -> datetime:
        """Aware UTC on PostgreSQL, naive UTC on SQLite (as ``UTCDateTime`` stores it)."""
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if sqlite else value

    agreements = sa.table(
        "agreements",
        *(sa.column(c) for c in ("id", "title", "note", "recorded_by")),
        sa.column("starts_on", sa.Date()),
        sa.column("recorded_at", TS),
    )
    parties = sa.table("agreement_parties", sa.column("agreement_id"), sa.column("agency_code"))
    clauses = sa.table(
        "agreement_clauses",
        *(sa.column(c) for c in ("agreement_id", "kind", "agency_code", "partner_code")),
        sa.column("categories", sa.JSON()),
    )
    acceptances = sa.table(
        "agreement_acceptances",
        *(sa.column(c) for c in ("agreement_id", "agency_code", "accepted_by")),
        sa.column("accepted_at", TS),
    )
    terminations = sa.table(
        "agreement_terminations",
        *(sa.column(c) for c in ("agreement_id", "terminated_by", "reason")),
        sa.column("terminated_at", TS),
    )
    now = datetime.now(UTC)
    for rule in rules:
        created_at = _instant(rule.created_at)
        categories = rule.categories
        if isinstance(categories, str):  # JSON read as text on SQLite
            categories = json.loads(categories)
        agreement_id = f"agr_rule{rule.id}"
        bind.execute(
            agreements.insert().values(
                id=agreement_id,
                title=f"{rule.agency_code} accepts consents recorded by {rule.partner_code}",
                starts_on=created_at.date(),
                note=f"converted from standing rule {rule.id}",
                recorded_by=MIGRATION,
                recorded_at=stored(now),
            )
        )
        for code in (rule.agency_code, rule.partner_code):
            bind.execute(parties.insert().values(agreement_id=agreement_id, agency_code=code))
        bind.execute(
            clauses.insert().values(
                agreement_id=agreement_id,
                kind="trust",
                categories=categories,
                agency_code=rule.agency_code,
                partner_code=rule.partner_code,
            )
        )
        bind.execute(
            acceptances.insert(),
            [
                {
                    "agreement_id": agreement_id,
                    "agency_code": rule.agency_code,
                    "accepted_by": rule.created_by,
                    "accepted_at": stored(created_at),
                },
                {
                    "agreement_id": agreement_id,
                    "agency_code": rule.partner_code,
                    "accepted_by": MIGRATION,
                    "accepted_at": stored(created_at),
                },
            ],
        )
        if rule.ended_at is not None:
            bind.execute(
                terminations.insert().values(
                    agreement_id=agreement_id,
                    terminated_by=rule.ended_by,
                    terminated_at=stored(_instant(rule.ended_at)),
                    reason=f"standing rule {rule.id} ended",
                )
            )


def _instant(value):
    """A stored timestamp as an aware datetime (SQLite hands back text or naive values)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def downgrade() -> None:
    bind = op.get_bind()
    waivers = bind.execute(
        sa.text(
            "SELECT ptype, v0, v1, v2, v3, v4 FROM casbin_rule "
            "WHERE ptype = 'p' AND v2 LIKE 'agreement_waiver:%'"
        )
    ).all()
    remove_policy(POLICY + [tuple(row) for row in waivers])
    for table in reversed(TABLES):
        op.drop_table(table)
