"""Cross-agency trust: who recorded a consent, who attested it, and standing rules.

An agency speaks only for its own data (consent.trust). A consent version now carries the
agency whose officer recorded it; consent officers of a source agency attest consents
recorded elsewhere; an agency administrator may set standing rules accepting consents that
a named partner agency records, for named categories (never substance use). Attestations,
rules and rule ends are events, so all three tables are append-only like the consents.

Consents recorded before this migration count as recorded by their recorder's agency
(backfilled from the users table; a recorder no longer known stays NULL, so such a consent
opens another agency's records only once that agency attests it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import (
    add_policy,
    append_only,
    remove_policy,
    resume_append_only,
    suspend_append_only,
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Consent officers attest for their own agency; agency administrators keep its standing rules.
POLICY = [
    ("p", "consent_officer", "*", "consents", "attest", "allow"),
    ("p", "agency_admin", "*", "trust_rules", "manage", "allow"),
]
TABLES = ("consent_attestations", "consent_trust_rules", "consent_trust_rule_ends")


def upgrade() -> None:
    op.add_column("consents", sa.Column("recorded_by_agency", sa.String(length=32), nullable=True))
    suspend_append_only("consents")
    op.execute(
        "UPDATE consents SET recorded_by_agency = ("
        "SELECT agencies.code FROM users JOIN agencies ON agencies.id = users.agency_id "
        "WHERE users.username = consents.recorded_by)"
    )
    resume_append_only("consents")

    op.create_table(
        "consent_attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("attested_by", sa.String(length=150), nullable=False),
        sa.Column("attested_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consents.id"],
            name=op.f("fk_consent_attestations_consent_id_consents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_attestations")),
        sa.UniqueConstraint(
            "consent_id", "agency_code", name=op.f("uq_consent_attestations_consent_id")
        ),
    )
    op.create_table(
        "consent_trust_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("partner_code", sa.String(length=32), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_trust_rules")),
    )
    with op.batch_alter_table("consent_trust_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_trust_rules_agency_code"), ["agency_code"], unique=False
        )
    op.create_table(
        "consent_trust_rule_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("ended_by", sa.String(length=150), nullable=False),
        sa.Column("ended_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["consent_trust_rules.id"],
            name=op.f("fk_consent_trust_rule_ends_rule_id_consent_trust_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_trust_rule_ends")),
        sa.UniqueConstraint("rule_id", name=op.f("uq_consent_trust_rule_ends_rule_id")),
    )
    for table in TABLES:
        append_only(table)
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    for table in reversed(TABLES):
        op.drop_table(table)
    op.drop_column("consents", "recorded_by_agency")
