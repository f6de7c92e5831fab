"""Load the HTTP service: N uploads with C concurrent clients, on loopback.

    python bench/bench_service.py [--requests 300] [--concurrency 50] [--workers 2]
                                  [--images examples/images] [--url http://host:port --key KEY]

Without --url it starts `synthcheck serve` itself (SQLite audit log in a temporary folder,
a bootstrap key) and waits for /readyz. Every request must get an answer: the script
prints throughput, latency p50/p95/max, the status codes, the server's memory (its
process and analysis workers, after a warm-up and at the end) and the audit records
written, and exits 1 if any request failed at the transport level or got a 5xx.
A soak: --requests 3000 --concurrency 16."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from synthcheck.testkit import process_descendants, resident_mb


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of the server and its analysis workers."""
    return round(sum(resident_mb(p) for p in [pid, *process_descendants(pid)]), 1)


def start_server(workers: int, tmp: Path) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "bench-key"
    env = {**os.environ, "SYNTHCHECK_API_KEYS": key, "SYNTHCHECK_WORKERS": str(workers),
           "SYNTHCHECK_DATABASE_URL": f"sqlite:///{tmp / 'audit.db'}", "SYNTHCHECK_RATE_LIMIT_PER_MINUTE": "0",
           "SYNTHCHECK_REQUEST_TIMEOUT_S": "120", "SYNTHCHECK_AUDIT_FALLBACK_PATH": str(tmp / "fallback.jsonl")}
    process = subprocess.Popen([sys.executable, "-m", "synthcheck.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url, key
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not become ready")


async def run_load(url: str, key: str, files: list[tuple[str, bytes]], requests: int, concurrency: int):
    latencies: list[float] = []
    statuses: Counter = Counter()
    failures: list[str] = []
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(files[i % len(files)])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def worker():
            while not queue.empty():
                name, data = queue.get_nowait()
                t = time.perf_counter()
                try:
                    response = await client.post("/v1/analyze", files={"file": (name, data)},
                                                 headers={"X-API-Key": key})
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                latencies.append(time.perf_counter() - t)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return wall, latencies, statuses, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "images")
    parser.add_argument("--url", default=None, help="an already running service (else one is started)")
    parser.add_argument("--key", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    files = [(p.name, p.read_bytes()) for p in sorted(args.images.iterdir()) if p.is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        process = None
        if args.url:
            url, key = args.url, args.key
        else:
            process, url, key = start_server(args.workers, Path(tmp))
        try:
            asyncio.run(run_load(url, key, files, min(50, args.requests), args.concurrency))  # warm-up
            rss_start = tree_rss_mb(process.pid) if process else None
            wall, latencies, statuses, failures = asyncio.run(
                run_load(url, key, files, args.requests, args.concurrency))
            rss_end = tree_rss_mb(process.pid) if process else None
            metrics = httpx.get(f"{url}/metrics").text
            audit = {line.split("{")[1].split("}")[0]: float(line.split()[-1]) for line in metrics.splitlines()
                     if line.startswith("synthcheck_audit_records_total")}
        finally:
            if process:
                process.terminate()
                process.wait(timeout=30)
    result = {"requests": args.requests, "concurrency": args.concurrency, "workers": args.workers,
              "images": len(files), "mean_image_bytes": int(statistics.mean(len(d) for _, d in files)),
              "wall_s": round(wall, 2), "throughput_rps": round(args.requests / wall, 2),
              "latency_p50_ms": round(percentile(latencies, 0.5) * 1000),
              "latency_p95_ms": round(percentile(latencies, 0.95) * 1000),
              "latency_max_ms": round(max(latencies) * 1000), "statuses": dict(statuses),
              "transport_failures": len(failures), "server_rss_mb_after_warm_up": rss_start,
              "server_rss_mb_at_end": rss_end, "audit_records_by_status": audit}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    bad = failures or any(code >= 500 for code in statuses)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
