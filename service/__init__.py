"""The HTTP face of `synthcheck.analyze()` (import name `synthcheck.service`).

`create_app()` builds the FastAPI application; `synthcheck serve` runs it with uvicorn.
Imported on first use, so that registering the service's commands on the CLI costs nothing."""

from ..lazy import lazy_getattr

__all__ = ["create_app"]


__getattr__ = lazy_getattr(__name__, {"create_app": "app"}, globals())
