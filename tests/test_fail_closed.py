"""Fail closed: a check that could not run is said in the summary and never lowers the
risk; bad trust anchors are refused up front (CLI, Python API, service); sections that
were never computed are null; C2PA failure codes are the active manifest's only."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from synthcheck import AnalysisOptions, Scanner, analyze
from synthcheck.analyzers.c2pa_provenance import C2paAnalyzer, provenance_from_store
from synthcheck.cli import main
from synthcheck.errors import TrustAnchorError
from synthcheck.policy import POLICIES
from synthcheck.report import SCHEMA_VERSION

from .conftest import EXAMPLES, REPO, codes, shared_or_skip

SIGNED = EXAMPLES / "ai_signed_c2pa.jpg"
CAMERA = EXAMPLES / "camera_exif.jpg"


def bad_anchor_files(tmp_path):
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pem"
    text.write_text("these are not certificates\n")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    binary = tmp_path / "binary.pem"
    binary.write_bytes(bytes(range(256)))
    return {"empty": empty, "text": text, "garbage": garbage, "binary": binary,
            "missing": tmp_path / "missing.pem", "directory": tmp_path}


def test_cli_refuses_unusable_trust_anchors_before_reading_any_file(tmp_path, capsys):
    for kind, path in bad_anchor_files(tmp_path).items():
        code = main(["scan", str(EXAMPLES), "--format", "jsonl", "--workers", "0", "--trust-anchors", str(path)])
        out, err = capsys.readouterr()
        assert code == 2, kind
        assert out == "", kind  # no report at all: nothing was analysed with broken anchors
        assert f"trust anchors {path}" in err, (kind, err)


def test_python_api_raises_a_typed_error_for_bad_anchors(tmp_path):
    for path in bad_anchor_files(tmp_path).values():
        with pytest.raises(TrustAnchorError):
            AnalysisOptions(trust_anchors=path)
        with pytest.raises(TrustAnchorError):
            Scanner(AnalysisOptions(trust_anchors=str(path)))
    good = AnalysisOptions(trust_anchors=REPO / "examples" / "test_ca_root.pem", classifier=None, watermarks=False)
    assert [lst.key for lst in good.trust_lists] == ["c2pa", "user", "interim"]
    assert "BEGIN CERTIFICATE" in good.trust_lists[1].pem
    assert analyze(SIGNED, options=good).provenance.state == "trusted"


def test_service_refuses_to_start_with_bad_anchors(tmp_path):
    from synthcheck.errors import ConfigurationError
    from synthcheck.service.settings import Settings

    with pytest.raises(ConfigurationError, match="SYNTHCHECK_TRUST_ANCHORS.*no such file"):
        print(Settings(trust_anchors=tmp_path / "missing.pem").options)  # read once, when the options are built
    env = {**os.environ, "SYNTHCHECK_TRUST_ANCHORS": str(tmp_path / "missing.pem"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "serve", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "SYNTHCHECK_TRUST_ANCHORS" in done.stderr and "no such file" in done.stderr


def test_a_check_that_could_not_run_keeps_the_level_at_medium_and_says_so(monkeypatch):
    options = AnalysisOptions(watermarks=False, classifier=None)
    clean = Scanner(options).analyze(CAMERA, "kyc")
    assert clean.risk.level == "low" and clean.risk.unchecked == []

    def broken(self, image):
        raise RuntimeError("the validator crashed")

    monkeypatch.setattr(C2paAnalyzer, "analyze", broken)
    for policy in POLICIES:
        report = Scanner(options).analyze(CAMERA, policy)
        assert "analyzer_failed" in codes(report)
        assert report.risk.unchecked == ["c2pa"]
        assert report.risk.level in ("medium", "high"), policy
        assert report.risk.score >= POLICIES[policy].medium_at
        assert report.risk.score >= clean.risk.score
        assert "Not checked: c2pa could not run on this file" in report.risk.summary
        assert report.provenance is None  # not computed, so not reported as "none"


def test_a_c2pa_context_that_cannot_be_built_is_a_failed_check_not_a_damaged_manifest():
    options = AnalysisOptions(watermarks=False, classifier=None)
    # what an unusable anchor file used to do to every file, had it reached analysis
    broken = dataclasses.replace(options.trust_lists[0], pem="not a certificate")
    object.__setattr__(options, "trust_lists", (broken,))
    report = Scanner(options).analyze(SIGNED, "kyc")
    assert "analyzer_failed" in codes(report) and "c2pa_unreadable" not in codes(report)
    assert report.risk.level in ("medium", "high") and report.risk.unchecked == ["c2pa"]


def test_sections_of_inputs_never_read_are_null(tmp_path, capsys):
    (tmp_path / "empty.jpg").write_bytes(b"")
    code = main(["scan", str(tmp_path / "empty.jpg"), str(tmp_path / "missing.jpg"), "--format", "jsonl",
                 "--workers", "0"])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 3
    assert [r["error"]["code"] for r in reports] == ["empty_file", "unreadable_path"]
    for report in reports:
        assert report["provenance"] is None and report["metadata"] is None
        assert report["classifier"] is None and report["risk"] is None
        assert report["schema_version"] == SCHEMA_VERSION and report["faces"] is None
    # a file that was read has its sections, "none" meaning "checked, no manifest"
    checked = analyze(CAMERA, options=AnalysisOptions(watermarks=False, classifier=None))
    assert checked.provenance.state == "none" and checked.metadata["exif"]


def _ingredient_store() -> dict:
    """The shape c2pa-rs gives for adobe-20220124-E-uri-CIE-sig-CA.jpg: the active manifest
    fails only on trust; its ingredient's assertion hash does not match."""
    uri = "self#jumbf=/c2pa/urn:uuid:active/c2pa.assertions/c2pa.ingredient"
    return {
        "active_manifest": "urn:uuid:active", "validation_state": "Valid",
        "manifests": {
            "urn:uuid:active": {"claim_generator": "test", "signature_info": {"issuer": "CA"},
                                "ingredients": [{"title": "CIE-sig-CA.jpg", "label": "c2pa.ingredient",
                                                 "active_manifest": "urn:uuid:parent"}]},
            "urn:uuid:parent": {"claim_generator": "test", "signature_info": {"issuer": "CA"}},
        },
        "validation_status": [{"code": "signingCredential.untrusted"}, {"code": "assertion.hashedURI.mismatch"}],
        "validation_results": {
            "activeManifest": {"failure": [{"code": "signingCredential.untrusted"}]},
            "ingredientDeltas": [{"ingredientAssertionURI": uri, "validationDeltas": {
                "failure": [{"code": "assertion.hashedURI.mismatch"}]}}],
        },
    }


def test_failure_codes_are_the_active_manifests_and_ingredients_are_reported_apart():
    prov = provenance_from_store(_ingredient_store())
    assert prov.failure_codes == ["signingCredential.untrusted"]
    assert [f["code"] for f in prov.failures] == ["signingCredential.untrusted"]
    assert prov.ingredient_failure_codes == ["assertion.hashedURI.mismatch"]
    assert prov.ingredient_failures[0]["message"]
    assert prov.ingredients[0]["failure_codes"] == ["assertion.hashedURI.mismatch"]
    assert prov.state == "valid"


@pytest.mark.shared
def test_ingredient_failures_on_the_reference_samples():
    expected = json.loads(shared_or_skip("c2pa", "expected.json").read_text())["files"]
    options = AnalysisOptions(watermarks=False, classifier=None)
    report = analyze(shared_or_skip("c2pa", "adobe-20220124-E-clm-CAICAI.jpg"), options=options)
    prov = report.provenance
    assert prov.failure_codes == sorted(expected["adobe-20220124-E-clm-CAICAI.jpg"]["failure_codes"])
    assert prov.ingredient_failure_codes == ["ingredient.manifest.missing"]
    assert "c2pa_ingredient_invalid" in codes(report)
    cie = analyze(shared_or_skip("c2pa", "CIE-sig-CA.jpg"), options=options).provenance
    assert cie.failure_codes == ["signingCredential.untrusted"]
    assert cie.ingredient_failure_codes == ["signingCredential.untrusted"]
