"""Where the service keeps its files, and settings refused at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO


def _run(args, cwd, **env):
    full = {**os.environ, **env}
    full.pop("SYNTHCHECK_DATABASE_URL", None)
    full.pop("SYNTHCHECK_AUDIT_FALLBACK_PATH", None)
    full.update(env)
    return subprocess.run([sys.executable, "-m", "synthcheck.cli", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


def test_keys_and_audit_default_to_the_per_user_data_directory(tmp_path):
    work, data = tmp_path / "checkout", tmp_path / "data"
    work.mkdir()
    done = _run(["keys", "create", "ci"], work, XDG_DATA_HOME=str(data))
    assert done.returncode == 0, done.stderr
    database = data / "synthcheck" / "audit.db"
    assert f"keys and audit log in sqlite:///{database}" in done.stderr
    assert database.is_file()
    assert list(work.iterdir()) == []  # nothing written where the command ran
    done = _run(["audit", "export", "--format", "jsonl"], work, XDG_DATA_HOME=str(data))
    assert done.returncode == 0 and list(work.iterdir()) == []


def test_database_url_overrides_and_a_bad_one_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    done = _run(["keys", "list"], tmp_path, SYNTHCHECK_DATABASE_URL=url, XDG_DATA_HOME=str(tmp_path / "data"))
    assert done.returncode == 0 and (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "data" / "synthcheck" / "audit.db").exists()
    done = _run(["keys", "list"], tmp_path, SYNTHCHECK_DATABASE_URL="not a url")
    assert done.returncode == 2
    assert "SYNTHCHECK_DATABASE_URL" in done.stderr and "not a database URL" in done.stderr


def test_audit_files_in_a_checkout_are_ignored_by_git():
    names = ["synthcheck-audit.db", "synthcheck-audit.db-wal", "synthcheck-audit.db-shm",
             "synthcheck-audit-fallback.jsonl"]
    done = subprocess.run(["git", "check-ignore", *names], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.split() == names


def _serve(tmp_path, timeout_s: float = 90, **env) -> subprocess.CompletedProcess:
    """`synthcheck serve` on a free port; a refused start-up returns, a started one runs
    until the timeout (TimeoutExpired: it was not refused)."""
    env.setdefault("SYNTHCHECK_AUDIT_FALLBACK_PATH", str(tmp_path / "fallback.jsonl"))
    full = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "SYNTHCHECK_WORKERS": "1", **env}
    full.pop("SYNTHCHECK_AUDIT_FALLBACK", None)
    full.update(env)
    return subprocess.run([sys.executable, "-m", "synthcheck.cli", "serve", "--port", "0"], cwd=tmp_path,
                          env=full, capture_output=True, text=True, timeout=timeout_s)


def test_a_database_that_cannot_be_reached_or_written_is_refused_at_start_up(tmp_path):
    existing = tmp_path / "existing.db"
    assert _run(["keys", "list"], tmp_path, SYNTHCHECK_DATABASE_URL=f"sqlite:///{existing}").returncode == 0
    read_only = f"sqlite:///file:{existing}?mode=ro&uri=true"  # answers queries, refuses records
    for url in ("postgresql+psycopg://x:y@127.0.0.1:1/db", "sqlite:////proc/audit.db", read_only):
        done = _serve(tmp_path, SYNTHCHECK_DATABASE_URL=url)
        assert done.returncode == 2, done.stderr
        assert "SYNTHCHECK_DATABASE_URL" in done.stderr and "SYNTHCHECK_AUDIT_FALLBACK=1" in done.stderr
        assert "Traceback" not in done.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("file:")]  # the URI is no folder to make


def test_unsupported_database_schemes_are_named_not_a_traceback(tmp_path):
    for command in (["serve", "--port", "0"], ["keys", "list"]):
        done = _run(command, tmp_path, SYNTHCHECK_DATABASE_URL="mysql://a@b/c",
                    XDG_DATA_HOME=str(tmp_path / "data"))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "SYNTHCHECK_DATABASE_URL" in done.stderr
        assert "sqlite:///" in done.stderr and "postgresql+psycopg://" in done.stderr


def _serve_until_started(tmp_path, **env) -> str:
    """Start `synthcheck serve` (port 0), read its output until uvicorn says it runs, stop it."""
    import queue
    import threading

    tmp_path.mkdir()
    full = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "SYNTHCHECK_WORKERS": "1",
            "SYNTHCHECK_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}",
            "SYNTHCHECK_AUDIT_FALLBACK_PATH": str(tmp_path / "fallback.jsonl"), **env}
    for name in ("SYNTHCHECK_API_KEYS", "SYNTHCHECK_ADMIN_API_KEYS"):
        if name not in env:
            full.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "synthcheck.cli", "serve", "--port", "0"], cwd=tmp_path,
                               env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen = []
    try:
        while not any("Uvicorn running" in line for line in seen):
            seen.append(lines.get(timeout=120))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return "".join(seen)


def test_serve_without_any_key_says_so_and_how_to_create_one(tmp_path):
    output = _serve_until_started(tmp_path / "none")
    assert "no API key" in output and "synthcheck keys create NAME" in output
    with_key = _serve_until_started(tmp_path / "env", SYNTHCHECK_API_KEYS="k")
    assert "no API key" not in with_key


def test_serve_help_lists_every_setting_and_says_keys_are_needed(capsys):
    import pytest

    from synthcheck.cli import main
    from synthcheck.service.settings import Settings

    with pytest.raises(SystemExit) as stop:
        main(["serve", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    missing = [name for name in Settings.model_fields if f"SYNTHCHECK_{name.upper()}" not in text]
    assert not missing, missing
    assert "X-API-Key" in text and "synthcheck keys create NAME" in text and "/v1/analyze" in text


def test_every_analysis_option_scan_sets_is_a_setting_of_the_service():
    """One source for options (issue 30): the service's Settings build AnalysisOptions
    (Settings.options), and every option `scan`'s flags change can be set there too (the
    thumbnails are a per-request query parameter instead)."""
    from dataclasses import fields

    from synthcheck.cli import _parser, _scan_options
    from synthcheck.options import AnalysisOptions
    from synthcheck.service.settings import Settings

    defaults = AnalysisOptions()
    flags = ["--no-watermark", "--no-faces", "--no-interim-trust", "--no-builtin-trust", "--max-pixels", "77",
             "--no-classifier"]
    from_flags = _scan_options(_parser().parse_args(["scan", "x.jpg", *flags]))
    settings = Settings(watermarks=False, faces=False, interim_trust=False, builtin_trust=False, max_pixels=77,
                        classifier=None, database_url="sqlite://")
    changed = {f.name for f in fields(AnalysisOptions)
               if f.init and getattr(from_flags, f.name) != getattr(defaults, f.name)}
    assert changed == {"watermarks", "faces", "interim_trust", "builtin_trust", "max_pixels", "classifier"}
    assert {name: getattr(settings.options, name) for name in changed} == {
        name: getattr(from_flags, name) for name in changed}
    assert settings.options is settings.options  # built once


def test_bad_trust_anchors_are_refused_once_naming_the_variable(tmp_path):
    from synthcheck.errors import ConfigurationError
    from synthcheck.service.settings import Settings

    bad = tmp_path / "anchors.pem"
    bad.write_text("not a certificate")
    settings = Settings(trust_anchors=bad, database_url="sqlite://")
    with pytest.raises(ConfigurationError, match="SYNTHCHECK_TRUST_ANCHORS"):
        print(settings.options)
