"""The HTTP face of `synthcheck.analyze()` (import name `synthcheck.service`).

`create_app()` builds the FastAPI application; `synthcheck serve` runs it with uvicorn.
Imported on first use, so that registering the service's commands on the CLI costs nothing."""

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
