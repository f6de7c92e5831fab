"""The HTTP service through a real TestClient, real files and a real database
(SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import json

import pytest

from synthcheck import AnalysisOptions
from synthcheck.models import load_classifier
from synthcheck.pipeline import Scanner
from synthcheck.service.settings import Settings

from .conftest import EXAMPLES, png_with_declared_size
from .service_helpers import BACKENDS, database_url, running_app

USER, ADMIN, RATE = "user-key-1", "admin-key-1", "rate-key-1"
MAX_UPLOAD = 1_500_000
RATE_PER_MINUTE = 20


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"service-{request.param}")
    settings = Settings(database_url=database_url(request.param, tmp), api_keys=[USER, RATE],
                        admin_api_keys=[ADMIN], workers=1, max_upload_bytes=MAX_UPLOAD,
                        max_batch_bytes=3 * MAX_UPLOAD, max_batch_files=4, max_pixels=20_000_000,
                        rate_limit_per_minute=RATE_PER_MINUTE, key_refresh_s=0,
                        audit_fallback_path=tmp / "fallback.jsonl")
    with running_app(settings) as client:
        client.settings = settings
        yield client


def auth(key: str = USER) -> dict[str, str]:
    return {"X-API-Key": key}


def test_health_and_readiness(service):
    assert service.get("/healthz").json() == {"status": "ok"}
    ready = service.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["database"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_missing_or_wrong_key_is_401(service, headers):
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    response = service.post("/v1/analyze", files={"file": ("a.jpg", data)}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert service.get("/v1/models", headers=headers).status_code == 401


def test_analyze_returns_the_cli_report(service):
    name = "sd_webui_parameters.png"
    data = (EXAMPLES / name).read_bytes()
    response = service.post("/v1/analyze", files={"file": (name, data)}, headers=auth())
    assert response.status_code == 200
    assert response.headers["X-Synthcheck-Audit"] == "recorded"
    got = response.json()
    expected = Scanner(AnalysisOptions(max_pixels=20_000_000, max_file_bytes=MAX_UPLOAD)).analyze(
        data, "default", path=name).to_dict()
    got.pop("timings_ms"), expected.pop("timings_ms")
    assert got == expected
    assert got["risk"]["level"] == "high" and "generator_parameters" in {e["code"] for e in got["evidence"]}


def test_raw_body_and_policy(service):
    data = (EXAMPLES / "camera_exif.jpg").read_bytes()
    response = service.post("/v1/analyze?policy=kyc", content=data,
                            headers={**auth(), "Content-Type": "image/jpeg"})
    assert response.status_code == 200
    report = response.json()
    assert report["risk"]["policy"] == "kyc" and report["media_type"] == "image/jpeg"
    bad = service.post("/v1/analyze?policy=lenient", content=data, headers={**auth(), "Content-Type": "image/jpeg"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_batch_keeps_order_and_isolates_errors(service):
    files = [("files", ("plain.jpg", (EXAMPLES / "plain_photo.jpg").read_bytes())),
             ("files", ("notes.txt", b"not an image at all")),
             ("files", ("empty.png", b"")),
             ("files", ("ai.jpg", (EXAMPLES / "ai_signed_c2pa.jpg").read_bytes()))]
    response = service.post("/v1/analyze/batch", files=files, headers=auth())
    assert response.status_code == 200
    reports = response.json()["reports"]
    assert [r["path"] for r in reports] == ["plain.jpg", "notes.txt", "empty.png", "ai.jpg"]
    assert [r["error"]["code"] if r["error"] else None for r in reports] == [
        None, "unsupported_format", "empty_file", None]
    assert reports[3]["provenance"]["state"] == "valid"
    too_many = service.post("/v1/analyze/batch", files=files + files[:1], headers=auth())
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_files"
    # far over the limit, the parser stops reading (Starlette's own 400 before): the same 413
    far_too_many = service.post("/v1/analyze/batch", files=files * 3, headers=auth())
    assert far_too_many.status_code == 413 and far_too_many.json()["error"]["code"] == "too_many_files"
    two = service.post("/v1/analyze", files=[("file", files[0][1]), ("file", files[3][1])], headers=auth())
    assert two.status_code == 422 and "send one file" in two.json()["error"]["message"]


def test_bad_uploads_get_clear_errors(service):
    bomb = service.post("/v1/analyze", files={"file": ("bomb.png", png_with_declared_size(30_000, 30_000))},
                        headers=auth())
    assert bomb.status_code == 422
    assert bomb.json()["error"]["code"] == "image_too_large" and "pixels" in bomb.json()["error"]["message"]
    empty = service.post("/v1/analyze", content=b"", headers={**auth(), "Content-Type": "image/png"})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_file"
    corrupt = service.post("/v1/analyze", content=b"\xff\xd8\xff\xe0garbage",
                           headers={**auth(), "Content-Type": "image/jpeg"})
    assert corrupt.status_code == 422 and corrupt.json()["error"]["code"] == "corrupt_image"
    assert corrupt.json()["report"]["sha256"]  # the failed analysis' report comes along
    no_field = service.post("/v1/analyze", files={"other": ("a.jpg", b"x")}, headers=auth())
    assert no_field.status_code == 422 and no_field.json()["error"]["code"] == "invalid_upload"


def test_upload_size_limit_while_streaming(service):
    big = b"\xff\xd8" + b"\0" * (MAX_UPLOAD + 200_000)
    declared = service.post("/v1/analyze", content=big, headers={**auth(), "Content-Type": "image/jpeg"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "upload_too_large"

    def chunks():  # no Content-Length: the limit must cut the stream itself
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]
    streamed = service.post("/v1/analyze", content=chunks(), headers={**auth(), "Content-Type": "image/jpeg"})
    assert streamed.status_code == 413
    multipart = service.post("/v1/analyze", files={"file": ("big.jpg", big)}, headers=auth())
    assert multipart.status_code == 413
    assert 'synthcheck_http_requests_total{route="/v1/analyze",status="413"} 3.0' in service.get("/metrics").text


def test_upload_size_message_gives_the_configured_limit(service):
    settings = service.settings
    one = service.post("/v1/analyze", content=b"\0" * (settings.max_upload_bytes + 100_000),
                       headers={**auth(), "Content-Type": "image/jpeg"})
    assert one.status_code == 413
    assert f"limit of {settings.max_upload_bytes} bytes (SYNTHCHECK_MAX_UPLOAD_BYTES)" in one.json()["error"]["message"]
    batch = service.post("/v1/analyze/batch", files={"files": ("a.jpg", b"\0" * (settings.max_batch_bytes + 100_000))},
                         headers=auth())
    assert batch.status_code == 413
    assert f"limit of {settings.max_batch_bytes} bytes (SYNTHCHECK_MAX_BATCH_BYTES)" in batch.json()["error"]["message"]


def test_rate_limit_per_key(service):
    statuses = [service.get("/v1/models", headers=auth(RATE)).status_code for _ in range(RATE_PER_MINUTE + 5)]
    assert statuses[:RATE_PER_MINUTE] == [200] * RATE_PER_MINUTE
    assert statuses[-1] == 429
    limited = service.get("/v1/models", headers=auth(RATE))
    assert int(limited.headers["Retry-After"]) >= 1
    assert service.get("/v1/models", headers=auth(USER)).status_code == 200  # other keys unaffected


def test_models_endpoint_lists_the_card(service):
    body = service.get("/v1/models", headers=auth()).json()
    assert body["schema_version"] and body["pipeline_version"].startswith("synthcheck/")
    assert "classifier" in body["analyzers"]
    card, face_head = body["models"]
    shipped = load_classifier().card
    assert card["name"] == shipped.name and card["weights_sha256"] == shipped.weights_sha256
    assert face_head["name"] == "synthcheck-faces-v1" and face_head["members"][0]["backbone_sha256"] == (
        shipped.members[0].backbone_sha256)  # the faces check's head, on the classifier's backbone


def test_audit_records_every_decision_for_admins_only(service):
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    response = service.post("/v1/analyze?policy=moderation", files={"file": ("p.jpg", data)}, headers=auth())
    record_id = int(response.headers["X-Synthcheck-Audit-Ids"])
    report = response.json()
    assert service.get("/v1/audit", headers=auth()).status_code == 403
    page = service.get(f"/v1/audit?sha256={report['sha256']}&policy=moderation", headers=auth(ADMIN)).json()
    record = next(r for r in page["items"] if r["id"] == record_id)
    assert record["score"] == report["risk"]["score"] and record["level"] == report["risk"]["level"]
    assert record["evidence_codes"] == [e["code"] for e in report["evidence"]]
    assert record["model"] == f"{report['classifier']['model']} {report['classifier']['version']}"
    assert record["size_bytes"] == len(data)
    assert record["key_id"].startswith("env-") and USER not in json.dumps(record)
    # failures are decisions too
    service.post("/v1/analyze", content=b"", headers={**auth(), "Content-Type": "image/png"})
    errors = service.get("/v1/audit?limit=1000", headers=auth(ADMIN)).json()["items"]
    assert any(r["error_code"] == "empty_file" for r in errors)


def test_audit_pagination(service):
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    for _ in range(3):
        service.post("/v1/analyze", content=data, headers={**auth(), "Content-Type": "image/jpeg"})
    seen, after = [], 0
    while True:
        page = service.get(f"/v1/audit?limit=2&after_id={after}", headers=auth(ADMIN)).json()
        seen += [r["id"] for r in page["items"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 3
    assert service.get("/v1/audit?level=extreme", headers=auth(ADMIN)).status_code == 422


def test_metrics_count_requests_and_results(service):
    service.post("/v1/analyze", files={"file": ("a.jpg", (EXAMPLES / "plain_photo.jpg").read_bytes())},
                 headers=auth())
    text = service.get("/metrics").text
    assert 'synthcheck_http_requests_total{route="/v1/analyze",status="200"}' in text
    assert "synthcheck_http_request_duration_seconds_bucket" in text
    assert 'synthcheck_results_total{level="' in text
    assert 'synthcheck_audit_records_total{status="recorded"}' in text


def test_page_and_openapi(service):
    page = service.get("/")
    assert page.status_code == 200 and "synthcheck" in page.text
    schema = service.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/analyze/batch", "/v1/models", "/v1/audit", "/healthz", "/readyz"} <= set(
        schema["paths"])
