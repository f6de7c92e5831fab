"""API keys: created and revoked with `synthcheck keys`, stored as sha256 hashes.

The service checks keys against an in-memory snapshot (bootstrap keys from the settings
plus the stored ones, refreshed every `key_refresh_s`), so a database outage does not stop
analysis: the last good snapshot keeps serving. A key missing from the snapshot is looked
up in the database before it is refused, so a key works as soon as `keys create` prints it;
a revoked key may keep working until the next refresh."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from .db import ApiKey, utcnow

log = logging.getLogger("synthcheck.service")

KEY_PREFIX = "sck_"


@dataclass(frozen=True)
class Principal:
    """Who made a request: the key's id (recorded in the audit log), never the key."""

    key_id: str
    name: str
    is_admin: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(sessions: sessionmaker, name: str, is_admin: bool = False) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the key itself (shown once, never stored)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(id=secrets.token_hex(6), name=name, key_hash=hash_key(key), is_admin=is_admin,
                 created_at=utcnow())
    with sessions.begin() as session:
        session.add(row)
    return row, key


def list_keys(sessions: sessionmaker) -> list[ApiKey]:
    with sessions() as session:
        return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(sessions: sessionmaker, key_id: str) -> bool:
    with sessions.begin() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        return True


class KeyRing:
    """Looks up the Principal of a presented key."""

    def __init__(self, sessions: sessionmaker | None, bootstrap: list[str], bootstrap_admin: list[str],
                 refresh_s: float):
        self._sessions = sessions
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._bootstrap: dict[str, Principal] = {}
        for is_admin, keys in ((False, bootstrap), (True, bootstrap_admin)):
            for key in keys:
                digest = hash_key(key)
                self._bootstrap[digest] = Principal(f"env-{digest[:8]}", "from SYNTHCHECK_"
                                                    f"{'ADMIN_' if is_admin else ''}API_KEYS", is_admin)
        self._stored: dict[str, Principal] = {}
        self._loaded_at = float("-inf")

    def refresh(self) -> None:
        if self._sessions is None:
            return
        try:
            with self._sessions() as session:
                rows = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
        except Exception as exc:  # keep serving with the last snapshot
            log.error("could not refresh API keys from the database: %s", exc)
            self._loaded_at = time.monotonic()  # retry after the interval, not on every request
            return
        self._stored = {r.key_hash: Principal(r.id, r.name, r.is_admin) for r in rows}
        self._loaded_at = time.monotonic()

    def lookup(self, key: str | None) -> Principal | None:
        if not key:
            return None
        digest = hash_key(key)
        if digest in self._bootstrap:
            return self._bootstrap[digest]
        with self._lock:
            if time.monotonic() - self._loaded_at > self._refresh_s:
                self.refresh()
            known = self._stored.get(digest)
        return known if known is not None else self._find(digest)

    def _find(self, digest: str) -> Principal | None:
        """One key created since the last refresh (an indexed query by its hash). Not under
        the lock: a slow or down database must not hold up the lookups of known keys."""
        if self._sessions is None:
            return None
        try:
            with self._sessions() as session:
                row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest,
                                                           ApiKey.revoked_at.is_(None))).first()
        except Exception as exc:
            log.error("could not look up an API key in the database: %s", exc)
            return None
        if row is None:
            return None
        principal = Principal(row.id, row.name, row.is_admin)
        with self._lock:
            self._stored[digest] = principal
        return principal
