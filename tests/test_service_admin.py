"""`synthcheck keys` and `synthcheck audit export` on SQLite and PostgreSQL, the schema
migrations, and the service with its database down."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import inspect

from synthcheck.cli import main
from synthcheck.service.audit import AuditLog
from synthcheck.service.db import current_revision, make_engine, make_sessionmaker, upgrade
from synthcheck.service.settings import Settings

from .conftest import EXAMPLES
from .service_helpers import BACKENDS, database_url, running_app


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, monkeypatch):
    url = database_url(request.param, tmp_path)
    monkeypatch.setenv("SYNTHCHECK_DATABASE_URL", url)
    monkeypatch.setenv("SYNTHCHECK_AUDIT_FALLBACK_PATH", str(tmp_path / "fallback.jsonl"))
    return url


def test_migrations_create_the_schema_and_are_idempotent(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == "0001"
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "audit_records", "alembic_version"} <= tables
    columns = {c["name"] for c in inspect(engine).get_columns("audit_records")}
    assert {"sha256", "level", "score", "evidence_codes", "model", "pipeline_version", "key_id"} <= columns
    assert not {"image", "data", "pixels"} & columns  # never the image
    engine.dispose()


def test_keys_create_list_revoke_and_use(db_url, capsys, tmp_path):
    assert main(["keys", "create", "moderation bot"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("sck_") and len(key) > 40
    created = [line for line in out.err.splitlines() if line.startswith("created key")]
    key_id = created[0].split()[2]
    assert f"keys and audit log in {db_url}" in out.err or "keys and audit log in postgresql" in out.err
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "moderation bot" in listing and "active" in listing
    assert key not in listing  # only hashes are stored; the key is never shown again

    settings = Settings(database_url=db_url, workers=1, key_refresh_s=0,
                        audit_fallback_path=tmp_path / "fallback.jsonl")
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    with running_app(settings) as client:
        ok = client.post("/v1/analyze", content=data, headers={"X-API-Key": key, "Content-Type": "image/jpeg"})
        assert ok.status_code == 200
        assert client.get("/v1/audit", headers={"X-API-Key": key}).status_code == 403  # not an admin key
        assert main(["keys", "revoke", key_id]) == 0
        revoked = client.post("/v1/analyze", content=data, headers={"X-API-Key": key, "Content-Type": "image/jpeg"})
        assert revoked.status_code == 401
    assert main(["keys", "revoke", key_id]) == 1  # already revoked
    capsys.readouterr()
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    out = capsys.readouterr()
    exported = [json.loads(line) for line in out.out.splitlines()]
    assert [r["key_id"] for r in exported] == [key_id]
    assert "exported 1 audit record\n" in out.err  # not "1 audit records" (issue 29, item 8)


def _fill(db_url: str, tmp_path) -> list[dict]:
    from synthcheck import analyze
    from synthcheck.service.audit import record_for

    engine = make_engine(db_url)
    upgrade(engine)
    log = AuditLog(make_sessionmaker(engine), tmp_path / "fallback.jsonl")
    reports = [analyze(p, policy) for p in sorted(EXAMPLES.iterdir()) for policy in ("default", "kyc")]
    result = log.write([record_for(r, "k1", "analyze", r.risk.policy) for r in reports])
    assert result.status == "recorded" and len(result.ids) == len(reports)
    engine.dispose()
    return [r.to_dict() for r in reports]


def test_audit_export_csv_and_jsonl_with_filters(db_url, tmp_path, capsys):
    reports = _fill(db_url, tmp_path)
    out = tmp_path / "audit.csv"
    assert main(["audit", "export", "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["sha256"] for r in rows] == [r["sha256"] for r in reports]
    assert rows[0]["evidence_codes"].split() == [e["code"] for e in reports[0]["evidence"]]
    capsys.readouterr()
    assert main(["audit", "export", "--level", "high", "--policy", "kyc"]) == 0
    high = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [r for r in reports if r["risk"]["level"] == "high" and r["risk"]["policy"] == "kyc"]
    assert len(high) == len(expected) > 0 and all(r["level"] == "high" for r in high)


DOWN_DB = "postgresql+psycopg://nobody:x@127.0.0.1:1/none"


def test_database_down_is_refused_at_start_up_unless_the_fallback_is_chosen(tmp_path):
    from fastapi.testclient import TestClient

    from synthcheck.errors import ConfigurationError
    from synthcheck.service import create_app

    settings = Settings(database_url=DOWN_DB, api_keys=["k"], workers=1,
                        audit_fallback_path=tmp_path / "fallback.jsonl")
    with pytest.raises(ConfigurationError, match="SYNTHCHECK_DATABASE_URL.*SYNTHCHECK_AUDIT_FALLBACK=1"):
        with TestClient(create_app(settings)):
            pass


def test_database_down_analysis_answers_and_records_go_to_fallback(tmp_path):
    fallback = tmp_path / "fallback.jsonl"
    settings = Settings(database_url=DOWN_DB, api_keys=["k"], workers=1, audit_fallback_path=fallback,
                        audit_fallback=True)
    data = (EXAMPLES / "camera_exif.jpg").read_bytes()
    with running_app(settings) as client:
        ready = client.get("/readyz").json()
        assert ready["database"] == "unavailable" and ready["audit"] == "fallback"
        response = client.post("/v1/analyze", content=data, headers={"X-API-Key": "k", "Content-Type": "image/jpeg"})
        assert response.status_code == 200
        assert response.headers["X-Synthcheck-Audit"] == "fallback"
        metrics = client.get("/metrics").text
        assert 'synthcheck_audit_records_total{status="fallback"} 1.0' in metrics
    records = [json.loads(line) for line in fallback.read_text().splitlines()]
    assert len(records) == 1 and records[0]["sha256"] == response.json()["sha256"]
    assert records[0]["level"] == response.json()["risk"]["level"]


def test_analysis_over_the_time_limit_is_504_and_the_service_goes_on(tmp_path):
    from synthcheck import testkit

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'audit.db'}", api_keys=["k"], admin_api_keys=["a"],
                        workers=1, request_timeout_s=0.05, audit_fallback_path=tmp_path / "fallback.jsonl")
    big = testkit.encode(testkit.photo_like(4000, 3000, seed=3), "JPEG", quality=92)
    with running_app(settings) as client:
        for _ in range(2):  # the stopped worker is replaced: the second request is handled the same way
            response = client.post("/v1/analyze", content=big, headers={"X-API-Key": "k",
                                                                       "Content-Type": "image/jpeg"})
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "timeout"
        assert client.get("/readyz").status_code == 200
        records = client.get("/v1/audit", headers={"X-API-Key": "a"}).json()["items"]
        assert [r["error_code"] for r in records] == ["timeout", "timeout"]
        assert records[0]["sha256"] == response.json()["report"]["sha256"] and records[0]["size_bytes"] == len(big)


def test_audit_export_time_window(db_url, tmp_path, capsys):
    from datetime import UTC, datetime, timedelta

    reports = _fill(db_url, tmp_path)
    now = datetime.now(UTC)
    capsys.readouterr()
    since = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()  # no zone: read as UTC
    assert main(["audit", "export", "--since", since]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(reports)
    assert main(["audit", "export", "--until", (now - timedelta(hours=1)).isoformat()]) == 0
    assert capsys.readouterr().out == ""


def test_readyz_is_503_while_the_audit_log_cannot_be_written(db_url, tmp_path):
    """The database answers but refuses writes (its audit table is gone): not ready, and
    a decision made meanwhile still reaches the fallback file rather than being lost."""
    from sqlalchemy import text

    settings = Settings(database_url=db_url, api_keys=["k"], workers=1,
                        audit_fallback_path=tmp_path / "fallback.jsonl")
    with running_app(settings) as client:
        assert client.get("/readyz").json()["audit"] == "database"
        engine = make_engine(db_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE audit_records"))
        engine.dispose()
        ready = client.get("/readyz")  # the fallback file could take records, but was not chosen
        assert ready.status_code == 503 and ready.json()["status"] == "audit_unavailable"
        assert ready.json()["audit"] == "fallback" and ready.json()["database"] == "unavailable"
        data = (EXAMPLES / "plain_photo.jpg").read_bytes()
        response = client.post("/v1/analyze", content=data, headers={"X-API-Key": "k", "Content-Type": "image/jpeg"})
        assert response.status_code == 200 and response.headers["X-Synthcheck-Audit"] == "fallback"


def test_a_new_key_works_at_once(db_url, tmp_path, capsys):
    """The key snapshot is re-read every key_refresh_s; a key created meanwhile is found in
    the database on its first use rather than refused until then."""
    settings = Settings(database_url=db_url, workers=1, key_refresh_s=3600,
                        audit_fallback_path=tmp_path / "fallback.jsonl")
    with running_app(settings) as client:
        assert client.get("/v1/models", headers={"X-API-Key": "sck_not-created-yet"}).status_code == 401
        assert main(["keys", "create", "late"]) == 0
        key = capsys.readouterr().out.strip()
        assert client.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v1/models", headers={"X-API-Key": key + "x"}).status_code == 401
