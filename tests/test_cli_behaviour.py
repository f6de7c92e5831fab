"""What a new user meets in the first hour with the CLI: exit statuses, folders with
non-image files, pipes and devices, words, --help, the model list."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from synthcheck import testkit
from synthcheck.cli import main
from synthcheck.fusion import fuse
from synthcheck.policy import get_policy
from synthcheck.report import Evidence
from synthcheck.wording import percent, plural, score_text

from .conftest import EXAMPLES, REPO


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_scan_that_analysed_nothing_exits_3(capsys, tmp_path):
    code, out, err = run_cli(capsys, "scan", "/nonexistent", "--format", "jsonl")
    assert code == 3 and "no input could be analysed" in err
    assert json.loads(out)["error"]["code"] == "unreadable_path"
    code, _, _ = run_cli(capsys, "scan", "/nonexistent", str(EXAMPLES / "plain_photo.jpg"), "--format", "jsonl",
                         "--no-classifier")
    assert code == 0  # one input analysed: the missing one is reported, the scan is not a failure


def _mixed_folder(tmp_path):
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "README.md").write_text("# photos\n")
    (folder / "key.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (folder / "sub" / "script.py").write_text("print('hi')\n")
    (folder / "photo.jpg").write_bytes(testkit.encode(testkit.photo_like(320, 240), "JPEG", quality=85))
    (folder / "text_named.jpg").write_text("not an image, whatever its name says")
    return folder


def test_non_images_in_folders_are_skipped_and_counted(capsys, tmp_path):
    folder = _mixed_folder(tmp_path)
    code, out, err = run_cli(capsys, "scan", str(folder), "--format", "jsonl", "--workers", "0",
                             "--no-classifier", "--fail-on", "high")
    names = [json.loads(line)["path"].rsplit("/", 1)[-1] for line in out.splitlines()]
    assert names == ["photo.jpg"]
    assert code == 0  # --fail-on is not tripped by a README or a .pem
    assert "4 files in directories skipped: not images" in err and "1 file:" in err
    # named explicitly, a non-image always gets its report
    code, out, _ = run_cli(capsys, "scan", str(folder / "README.md"), str(folder / "photo.jpg"),
                           "--format", "jsonl", "--workers", "0", "--no-classifier")
    assert [(json.loads(line)["error"] or {}).get("code") for line in out.splitlines()] == ["unsupported_format", None]
    code, out, err = run_cli(capsys, "scan", str(folder), "--format", "jsonl", "--workers", "0",
                             "--no-classifier", "--include-non-images")
    assert len(out.splitlines()) == 5 and "skipped" not in err


def _special_files(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    sock_path = tmp_path / "socket.jpg"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    return fifo, sock_path, server


def test_pipes_devices_and_sockets_are_refused_at_once(tmp_path):
    fifo, sock_path, server = _special_files(tmp_path)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(testkit.encode(testkit.photo_like(200, 150), "JPEG", quality=85))
    try:
        # In a subprocess with a hard limit: before the fix, the FIFO blocked open() forever.
        # Named directly (in-process) and inside a directory (worker pool, 600 s per-file timeout).
        for args in ([str(fifo), "/dev/null", str(sock_path)], [str(tmp_path), "--workers", "2", "--timeout", "600"]):
            done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "scan", *args, "--format", "jsonl",
                                   "--no-classifier"], capture_output=True, text=True, timeout=240)
            reports = {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, done.stdout.splitlines())}
            specials = {name: r for name, r in reports.items() if name != "photo.jpg"}
            assert specials, done.stderr
            for name, report in specials.items():
                assert report["error"]["code"] == "unreadable_path", name
                assert "not a regular file" in report["error"]["message"], name
            if "photo.jpg" in reports:
                assert reports["photo.jpg"]["risk"] is not None
    finally:
        server.close()


def test_probabilities_are_never_rounded_to_certainty(capsys):
    assert percent(0.9961) == "> 99%" and percent(0.004) == "< 1%" and percent(0.42) == "42%"
    assert score_text(0.9961) == ">0.99" and score_text(0.5) == "0.50"
    assert plural(1, "file") == "1 file" and plural(2, "file") == "2 files"
    risk = fuse([Evidence("c2pa", "c2pa_ai_generated", "Declared AI.", 7.0),
                 Evidence("generator_text", "generation_settings", "Settings found.", 6.0)], get_policy("default"))
    assert risk.summary.startswith("High risk (> 99%).") and "100%" not in risk.summary
    assert 0 < risk.score < 1
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES / "sd_webui_parameters.png"), "--format", "table")
    assert "1.00" not in out.splitlines()[1]


def test_help_is_for_users_and_loads_no_heavy_module():
    probe = ("import sys\nfrom synthcheck.cli import main\n"
             "for args in (['--help'], ['scan', '--help'], ['serve', '--help']):\n"
             "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
             "heavy = [m for m in ('torch', 'timm', 'c2pa', 'cv2', 'fastapi', 'synthcheck.service.app',"
             " 'synthcheck.pipeline') if m in sys.modules]\n"
             "print('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-500:]
    text = done.stdout
    assert "scan() / analyze()" not in text
    assert "AI-generated or AI-edited" in text
    flat = " ".join(text.split())
    assert "kyc: medium from 0.35, high from 0.7" in flat
    assert "default: 60" in flat and "default: 120000000" in flat  # --timeout, --max-pixels
    assert "default: 127.0.0.1" in flat and "default: 8000" in flat  # serve --host/--port
    assert "3 no input could be analysed" in flat


def test_scanning_with_the_default_model_never_imports_torch():
    """The shipped models are CLIP heads on ONNX Runtime: a scan, in process and with a
    worker pool, reaches a classifier verdict, and the scanning process never imports torch,
    timm or torchvision."""
    probe = ("import sys\nfrom synthcheck import analyze, testkit\nfrom synthcheck.scan import scan\n"
             f"report = analyze((__import__('pathlib').Path({str(EXAMPLES)!r}) / 'camera_exif.jpg').read_bytes())\n"
             f"pooled = list(scan([{str(EXAMPLES / 'plain_photo.jpg')!r}, {str(EXAMPLES / 'camera_exif.jpg')!r}],"
             " workers=2))\n"
             "print('VERDICT', report.classifier is not None and all(r.classifier is not None for r in pooled))\n"
             "print('TORCH', [m for m in ('torch', 'timm', 'torchvision') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "VERDICT True" in done.stdout and "TORCH []" in done.stdout, done.stdout[-500:]


BLOCK_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):  # as in the base install: the train extra is absent
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision', 'timm'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTorch())
"""


def test_without_the_train_extra_scanning_works_and_training_names_the_extra(tmp_path):
    from synthcheck.models import DEFAULT_MODEL

    probe = BLOCK_TORCH + (
        "from synthcheck import analyze\nfrom synthcheck.cli import main\n"
        f"report = analyze({str(EXAMPLES / 'camera_exif.jpg')!r})\n"
        "print('SCAN', report.classifier.model, report.risk.level)\n"
        f"print('SCAN_CLI', main(['scan', {str(EXAMPLES / 'plain_photo.jpg')!r}, '--format', 'jsonl']))\n"
        f"print('TRAIN', main(['calibrate', '--model', {DEFAULT_MODEL!r}, '--dry-run']))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert f"SCAN {DEFAULT_MODEL} low" in done.stdout and "SCAN_CLI 0" in done.stdout, done.stdout[-800:]
    assert "TRAIN 2" in done.stdout
    assert "needs the `train` extra" in done.stderr and "pip install 'synthcheck[train]'" in done.stderr


def test_models_are_listed_in_version_order_with_the_default_marked(capsys):
    from synthcheck.models import DEFAULT_MODEL, list_models

    shipped = list_models()
    # the default, the previous default (audits re-run its decisions) and clip-v4, whose backbone the
    # face heads' training configs read (base_model); older cards live in training/experiments/retired/
    assert DEFAULT_MODEL in shipped and len(shipped) <= 3
    from synthcheck.models.face_probe import list_face_heads

    code, out, _ = run_cli(capsys, "models")
    lines = out.splitlines()
    heads = [line for line in lines if line.endswith("(face head, used by the faces check)")]
    assert [line.split()[0] for line in heads] == list_face_heads() and heads
    lines = [line for line in lines if line not in heads]
    assert code == 0 and [line.split()[0] for line in lines] == shipped
    assert [line for line in lines if line.endswith("(default)")] == [line for line in lines
                                                                       if line.startswith(DEFAULT_MODEL + " ")]
    from synthcheck.models import _version_order

    assert sorted(["synthcheck-lite0-v13", "synthcheck-lite0-v9", "synthcheck-lite0-v12"], key=_version_order) == [
        "synthcheck-lite0-v9", "synthcheck-lite0-v12", "synthcheck-lite0-v13"]


def test_camera_make_is_not_repeated_inside_the_model():
    from synthcheck.analyzers.metadata import camera_name

    assert camera_name("Canon", "Canon EOS 80D") == "Canon EOS 80D"
    assert camera_name("NIKON CORPORATION", "NIKON D750") == "NIKON D750"
    assert camera_name("Apple", "iPhone 13") == "Apple iPhone 13"
    assert camera_name(None, "X100V") == "X100V" and camera_name("Sony", None) == "Sony"
    from synthcheck import AnalysisOptions, analyze

    # the sample's EXIF says Make "Canon", Model "Canon EOS 80D"
    report = analyze(EXAMPLES / "camera_exif.jpg", options=AnalysisOptions(watermarks=False, classifier=None))
    assert report.metadata["exif"]["make"] == "Canon" and report.metadata["exif"]["model"] == "Canon EOS 80D"
    messages = " ".join(e.message for e in report.evidence)
    assert "Camera EXIF: Canon EOS 80D" in messages and "Canon Canon" not in messages


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_one_file_summary_uses_the_singular(capsys, fmt):
    _, _, err = run_cli(capsys, "scan", str(EXAMPLES / "plain_photo.jpg"), "--format", fmt, "--no-classifier")
    assert "synthcheck: 1 file:" in err


def _truncated_jpeg(tmp_path):
    """An example photo cut in half: its header reads, its pixels do not decode."""
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_file_with_a_check_that_did_not_run_trips_fail_on(capsys, tmp_path):
    """Issue 29, item 1: a truncated JPEG (its pixels never checked) lands at `medium` with
    `decode` in risk.unchecked; `--fail-on high` must still exit 1, as for a file that could
    not be read at all: someone can truncate an AI image so that its pixels are never checked."""
    truncated = _truncated_jpeg(tmp_path)
    code, out, err = run_cli(capsys, "scan", str(EXAMPLES / "plain_photo.jpg"), str(truncated), "--fail-on",
                             "high", "--format", "jsonl", "--workers", "0")
    reports = [json.loads(line) for line in out.splitlines()]
    assert reports[1]["risk"]["level"] == "medium" and reports[1]["risk"]["unchecked"] == ["decode"]
    assert code == 1, err
    assert "not fully analysed" in err
    # the plain photo alone (low, every check ran) does not trip it
    code, _, _ = run_cli(capsys, "scan", str(EXAMPLES / "plain_photo.jpg"), "--fail-on", "high", "--format", "jsonl",
                         "--workers", "0")
    assert code == 0
    # and scan --help says so
    code, out, _ = run_cli_help(capsys, "scan")
    flat = " ".join(out.split())
    assert "a check could not run on it" in flat and "whatever its level" in flat


def run_cli_help(capsys, command: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


SLOW_START = """
import sys, time
from synthcheck.pipeline import Scanner
analyze = Scanner.analyze
started = []
def slow_first_analysis(self, source, policy="default", path=None):
    # as a cold worker: its first analysis loads the models (seconds); 'slow' files hang
    if not started:
        started.append(True)
        time.sleep(4)
    if 'slow' in str(path or source):
        time.sleep(30)
    return analyze(self, source, policy, path)
Scanner.analyze = slow_first_analysis
from synthcheck.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_timeout_counts_the_analysis_of_a_file_not_the_worker_start_up(tmp_path):
    """Issue 29, item 2: workers load and warm up the models before they take a file, so a
    --timeout shorter than the start-up (4 s here) but longer than an analysis stops no file;
    a file that does hang is still stopped, and the message says what happened."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (folder / name).write_bytes((EXAMPLES / "camera_exif.jpg").read_bytes())
    done = subprocess.run([sys.executable, "-c", SLOW_START, "scan", str(folder), "--workers", "2", "--timeout", "2",
                           "--no-classifier", "--format", "jsonl"], capture_output=True, text=True, timeout=240)
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["error"] for r in reports] == [None] * 4, done.stdout[-2000:]
    assert done.returncode == 0, done.stderr[-1500:]
    (folder / "slow.jpg").write_bytes((EXAMPLES / "camera_exif.jpg").read_bytes())
    done = subprocess.run([sys.executable, "-c", SLOW_START, "scan", str(folder), "--workers", "2", "--timeout", "2",
                           "--no-classifier", "--format", "jsonl"], capture_output=True, text=True, timeout=240)
    errors = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in map(json.loads, done.stdout.splitlines())}
    assert errors == {"a.jpg": None, "b.jpg": None, "c.jpg": None, "d.jpg": None,
                      "slow.jpg": {"code": "timeout", "message": "analysis took longer than 2 s and was stopped"}}


@pytest.mark.parametrize("argv, option", [
    (["scan", "PHOTO", "--workers", "-1"], "--workers"),
    (["scan", "PHOTO", "--workers", "two"], "--workers"),
    (["scan", "PHOTO", "--timeout", "-5"], "--timeout"),
    (["scan", "PHOTO", "--timeout", "0"], "--timeout"),
    (["scan", "PHOTO", "--timeout", "nan"], "--timeout"),
    (["scan", "PHOTO", "--max-pixels", "0"], "--max-pixels"),
    (["scan", "PHOTO", "--max-pixels", "-10"], "--max-pixels"),
    (["scan", "--engine", "ray", "PHOTO", "--output", "x.jsonl", "--workers", "0"], "--workers"),
    (["eval", "--limit", "-1"], "--limit"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
])
def test_numeric_options_are_checked_as_usage_errors(tmp_path, argv, option):
    """Issue 29, item 5: a value that cannot work is a usage error (exit 2, the option named),
    before any file is read, instead of an error report for every file. In a subprocess with
    a limit: a `serve` that accepted its value would start serving."""
    argv = [str(EXAMPLES / "plain_photo.jpg") if a == "PHOTO" else a for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHCHECK_")}
    env["XDG_DATA_HOME"] = str(tmp_path)  # a serve that started anyway keeps its database there
    try:
        done = subprocess.run([sys.executable, "-m", "synthcheck.cli", *argv], capture_output=True, text=True,
                              timeout=60, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)} was accepted and ran")
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout[-500:], done.stderr[-500:])
    assert f"argument {option}:" in done.stderr, done.stderr[-800:]


def test_zero_workers_still_means_in_process(capsys):
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES / "plain_photo.jpg"), "--workers", "0", "--timeout", "0.5",
                           "--max-pixels", "1000000", "--format", "jsonl", "--no-classifier")
    assert code == 0 and json.loads(out)["risk"]


def test_an_unknown_policy_is_a_usage_error(capsys, monkeypatch):
    """Issue 30: get_policy's typed error changes nothing the user sees. argparse refuses the
    name first; an UnknownPolicyError from deeper down is the same exit 2 with its message."""
    from synthcheck import scan
    from synthcheck.errors import UnknownPolicyError
    from synthcheck.policy import get_policy

    with pytest.raises(SystemExit) as exited:
        main(["scan", "--policy", "strict", str(EXAMPLES / "plain_photo.jpg")])
    assert exited.value.code == 2 and "invalid choice: 'strict'" in capsys.readouterr().err

    def scan_with_unknown_policy(paths, policy, *args, **kwargs):
        get_policy("strict")

    monkeypatch.setattr(scan, "scan", scan_with_unknown_policy)  # the CLI imports it when it runs
    code, _, err = run_cli(capsys, "scan", str(EXAMPLES / "plain_photo.jpg"), "--no-classifier")
    assert code == 2
    assert err.strip() == "synthcheck scan: unknown policy 'strict'; choose one of default, moderation, kyc"
    assert issubclass(UnknownPolicyError, ValueError)
