"""Cold-start wall time of the CLI, each command in a new process (what a user or a cron
job pays), its peak memory (the process's largest resident set), and which heavy modules
each one imported.

    python bench/bench_cli_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "images" / "camera_exif.jpg"
HEAVY = ("torch", "timm", "c2pa", "cv2", "fastapi")

COMMANDS = {
    "synthcheck --help": ["--help"],
    "synthcheck scan --help": ["scan", "--help"],
    "synthcheck models": ["models"],
    "synthcheck scan one.jpg --no-classifier": ["scan", str(SAMPLE), "--no-classifier", "--format", "jsonl"],
    "synthcheck scan one.jpg": ["scan", str(SAMPLE), "--format", "jsonl"],
}

# Runs main() as the console script does, then reports the heavy modules it loaded.
PROBE = """
import sys
from synthcheck.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
import resource
print("PEAK_MB=%.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), file=sys.stderr)
sys.exit(code)
"""


def run_once(args: list[str]) -> tuple[float, str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True,
                          text=True, cwd=REPO)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0,):
        raise SystemExit(f"{args} exited {done.returncode}: {done.stderr[-500:]}")
    lines = done.stderr.splitlines()
    heavy = [line for line in lines if line.startswith("HEAVY=")][-1][6:]
    peak = float([line for line in lines if line.startswith("PEAK_MB=")][-1][8:])
    return elapsed, heavy or "none", peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per command (default: %(default)s)")
    args = parser.parse_args()
    print(f"{'command':<42} {'median s':>9} {'min s':>7} {'peak MB':>8}  heavy modules imported")
    for name, argv in COMMANDS.items():
        times, peaks, heavy = [], [], ""
        for _ in range(args.runs):
            elapsed, heavy, peak = run_once(argv)
            times.append(elapsed)
            peaks.append(peak)
        print(f"{name:<42} {statistics.median(times):>9.2f} {min(times):>7.2f} {max(peaks):>8.0f}  {heavy}")


if __name__ == "__main__":
    main()
