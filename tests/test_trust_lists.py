"""The built-in C2PA trust lists: shipped, dated and sha256-checked; which list vouched for a
signer; the user's anchors added to (or replacing) them; stale lists said, never silently;
conforming products named only when the signature chains to the official list."""

from __future__ import annotations

import dataclasses
import json

import pytest

from synthcheck import AnalysisOptions, testkit, trust
from synthcheck.cli import main
from synthcheck.errors import TrustAnchorError
from synthcheck.pipeline import Scanner
from synthcheck.report import SCHEMA_VERSION

from .conftest import EXAMPLES, codes, evidence

QUIET = {"watermarks": False, "classifier": None, "faces": False}


def test_shipped_lists_are_dated_counted_and_ordered():
    official, interim = trust.trust_lists()
    assert (official.key, official.certificates, official.sequence) == ("c2pa", 30, 1)
    assert official.issued.startswith("2026-08-05") and official.next_update.startswith("2027-08-05")
    assert (interim.key, interim.certificates, interim.version) == ("interim", 27, "frozen 2026-01-01")
    assert trust.tsa_list().certificates == 22
    assert "Adobe Inc" in official.entities.values()  # entities named from the LoTE JSON


def test_trust_command_prints_the_lists_in_use(capsys):
    assert main(["trust"]) == 0
    out = capsys.readouterr().out
    assert "C2PA Trust List: 30 certificates, sequence 1, issued 2026-08-05, next update 2027-08-05" in out
    assert "frozen interim trust list: 27 certificates, frozen 2026-01-01" in out
    assert "C2PA TSA Trust List, 22 certificates" in out and "Conforming products: 174 records" in out
    assert "never fetched" in out and "OCSP" in out
    assert main(["trust", "--no-interim-trust"]) == 0
    assert "interim" not in capsys.readouterr().out.split("Time-stamp")[0]


def test_user_anchors_are_a_tier_of_their_own(test_ca, photo_jpeg, anchors_file):
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "digitalCapture")
    builtin = Scanner(AnalysisOptions(**QUIET)).analyze(signed).provenance
    assert builtin.state == "valid" and builtin.trust["list"] is None  # the built-in lists alone do not
    assert builtin.trust["lists_checked"] == ["c2pa", "interim"]
    added = Scanner(AnalysisOptions(trust_anchors=anchors_file, **QUIET)).analyze(signed)
    assert added.provenance.state == "trusted" and added.provenance.failure_codes == []
    assert added.provenance.trust["list"] == "user" and added.provenance.trust["lists_checked"] == [
        "c2pa", "user", "interim"]
    assert added.provenance.trust["entity"] == "synthcheck test org"  # the root that issued the signer
    assert "trusted through your trust anchors (anchors.pem)" in evidence(added, "c2pa_trusted").message
    only = Scanner(AnalysisOptions(trust_anchors=anchors_file, builtin_trust=False, **QUIET)).analyze(signed)
    assert only.provenance.trust["list"] == "user" and only.provenance.trust["lists_checked"] == ["user"]
    none = Scanner(AnalysisOptions(builtin_trust=False, **QUIET)).analyze(signed).provenance
    assert none.state == "valid" and none.trust["lists_checked"] == []


def test_trusted_capture_weighs_more_than_an_unknown_signers(test_ca, photo_jpeg, anchors_file):
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "digitalCapture")
    unknown = evidence(Scanner(AnalysisOptions(**QUIET)).analyze(signed), "c2pa_camera_capture").weight
    trusted = evidence(Scanner(AnalysisOptions(trust_anchors=anchors_file, **QUIET)).analyze(signed),
                       "c2pa_camera_capture").weight
    assert trusted < unknown < 0


def test_a_conforming_products_name_without_the_official_chain_is_not_established(photo_jpeg, tmp_path):
    ca = testkit.make_test_ca("pretender", signer={"CN": "Pixel Camera", "O": "Google LLC", "C": "US"})
    anchors = tmp_path / "pretender.pem"
    anchors.write_bytes(ca.root_pem)
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", ca, "digitalCapture")
    report = Scanner(AnalysisOptions(trust_anchors=anchors, **QUIET)).analyze(signed)
    product = report.provenance.conforming_product
    assert product["product"] == "Pixel Camera" and product["assurance_level"] == 2
    assert product["established"] is False  # trusted through the user's roots, not the C2PA list
    assert "c2pa_conforming_name" in codes(report) and "c2pa_conforming_product" not in codes(report)


def test_a_stale_list_is_said_once_per_scan(monkeypatch, capsys):
    past = dataclasses.replace(trust.official_list(), next_update="2026-01-01T00:00:00Z")
    monkeypatch.setattr(trust, "official_list", lambda: past)
    code = main(["scan", str(EXAMPLES / "plain_photo.jpg"), str(EXAMPLES / "camera_exif.jpg"), "--format", "jsonl",
                 "--workers", "0", "--no-classifier", "--no-faces", "--no-watermark"])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("was due to be replaced on 2026-01-01") == 1, err
    assert main(["trust"]) == 0 and "was due to be replaced" in capsys.readouterr().err
    assert trust.stale_warnings(trust.trust_lists()) and not trust.stale_warnings(
        (trust.interim_list(),))  # a frozen list is never "due"


def test_a_damaged_shipped_list_is_refused_at_start_up(monkeypatch, capsys):
    monkeypatch.setitem(trust.SHIPPED_SHA256, "C2PA-TRUST-LIST.pem", "0" * 64)
    monkeypatch.setattr(trust, "official_list", trust.official_list.__wrapped__)
    with pytest.raises(TrustAnchorError, match="not the recorded one"):
        AnalysisOptions(**QUIET)
    code = main(["scan", str(EXAMPLES / "plain_photo.jpg"), "--format", "jsonl", "--workers", "0"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "reinstall synthcheck" in captured.err
    assert AnalysisOptions(builtin_trust=False, **QUIET).trust_lists == ()  # without the lists it runs


def test_report_contract_carries_the_trust_entry(capsys):
    assert main(["scan", str(EXAMPLES / "ai_signed_c2pa.jpg"), "--format", "jsonl", "--workers", "0",
                 "--no-classifier", "--no-faces"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == SCHEMA_VERSION
    assert set(report["provenance"]["trust"]) >= {"list", "list_name", "list_version", "lists_checked"}
    assert report["provenance"]["signals"] and all(
        set(s) >= {"id", "name", "kind", "text", "own"} for s in report["provenance"]["signals"])
