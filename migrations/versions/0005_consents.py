"""Consents: versions, revocations and signed documents, all append-only.

A consent is never edited in place (an amendment is a new version that supersedes)
and a revocation is an event, so the database itself refuses UPDATE and DELETE.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Consent officers record and read consents; privacy officers read them.
POLICY = [
    ("p", "consent_officer", "*", "consents", "manage", "allow"),
    ("p", "consent_officer", "*", "consents", "read", "allow"),
    ("p", "privacy_officer", "*", "consents", "read", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "consent_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_encrypted", sa.Text(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=150), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_consent_documents_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_documents")),
    )
    with op.batch_alter_table("consent_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_documents_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consent_documents_sha256"), ["sha256"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.String(length=32), nullable=True),
        sa.Column("provision", sa.String(length=8), nullable=False),
        sa.Column("source_agencies", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("expiry_event", sa.String(length=200), nullable=True),
        sa.Column("signed_at", TS, nullable=False),
        sa.Column("grantor_kind", sa.String(length=32), nullable=False),
        sa.Column("grantor_name", sa.String(length=200), nullable=False),
        sa.Column("evidence_method", sa.String(length=32), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("revocation_right_acknowledged", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint(
            "provision IN ('permit', 'deny')", name=op.f("ck_consents_provision_known")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_consents_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["consent_documents.id"],
            name=op.f("fk_consents_document_id_consent_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["consents.id"], name=op.f("fk_consents_supersedes_consents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint("supersedes", name=op.f("uq_consents_supersedes")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "consent_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
        sa.Column("revoked_by", sa.String(length=150), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_consent_revocations_consent_id_consents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_revocations")),
        sa.UniqueConstraint("consent_id", name=op.f("uq_consent_revocations_consent_id")),
    )
    for table in ("consent_documents", "consents", "consent_revocations"):
        append_only(table)
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    for table in ("consent_revocations", "consents", "consent_documents"):
        op.drop_table(table)
