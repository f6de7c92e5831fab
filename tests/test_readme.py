"""Every command and snippet in the README runs as written, from the repository root,
once the first command has made `.venv`.

The README's fenced blocks say how they are checked by their info string:
- ```bash / ```python: run, in order, and must exit 0;
- ```bash serve: started in the background (a server), left running for the blocks after it;
- ```bash slow: long jobs (training, benchmarks, a whole test run): every `synthcheck` line must
  parse with the CLI's own parser and name files that exist, every `python bench/...` script
  must answer --help;
- ```bash setup: the two set-up commands; `.ci/run` must run the test command exactly;
- ```text: a synopsis, not run.

Blocks run with their /tmp paths moved under the test's own temporary directory and with
TMPDIR there too (Ray's session files included): a test run leaves nothing in /tmp, so the
README's resumable Ray line never finds the reports of an earlier test run and skips them all."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import REPO

README = REPO / "README.md"
# The documents beside the README (training, development) hold only long jobs and synopses.
DOCUMENTS = sorted((REPO / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def blocks(document: Path = README) -> list[tuple[str, set[str], str, int]]:
    text = document.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append((match.group(1), set(match.group(2).split()), match.group(3), line))
    return found


TMP_PATH = re.compile(r"/tmp/[\w.-]+")


def _environment(tmp_path: Path) -> dict[str, str]:
    venv_bin = REPO / ".venv" / "bin"
    if not (venv_bin / "synthcheck").exists():
        pytest.skip(f"{venv_bin}/synthcheck is absent: the README's first command has not been run here")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHCHECK_", "RAY_"))}
    env.update(PATH=f"{venv_bin}:{env.get('PATH', '')}", XDG_DATA_HOME=str(tmp_path / "data"),
               PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(tmp_path))
    return env


def _localised(body: str, tmp_path: Path) -> str:
    """A block as run by the tests: its /tmp paths under `tmp_path` (a user's /tmp is theirs)."""
    return body.replace("/tmp/", f"{tmp_path}/")


def test_runnable_blocks_write_only_under_the_tests_directory(tmp_path):
    runnable = [body for lang, tags, body, _ in blocks() if lang in ("bash", "python") and tags <= {"serve"}]
    assert any("/tmp/" in body for body in runnable)  # the README does name /tmp paths
    for body in runnable:
        assert "/tmp" not in _localised(body, tmp_path).replace(str(tmp_path), "")


def test_every_block_is_of_a_known_kind():
    kinds = {(lang, frozenset(tags)) for lang, tags, _, _ in blocks()}
    allowed = {("bash", frozenset()), ("python", frozenset()), ("text", frozenset()),
               *(("bash", frozenset({tag})) for tag in ("serve", "slow", "setup"))}
    assert kinds <= allowed, kinds - allowed
    assert ("bash", frozenset({"serve"})) in kinds and ("python", frozenset()) in kinds


def test_the_documents_beside_the_readme_hold_only_long_jobs_and_synopses():
    assert DOCUMENTS, "docs/ has no documents"
    for document in DOCUMENTS:
        kinds = {(lang, frozenset(tags)) for lang, tags, _, _ in blocks(document)}
        assert kinds <= {("bash", frozenset({"slow"})), ("text", frozenset())}, (document.name, kinds)


def test_the_readme_links_each_document_and_every_local_link_resolves():
    text = README.read_text()
    for document in DOCUMENTS:
        assert f"(docs/{document.name})" in text, f"README does not link docs/{document.name}"
    for source in (README, *DOCUMENTS):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", source.read_text()):
            assert (source.parent / target).exists(), f"{source.name}: broken link {target}"


def test_setup_commands_are_what_ci_runs():
    setup = [body.strip() for lang, tags, body, _ in blocks() if "setup" in tags]
    assert len(setup) == 2
    install, tests = setup
    assert install.startswith("python3 -m venv .venv") and "synthcheck scan examples/images" in install
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci, f"{tests!r} is not a line of .ci/run"
    # the first command is the base install (no extras: scanning needs no torch), as in .ci/run
    assert ".venv/bin/pip install -e . &&" in install and ".venv/bin/pip install --quiet -e ." in ci
    assert ".venv/bin/synthcheck setup" in ci and "-e '.[test,train,ray]'" in tests


def _port_of(serve_block: str) -> int:
    return int(re.search(r"--port (\d+)", serve_block).group(1))


def _wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the README's server exited: {server.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the README's server never became ready")


def _state(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def test_runnable_blocks_run_as_written(tmp_path_factory):
    # short: Ray's socket paths under TMPDIR must stay under 107 bytes
    tmp_path = tmp_path_factory.mktemp("rd")
    env = _environment(tmp_path)
    named = sorted({Path(p) for lang, tags, body, _ in blocks() if lang in ("bash", "python") and tags <= {"serve"}
                    for p in TMP_PATH.findall(body)})
    before = {path: _state(path) for path in named}
    servers: list[subprocess.Popen] = []
    failures: list[str] = []
    try:
        for lang, tags, body, line in blocks():
            if lang == "bash" and "serve" in tags:
                port = _port_of(body)
                with socket.socket() as probe:
                    assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is taken: the README's " \
                        "server cannot start"
                server = subprocess.Popen(["bash", "-euo", "pipefail", "-c", _localised(body, tmp_path)], cwd=REPO,
                                          env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          start_new_session=True)
                servers.append(server)
                _wait_ready(port, server)
                continue
            if tags or lang not in ("bash", "python"):
                continue
            command = ["bash", "-euo", "pipefail", "-c", _localised(body, tmp_path)] if lang == "bash" else \
                [str(REPO / ".venv" / "bin" / "python"), "-c", _localised(body, tmp_path)]
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                failures.append(f"README line {line} ({lang}) exited {done.returncode}:\n{body}\n"
                                f"{done.stderr[-1500:]}")
    finally:
        for server in servers:
            os.killpg(server.pid, 15)
            server.wait(timeout=60)
    assert not failures, "\n\n".join(failures)
    # the README's /tmp paths were neither made nor touched: the blocks wrote under tmp_path
    assert {path: _state(path) for path in named} == before
    # nothing was written into the checkout (the audit database lives in the data directory)
    leftovers = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", "synthcheck-audit.db",
                                "audit.db", "synthcheck-audit-fallback.jsonl"], cwd=REPO, capture_output=True,
                               text=True).stdout
    assert leftovers == ""


def _check_synthcheck_line(argv: list[str]) -> None:
    from synthcheck.cli import _parser

    args = _parser().parse_args(argv[1:])  # argparse exits (SystemExit) on a bad line
    for name in ("config",):
        value = getattr(args, name, None)
        if value is not None:
            assert (REPO / value).is_file(), f"{value} does not exist"


def test_slow_blocks_parse_and_name_what_exists(tmp_path):
    env = _environment(tmp_path)
    checked = 0
    for _lang, tags, body, line in (b for document in (README, *DOCUMENTS) for b in blocks(document)):
        if "slow" not in tags:
            continue
        for raw in body.splitlines():
            command = raw.split("  #")[0].strip()
            for part in (p.strip() for p in command.split("&&")):
                words = shlex.split(part)
                while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value prefixes
                    words = words[1:]
                if not words:
                    continue
                if words[0] == "synthcheck":
                    _check_synthcheck_line(words)
                elif words[0] == "python" and words[1].startswith("bench/"):
                    done = subprocess.run(["python", words[1], "--help"], cwd=REPO, env=env, capture_output=True,
                                          text=True, timeout=300)
                    assert done.returncode == 0, (line, part, done.stderr[-800:])
                elif words[0] == "python" and words[1:3] == ["-m", "pytest"]:
                    for test_file in (w for w in words if w.startswith("tests/")):
                        assert (REPO / test_file).is_file(), (line, test_file)
                elif words[0].startswith(".ci/"):
                    assert (REPO / words[0]).is_file(), (line, words[0])
                elif words[0] == "apt-get":
                    pass  # a Debian install line, as .ci/run has
                else:
                    raise AssertionError(f"README line {line}: no check for {part!r}")
                checked += 1
    assert checked >= 10
