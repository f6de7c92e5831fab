"""The `synthcheck scan` command and its JSONL contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synthcheck import testkit
from synthcheck.cli import main

from .conftest import EXAMPLES, REPO

CONTRACT = {
    "path": str, "sha256": (str, type(None)), "media_type": (str, type(None)),
    "width": (int, type(None)), "height": (int, type(None)), "risk": (dict, type(None)),
    "evidence": list, "provenance": dict, "classifier": (dict, type(None)), "error": (dict, type(None)),
}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_contract_on_examples(capsys):
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES), "--format", "jsonl", "--workers", "0")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(list(EXAMPLES.iterdir()))
    for report in lines:
        for key, kind in CONTRACT.items():
            assert isinstance(report[key], kind), (key, report[key])
        assert len(report["sha256"]) == 64
        assert set(report["risk"]) >= {"score", "level", "summary"}
        assert 0.0 <= report["risk"]["score"] <= 1.0 and report["risk"]["level"] in ("low", "medium", "high")
        assert set(report["provenance"]) >= {"state", "claim_generator", "issuer", "digital_source_types",
                                             "failure_codes"}
        for item in report["evidence"]:
            assert set(item) >= {"source", "code", "message", "weight", "details"}
            assert isinstance(item["weight"], float | int) and item["message"]
        assert report["error"] is None
        assert set(report["classifier"]) >= {"model", "version", "p_generated", "regions"}
        assert 0.0 <= report["classifier"]["p_generated"] <= 1.0
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in lines}
    assert by_name["ai_signed_c2pa.jpg"]["risk"]["level"] == "high"
    assert by_name["ai_signed_c2pa.jpg"]["provenance"]["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert by_name["sd_webui_parameters.png"]["risk"]["level"] == "high"
    assert by_name["sdxl_watermarked.png"]["risk"]["level"] == "high"
    assert by_name["camera_exif.jpg"]["risk"]["level"] == "low"
    assert by_name["plain_photo.jpg"]["risk"]["level"] == "low"


def test_trust_anchors_flag(capsys):
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES / "ai_signed_c2pa.jpg"), "--format", "jsonl",
                           "--trust-anchors", str(REPO / "examples" / "test_ca_root.pem"))
    assert json.loads(out)["provenance"]["state"] == "trusted"
    code, _, err = run_cli(capsys, "scan", str(EXAMPLES), "--trust-anchors", "/nonexistent.pem")
    assert code == 2 and "trust anchors /nonexistent.pem: no such file" in err


def test_errors_are_reported_per_file_and_fail_on(capsys, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "ok.jpg").write_bytes(testkit.encode(testkit.photo_like(300, 200), "JPEG", quality=80))
    code, out, err = run_cli(capsys, "scan", str(tmp_path), "--format", "jsonl", "--workers", "2",
                             "--include-non-images")
    reports = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(reports) == 3
    assert {r["path"].rsplit("/", 1)[-1]: (r["error"] or {}).get("code") for r in reports} == {
        "empty.jpg": "empty_file", "notes.txt": "unsupported_format", "ok.jpg": None}
    assert "3 files" in err and "2 with errors" in err
    (tmp_path / "notes.txt").unlink()

    code, _, _ = run_cli(capsys, "scan", str(tmp_path / "ok.jpg"), "--fail-on", "high", "--format", "jsonl")
    assert code == 0
    code, _, _ = run_cli(capsys, "scan", str(tmp_path), "--fail-on", "high", "--format", "jsonl")
    assert code == 1  # a file that cannot be analysed cannot be cleared
    code, _, _ = run_cli(capsys, "scan", str(EXAMPLES / "sd_webui_parameters.png"), "--fail-on", "medium")
    assert code == 1


def test_json_and_table_formats(capsys):
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES), "--format", "json", "--workers", "0")
    reports = json.loads(out)
    assert code == 0 and isinstance(reports, list) and len(reports) == len(list(EXAMPLES.iterdir()))
    code, out, _ = run_cli(capsys, "scan", str(EXAMPLES), "--format", "table", "--policy", "kyc")
    assert out.splitlines()[0].split()[:2] == ["LEVEL", "SCORE"]
    assert "HIGH" in out and "sd_webui_parameters.png" in out


def test_policies_change_levels_not_evidence(capsys):
    png = str(EXAMPLES / "plain_photo.jpg")
    levels = {}
    for policy in ("default", "moderation", "kyc"):
        _, out, _ = run_cli(capsys, "scan", png, "--policy", policy, "--format", "jsonl")
        report = json.loads(out)
        levels[policy] = (report["risk"]["policy"], [e["code"] for e in report["evidence"]])
    assert {p for p, _ in levels.values()} == {"default", "moderation", "kyc"}
    assert len({tuple(codes) for _, codes in levels.values()}) == 1


def test_no_inputs_is_a_usage_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "scan", str(tmp_path))
    assert code == 2 and "no image files found" in err


def test_model_flag_pins_a_shipped_model(capsys):
    from synthcheck.models import list_models

    for name in list_models():
        code, out, _ = run_cli(capsys, "scan", "--format", "jsonl", "--model", name, str(EXAMPLES / "plain_photo.jpg"))
        assert code == 0 and json.loads(out)["classifier"]["model"] == name
    code, _, err = run_cli(capsys, "scan", "--model", "no-such-model", str(EXAMPLES / "plain_photo.jpg"))
    assert code == 2 and "no shipped model 'no-such-model'" in err


def test_model_commands_report_a_missing_model_as_a_usage_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "calibrate", "--model-dir", str(tmp_path))
    assert code == 2 and "synthcheck calibrate: no model card" in err
    code, _, err = run_cli(capsys, "eval", "--model", "no-such-model", "--no-launder")
    assert code == 2 and "no shipped model named 'no-such-model'" in err


def test_console_script_runs():
    exe = REPO / ".venv" / "bin" / "synthcheck"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "synthcheck.cli"]
    done = subprocess.run([*command, "scan", str(EXAMPLES / "camera_exif.jpg")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["media_type"] == "image/jpeg"


@pytest.mark.parametrize("fmt,save", [("GIF", {}), ("TIFF", {}), ("WEBP", {"quality": 90}), ("AVIF", {}),
                                      ("HEIF", {})])
def test_formats(tmp_path, fmt, save):
    image = testkit.photo_like(320, 240)
    if fmt == "GIF":  # two frames: the first is analysed
        data = testkit.encode(image.convert("P"), "GIF", save_all=True,
                              append_images=[testkit.photo_like(320, 240, seed=2).convert("P")])
    else:
        data = testkit.encode(image, fmt, **save)
    from synthcheck import analyze

    report = analyze(data)
    assert report.error is None, report.error
    assert report.media_type == {"GIF": "image/gif", "TIFF": "image/tiff", "WEBP": "image/webp",
                                 "AVIF": "image/avif", "HEIF": "image/heic"}[fmt]
    assert (report.width, report.height) == (320, 240)
