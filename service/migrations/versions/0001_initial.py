"""API keys and audit records.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size_bytes", sa.Integer, nullable=True),
        sa.Column("media_type", sa.String(64), nullable=True),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("evidence_codes", sa.JSON, nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("pipeline_version", sa.String(64), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
    )
    op.create_index("ix_audit_records_created_at", "audit_records", ["created_at"])
    op.create_index("ix_audit_records_key_id", "audit_records", ["key_id"])
    op.create_index("ix_audit_records_sha256", "audit_records", ["sha256"])
    op.create_index("ix_audit_records_level", "audit_records", ["level"])


def downgrade() -> None:
    op.drop_table("audit_records")
    op.drop_table("api_keys")
