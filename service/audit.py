"""The audit log: one record per decision, written to the database; when the database
cannot take it, to a fallback JSON-lines file, and the failure is counted and logged.
A record is never dropped silently."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..report import Report
from .db import AuditRecord, database_problem, utcnow

log = logging.getLogger("synthcheck.service")


def record_for(report: Report, key_id: str, endpoint: str, policy: str) -> AuditRecord:
    classifier = report.classifier
    return AuditRecord(
        created_at=utcnow(), key_id=key_id, endpoint=endpoint, sha256=report.sha256,
        size_bytes=report.size_bytes, media_type=report.media_type, policy=policy,
        score=report.risk.score if report.risk else None, level=report.risk.level if report.risk else None,
        error_code=report.error.code if report.error else None,
        evidence_codes=[e.code for e in report.evidence],
        model=f"{classifier.model} {classifier.version}" if classifier else None,
        pipeline_version=report.pipeline_version, duration_ms=report.timings_ms.get("total"))


def _appendable(path: Path) -> bool:
    """The fallback file could take a line (without creating it: an empty fallback file would
    read as "records went there")."""
    if not path.exists():
        return os.access(path.parent, os.W_OK)
    try:
        with path.open("a", encoding="utf-8"):
            return True
    except OSError:
        return False


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (records are stored in UTC)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass
class AuditResult:
    """Where the records of one request went: `recorded`, `fallback` or `lost`."""

    status: str
    ids: list[int]


class AuditLog:
    def __init__(self, sessions: sessionmaker, fallback_path: Path):
        self._sessions = sessions
        self._fallback_path = fallback_path
        self._fallback_lock = threading.Lock()
        # Set when the fallback file failed and cleared when it next takes a record: there is
        # no probe for a full disk short of writing, and probe lines would pollute the file.
        self._fallback_failed = False

    def write(self, records: list[AuditRecord]) -> AuditResult:
        try:
            with self._sessions.begin() as session:
                session.add_all(records)
                session.flush()
                ids = [r.id for r in records]
            return AuditResult("recorded", ids)
        except Exception as exc:
            log.error("audit log: the database did not take %d record(s): %s", len(records), exc)
        try:
            with self._fallback_lock, self._fallback_path.open("a", encoding="utf-8") as out:
                for r in records:
                    out.write(json.dumps({**r.to_dict(), "id": None}) + "\n")
            self._fallback_failed = False
            return AuditResult("fallback", [])
        except Exception as exc:
            self._fallback_failed = True
            log.critical("audit log: %d record(s) LOST (fallback file %s failed: %s)",
                         len(records), self._fallback_path, exc)
            return AuditResult("lost", [])

    def destination(self) -> str:
        """Where a record would go now: `database`, `fallback`, or `unavailable` (neither)."""
        if database_problem(self._sessions) is None:
            return "database"
        return "unavailable" if self._fallback_failed or not _appendable(self._fallback_path) else "fallback"

    def query(self, *, since: datetime | None = None, until: datetime | None = None, level: str | None = None,
              policy: str | None = None, key_id: str | None = None, sha256: str | None = None,
              after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        statement = select(AuditRecord).where(AuditRecord.id > after_id)
        for column, value in ((AuditRecord.level, level), (AuditRecord.policy, policy),
                              (AuditRecord.key_id, key_id), (AuditRecord.sha256, sha256)):
            if value is not None:
                statement = statement.where(column == value)
        since, until = _utc(since), _utc(until)
        if since is not None:
            statement = statement.where(AuditRecord.created_at >= since)
        if until is not None:
            statement = statement.where(AuditRecord.created_at < until)
        statement = statement.order_by(AuditRecord.id).limit(limit)
        with self._sessions() as session:
            return [r.to_dict() for r in session.scalars(statement)]

    def iterate(self, page_size: int = 1000, **filters: Any) -> Iterator[dict[str, Any]]:
        after_id = 0
        while True:
            page = self.query(after_id=after_id, limit=page_size, **filters)
            yield from page
            if len(page) < page_size:
                return
            after_id = page[-1]["id"]
