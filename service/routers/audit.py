"""GET /v1/audit: the decisions recorded, for admins, with filters and pagination."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.exc import SQLAlchemyError

from ..deps import get_state, require_admin
from ..errors import ApiError
from ..state import ServiceState

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", dependencies=[Depends(require_admin)],
            responses={403: {"description": "not an admin key"},
                       503: {"description": "the audit database cannot be read"}})
async def audit(since: datetime | None = Query(None, description="ISO 8601, inclusive"),
                until: datetime | None = Query(None, description="ISO 8601, exclusive"),
                level: Literal["low", "medium", "high"] | None = None,
                policy: Literal["default", "moderation", "kyc"] | None = None,
                key_id: str | None = Query(None, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
                sha256: str | None = Query(None, pattern=r"^[0-9a-f]{64}$"),
                after_id: int = Query(0, ge=0, le=2**62, description="the `next_after_id` of the previous page"),
                limit: int = Query(100, ge=1, le=1000),
                state: ServiceState = Depends(get_state)) -> dict:
    """Records in id order; pass `next_after_id` back as `after_id` for the next page
    (null when this is the last page)."""
    try:
        items = await asyncio.to_thread(state.audit.query, since=since, until=until, level=level, policy=policy,
                                        key_id=key_id, sha256=sha256, after_id=after_id, limit=limit)
    except SQLAlchemyError as exc:
        raise ApiError(503, "database_unavailable", f"the audit database cannot be read: {exc}") from exc
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}
