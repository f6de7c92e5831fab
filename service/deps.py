"""Request dependencies, all in one place: the service state, the caller's key, admin rights."""

from __future__ import annotations

import math

from fastapi import Depends, Header, Request

from .errors import ApiError
from .keys import Principal
from .state import ServiceState


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


def require_key(x_api_key: str | None = Header(default=None, description="an API key"),
                state: ServiceState = Depends(get_state)) -> Principal:
    principal = state.keyring.lookup(x_api_key)
    if principal is None:
        raise ApiError(401, "unauthorized", "missing or unknown API key (send it in the X-API-Key header)",
                       headers={"WWW-Authenticate": "APIKey"})
    wait_s = state.limiter.acquire(principal.key_id)
    if wait_s > 0:
        raise ApiError(429, "rate_limited", f"rate limit of {state.settings.rate_limit_per_minute} requests "
                       f"per minute reached for this key; retry in {math.ceil(wait_s)} s",
                       headers={"Retry-After": str(math.ceil(wait_s))})
    return principal


def require_admin(principal: Principal = Depends(require_key)) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this endpoint needs an admin key")
    return principal
