"""Models, health, readiness and Prometheus metrics."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...analyzers import list_analyzers
from ...models import MODELS_DIR, resolve
from ...models.card import CLIP_PROBE_ARCHITECTURE, ModelCard
from ...models.face_probe import DEFAULT_FACE_HEAD, FACE_HEADS_DIR
from ...pipeline import PIPELINE_VERSION
from ...report import SCHEMA_VERSION
from ..deps import get_state, require_key
from ..state import ServiceState

router = APIRouter(tags=["service"])


def _loaded_cards(state: ServiceState) -> list[dict]:
    name = state.options.classifier
    if name is None:
        return []
    card = ModelCard.load(MODELS_DIR / resolve(name) / "card.json")
    cards = [asdict(card)]
    if state.options.faces and card.architecture == CLIP_PROBE_ARCHITECTURE:  # the face head the faces check uses
        cards.append(asdict(ModelCard.load(FACE_HEADS_DIR / DEFAULT_FACE_HEAD / "card.json")))
    return cards


@router.get("/v1/models", dependencies=[Depends(require_key)])
def models(state: ServiceState = Depends(get_state)) -> dict:
    """The model cards in use, the analyzers and the pipeline and report-schema versions."""
    return {"pipeline_version": PIPELINE_VERSION, "schema_version": SCHEMA_VERSION,
            "analyzers": list_analyzers(), "models": _loaded_cards(state)}


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: ServiceState = Depends(get_state)) -> JSONResponse:
    """Ready once the analysis workers have loaded the models (503 before). The database
    is reported but does not decide readiness: analysis answers without it."""
    ready = state.ready.is_set()
    body = {"status": "ready" if ready else "starting", "workers": state.executor.workers,
            "database": "ok" if state.database_ok() else "unavailable"}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(state: ServiceState = Depends(get_state)) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
