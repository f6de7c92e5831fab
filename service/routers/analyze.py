"""POST /v1/analyze (one file) and POST /v1/analyze/batch (several, one report each)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from ...report import Report
from ..audit import AuditResult, record_for
from ..deps import get_state, require_key
from ..errors import STATUS_FOR_REPORT_ERROR, ApiError
from ..keys import Principal
from ..state import ServiceState

router = APIRouter(prefix="/v1", tags=["analysis"])

PolicyName = Literal["default", "moderation", "kyc"]
THUMBNAILS = Query(False, description="embed the C2PA manifest thumbnail (base64) in provenance.thumbnail")

_UPLOAD_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_BATCH_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


async def _form_files(request: Request, field: str, max_files: int, too_many: ApiError) -> list[tuple[str, bytes]]:
    """The uploaded files of `field`; more than `max_files` file parts raise `too_many` (the
    parser stops there, so a huge batch is never read whole)."""
    try:
        form = await request.form(max_files=max_files, max_fields=16)
    except (MultiPartException, HTTPException) as exc:
        # Inside an application Starlette turns the parser's MultiPartException into a 400
        # HTTPException; both say what was wrong, which becomes our own error.
        message = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        if message.startswith("Too many files"):
            raise too_many from exc
        raise ApiError(422, "invalid_upload", f"could not read the multipart body: {message}") from exc
    uploads = [u for u in form.getlist(field) if isinstance(u, UploadFile)]
    files = []
    for index, upload in enumerate(uploads):
        files.append((upload.filename or f"upload-{index}", await upload.read()))
        await upload.close()
    await form.close()
    return files


async def _record_decisions(state: ServiceState, reports: list[Report], principal: Principal, endpoint: str,
                            policy: str) -> AuditResult:
    """Audit log first, then the metrics (results, errors, where the records went)."""
    records = [record_for(r, principal.key_id, endpoint, policy) for r in reports]
    result = await asyncio.to_thread(state.audit.write, records)
    state.metrics.audit.labels(result.status).inc(len(records))
    for r in reports:
        if r.risk is not None:
            state.metrics.results.labels(policy, r.risk.level).inc()
        if r.error is not None:
            state.metrics.analysis_errors.labels(r.error.code).inc()
    return result


def _audit_headers(result: AuditResult) -> dict[str, str]:
    headers = {"X-Synthcheck-Audit": result.status}
    if result.ids:
        headers["X-Synthcheck-Audit-Ids"] = ",".join(map(str, result.ids))
    return headers


@router.post("/analyze", openapi_extra=_UPLOAD_DOC, summary="Analyse one image",
             responses={401: {"description": "missing or unknown key"}, 413: {"description": "upload too large"},
                        422: {"description": "not an analysable image (too many pixels, corrupt, empty...)"},
                        429: {"description": "rate limited"}, 504: {"description": "analysis timed out"}})
async def analyze_one(request: Request, policy: PolicyName = Query("default"), thumbnails: bool = THUMBNAILS,
                      principal: Principal = Depends(require_key),
                      state: ServiceState = Depends(get_state)) -> JSONResponse:
    """The same JSON report as `synthcheck scan --format json` gives for one file. Send the
    image as multipart field `file`, or as the raw body with its Content-Type. The
    `X-Synthcheck-Audit` header says whether the decision was recorded."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        files = await _form_files(request, "file", 1, ApiError(
            422, "invalid_upload", "send one file (POST /v1/analyze/batch takes several)"))
        if not files:
            raise ApiError(422, "invalid_upload", "the multipart body has no `file` field")
        name, data = files[0]
    else:
        name, data = "upload", await request.body()
    report = await state.executor.analyze(data, policy, name, thumbnails)
    headers = _audit_headers(await _record_decisions(state, [report], principal, "analyze", policy))
    if report.error is not None and report.risk is None:
        raise ApiError(STATUS_FOR_REPORT_ERROR.get(report.error.code, 422), report.error.code,
                       report.error.message, headers=headers, extra={"report": report.to_dict()})
    return JSONResponse(report.to_dict(), headers=headers)


@router.post("/analyze/batch", openapi_extra=_BATCH_DOC, summary="Analyse several images",
             responses={401: {"description": "missing or unknown key"}, 413: {"description": "upload too large"},
                        429: {"description": "rate limited"}})
async def analyze_batch(request: Request, policy: PolicyName = Query("default"), thumbnails: bool = THUMBNAILS,
                        principal: Principal = Depends(require_key),
                        state: ServiceState = Depends(get_state)) -> JSONResponse:
    """Several files as multipart fields `files`: one report per file, in order; a file
    that cannot be analysed gets a report with `error`, the others are unaffected."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(422, "invalid_upload", "send the files as multipart/form-data fields named `files`")
    limit = state.settings.max_batch_files
    too_many = ApiError(413, "too_many_files", f"at most {limit} files per batch (SYNTHCHECK_MAX_BATCH_FILES)")
    files = await _form_files(request, "files", limit + 1, too_many)
    if not files:
        raise ApiError(422, "invalid_upload", "the multipart body has no `files` field")
    if len(files) > limit:
        raise too_many
    extra_wait = state.limiter.acquire(principal.key_id, cost=len(files) - 1) if len(files) > 1 else 0
    if extra_wait > 0:
        raise ApiError(429, "rate_limited", f"this batch of {len(files)} files exceeds the key's rate limit",
                       headers={"Retry-After": str(int(extra_wait) + 1)})
    reports = await asyncio.gather(*(state.executor.analyze(data, policy, name, thumbnails) for name, data in files))
    headers = _audit_headers(await _record_decisions(state, list(reports), principal, "batch", policy))
    return JSONResponse({"reports": [r.to_dict() for r in reports]}, headers=headers)
