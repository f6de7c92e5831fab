"""Databases and running apps for the service tests (SQLite always; PostgreSQL when one
is reachable — `.ci/run` starts one and sets SYNTHCHECK_TEST_REQUIRE_POSTGRES=1 so that
its absence fails instead of skipping)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("SYNTHCHECK_TEST_POSTGRES_URL",
                              "postgresql+psycopg://synthcheck:synthcheck@127.0.0.1:5432/synthcheck_test")
BACKENDS = ["sqlite", "postgresql"]


def postgres_or_skip() -> str:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:  # a clean schema for this run
            connection.execute(text("DROP TABLE IF EXISTS audit_records, api_keys, alembic_version"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("SYNTHCHECK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); .ci/run starts one")
    return POSTGRES_URL


def database_url(backend: str, tmp_dir: Path) -> str:
    return f"sqlite:///{tmp_dir / 'audit.db'}" if backend == "sqlite" else postgres_or_skip()


def wait_ready(client, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"/readyz not 200 after {timeout_s} s: {client.get('/readyz').json()}")


@contextmanager
def running_app(settings):
    from fastapi.testclient import TestClient

    from synthcheck.service import create_app

    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        yield client


@contextmanager
def live_server(tmp_dir: Path, **env_settings: str):
    """`synthcheck serve` in a subprocess on a free loopback port; yields its URL once ready."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SYNTHCHECK_WORKERS": "1", "SYNTHCHECK_DATABASE_URL": f"sqlite:///{tmp_dir / 'audit.db'}",
           "SYNTHCHECK_AUDIT_FALLBACK_PATH": str(tmp_dir / "fallback.jsonl"),
           **{f"SYNTHCHECK_{k.upper()}": v for k, v in env_settings.items()}}
    process = subprocess.Popen([sys.executable, "-m", "synthcheck.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError("the server did not become ready:\n" + process.stdout.read().decode())
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
