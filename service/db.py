"""The database: API keys and the audit log (SQLAlchemy 2, SQLite or PostgreSQL).

The schema is owned by the Alembic migrations in `migrations/versions/`; `upgrade()`
brings any database to the newest one (run at start-up and by the CLI commands)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

if TYPE_CHECKING:
    from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("synthcheck.service")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # sha256 of the key: keys are 256-bit random strings, so a fast hash is enough
    # (no dictionary to guess from); the key itself is shown once, at creation.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRecord(Base):
    """One decision. Never the image: only its hash, size and what was concluded."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    endpoint: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    level: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_codes: Mapped[list] = mapped_column(JSON, default=list)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    pipeline_version: Mapped[str] = mapped_column(String(64))
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)

    def to_dict(self) -> dict:
        row = {name: getattr(self, name) for name in AUDIT_FIELDS}
        # SQLite hands back times without their zone; they were stored in UTC
        created = row["created_at"]
        row["created_at"] = (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(
            UTC).isoformat()
        row["evidence_codes"] = list(row["evidence_codes"] or [])
        return row


AUDIT_FIELDS = tuple(column.name for column in AuditRecord.__table__.columns)


def database_problem(sessions: sessionmaker) -> str | None:
    """Why the database cannot take an audit record now, or None if it can. A probe record
    is inserted and rolled back: answering a query is not enough (a read-only database, a
    missing table or a full disk answer queries and refuse records). Its explicit id leaves
    PostgreSQL's id sequence untouched."""
    try:
        with sessions() as session:
            session.add(AuditRecord(id=-1, created_at=utcnow(), key_id="probe", endpoint="probe", policy="probe",
                                    pipeline_version="probe", evidence_codes=[]))
            session.flush()
            session.rollback()
        return None
    except Exception as exc:
        return reason(exc)


def reason(exc: Exception) -> str:
    """The driver's own words, first line (without SQLAlchemy's SQL and links)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_database(settings: Settings, serving: bool = False) -> Engine:
    """The engine, migrated. A database that cannot be reached or migrated, or (when serving)
    written, is refused with a ConfigurationError naming SYNTHCHECK_DATABASE_URL. A service
    with SYNTHCHECK_AUDIT_FALLBACK set starts anyway, its audit records going to the fallback
    file until the database is back."""
    from ..errors import ConfigurationError

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        problem = database_problem(make_sessionmaker(engine)) if serving else None
    except Exception as exc:
        problem = reason(exc)
    if problem is None:
        return engine
    where, fallback = settings.where(), settings.audit_fallback_path
    if not serving or not settings.audit_fallback:
        engine.dispose()
        advice = (f"; fix it, or set SYNTHCHECK_AUDIT_FALLBACK=1 to serve anyway with the audit records "
                  f"going to {fallback} (SYNTHCHECK_AUDIT_FALLBACK_PATH) until it is back") if serving else ""
        raise ConfigurationError(f"SYNTHCHECK_DATABASE_URL: {where} cannot be reached or written ({problem})"
                                 f"{advice}")
    log.error("the audit log cannot be written to %s (%s): SYNTHCHECK_AUDIT_FALLBACK is set, so audit records "
              "go to %s until it is back, and /readyz says so", where, problem, fallback)
    return engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # concurrent readers while one writes
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
        return engine
    # A short connect timeout: when the database is down, a request must not hang on it.
    connect_args = {"connect_timeout": 3} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the schema migrations (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
