"""The HTTP face of `synthcheck.analyze()` (import name `synthcheck.service`).

`create_app()` builds the FastAPI application; `synthcheck serve` runs it with uvicorn."""

from .app import create_app

__all__ = ["create_app"]
