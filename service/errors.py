"""HTTP errors live only in the service layer: one JSON shape for all of them,
`{"error": {"code": ..., "message": ...}}` (plus the `report` when an analysis failed)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra or {}


# What an analysis error means for a single-file request.
STATUS_FOR_REPORT_ERROR = {
    "file_too_large": 413,
    "image_too_large": 422,
    "empty_file": 422,
    "unsupported_format": 422,
    "corrupt_image": 422,
    "timeout": 504,
    "internal_error": 500,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


async def api_error_handler(_request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, **exc.extra), status_code=exc.status,
                        headers=exc.headers)


async def http_error_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def validation_error_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return JSONResponse(error_body("invalid_request", problems), status_code=422)
