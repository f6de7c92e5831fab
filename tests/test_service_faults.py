"""The service under faults: a worker killed mid-analysis, the database down and the
disk full for the fallback audit file. It answers what it can, reports what it cannot,
and never loses an audit record silently."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

from PIL import Image

from synthcheck.service.settings import Settings
from synthcheck.testkit import process_descendants

from .conftest import EXAMPLES
from .service_helpers import running_app

DOWN_DB = "postgresql+psycopg://nobody:x@127.0.0.1:1/none"


def _pool_workers() -> list[int]:
    """The analysis workers: children of this process's multiprocessing forkserver."""
    workers = []
    for pid in process_descendants(os.getpid()):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            parent_cmdline = Path(f"/proc/{ppid}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if b"forkserver" in parent_cmdline:
            workers.append(pid)
    return workers


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _wait_until_busy(pids: list[int], idle: dict[int, int], timeout_s: float = 60.0) -> None:
    """Until one of the workers has used CPU since `idle` was read: the analysis has reached it.
    (A fixed sleep raced with the analysis itself, which takes about a second on a fast machine.)"""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(_cpu_ticks(pid) > idle[pid] + 1 for pid in pids):
            return
        time.sleep(0.01)
    raise AssertionError("no analysis worker started working on the request")


def _slow_png(side: int = 9000) -> bytes:
    """A small file whose decoding takes a while (81 MP of zeros, under the pixel limit)."""
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def test_worker_killed_mid_analysis_gives_500_and_the_service_goes_on(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'audit.db'}", api_keys=["k"], admin_api_keys=["a"],
                        workers=1, request_timeout_s=120, audit_fallback_path=tmp_path / "fallback.jsonl")
    slow = _slow_png()
    with running_app(settings) as client:
        workers = _pool_workers()
        assert workers, "no analysis worker found"
        idle = {pid: _cpu_ticks(pid) for pid in workers}
        result = {}
        request = threading.Thread(target=lambda: result.update(response=client.post(
            "/v1/analyze", content=slow, headers={"X-API-Key": "k", "Content-Type": "image/png"})))
        request.start()
        _wait_until_busy(workers, idle)  # the worker is now decoding 81 MP
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        request.join(timeout=120)
        response = result["response"]
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "died" in response.json()["error"]["message"]
        ok = client.post("/v1/analyze", content=(EXAMPLES / "plain_photo.jpg").read_bytes(),
                         headers={"X-API-Key": "k", "Content-Type": "image/jpeg"})
        assert ok.status_code == 200 and ok.json()["risk"]
        records = client.get("/v1/audit", headers={"X-API-Key": "a"}).json()["items"]
        assert [r["error_code"] for r in records] == ["internal_error", None]


def test_database_down_and_disk_full_the_loss_is_reported_and_counted(tmp_path):
    settings = Settings(database_url=DOWN_DB, api_keys=["k"], workers=1, audit_fallback=True,
                        audit_fallback_path=Path("/dev/full"))  # every write fails with ENOSPC
    with running_app(settings) as client:
        response = client.post("/v1/analyze", content=(EXAMPLES / "camera_exif.jpg").read_bytes(),
                               headers={"X-API-Key": "k", "Content-Type": "image/jpeg"})
        assert response.status_code == 200 and response.json()["risk"]  # analysis still answers
        assert response.headers["X-Synthcheck-Audit"] == "lost"
        assert 'synthcheck_audit_records_total{status="lost"} 1.0' in client.get("/metrics").text
        ready = client.get("/readyz")  # nowhere left to write the audit log: not ready
        assert ready.status_code == 503 and ready.json()["audit"] == "unavailable"
