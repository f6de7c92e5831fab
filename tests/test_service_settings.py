"""Where the service keeps its files, and settings refused at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

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
