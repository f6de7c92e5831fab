"""Models, health, readiness and Prometheus metrics."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...analyzers import list_analyzers
from ...models import MODELS_DIR, resolve
from ...models.card import ModelCard
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
    if state.options.faces:  # the face head the faces check scores windows with
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
    """Ready once the analysis workers have loaded the models and the audit log can be
    written (503 otherwise): `audit` says where a record would go now (`database`,
    `fallback`, `unavailable`); the fallback file counts only with SYNTHCHECK_AUDIT_FALLBACK."""
    audit = state.audit.destination()
    auditable = audit == "database" or (audit == "fallback" and state.settings.audit_fallback)
    status = "starting" if not state.ready.is_set() else "ready" if auditable else "audit_unavailable"
    body = {"status": status, "workers": state.executor.workers,
            "database": "ok" if audit == "database" else "unavailable", "audit": audit}
    return JSONResponse(body, status_code=200 if status == "ready" else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(state: ServiceState = Depends(get_state)) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
