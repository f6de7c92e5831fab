"""`create_app()`: routers per resource, one state object built at start-up."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from .. import __version__
from .errors import ApiError, api_error_handler, http_error_handler, validation_error_handler
from .limits import BodySizeLimit, UploadLimit
from .routers import analyze, audit, info, web
from .settings import Settings
from .state import ServiceState

MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Uploads stay in memory (never spooled to a temporary file): no image is kept on
    # disk, even briefly. The size limit below bounds the memory this takes.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_batch_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = ServiceState.start(settings)
        try:
            yield
        finally:
            app.state.service.close()

    # FastAPIOffline: FastAPI with /docs and /redoc served from assets shipped in the package
    # (FastAPI's own pages load Swagger UI from a CDN, blank on an offline network).
    app = FastAPIOffline(title="synthcheck", version=__version__, lifespan=lifespan, favicon_url="/favicon.ico",
                  description="How likely is an image AI-generated or AI-edited, and why. "
                  "Authenticate with an API key in the `X-API-Key` header.")
    # ignore[arg-type]: Starlette types every handler as taking any Exception, so a handler typed for
    # the exception class it is registered for (which is all it is ever called with) is refused
    app.add_exception_handler(ApiError, api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    for router in (analyze.router, info.router, audit.router, web.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")

    def limit_for_path(path: str) -> UploadLimit | None:
        if path == "/v1/analyze":
            return UploadLimit(settings.max_upload_bytes, MULTIPART_OVERHEAD, "SYNTHCHECK_MAX_UPLOAD_BYTES")
        if path == "/v1/analyze/batch":
            return UploadLimit(settings.max_batch_bytes, MULTIPART_OVERHEAD, "SYNTHCHECK_MAX_BATCH_BYTES")
        return None

    app.add_middleware(BodySizeLimit, limit_for_path=limit_for_path)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Content-Type"])

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # Label by route template; requests cut off before routing (413) by their known
        # path; anything else as "unmatched", so label values stay few.
        path = request.url.path
        name = getattr(route, "path", None) or (path if limit_for_path(path) is not None else "unmatched")
        metrics = request.app.state.service.metrics
        metrics.requests.labels(name, str(response.status_code)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)
        return response

    return app
