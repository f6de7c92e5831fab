"""C2PA signals (C2PA Asset Rubrics 1.0): one test per signal, each with a manifest made by
the c2pa builder that should fire it and one that should not, read back by c2pa-python
and evaluated by synthcheck; the signal table against the rubric's own YAML; the fusion
of signals, trust tiers and conforming products."""

from __future__ import annotations

import dataclasses
import re

import pytest

from synthcheck import AnalysisOptions, testkit
from synthcheck.analyzers.c2pa_provenance import evidence_for
from synthcheck.c2pa_signals import SIGNALS, asset_signals, manifest_signals
from synthcheck.fusion import fuse
from synthcheck.pipeline import Scanner
from synthcheck.policy import get_policy
from synthcheck.report import Provenance

from .conftest import shared_or_skip

IPTC = testkit.IPTC_TYPE
QUIET = AnalysisOptions(watermarks=False, classifier=None, faces=False)


def _definition(actions, complete: bool = True) -> dict:
    """A manifest whose actions assertion is created by the claim generator; `complete` sets
    allActionsIncluded (without it the rubric calls the actions ambiguous)."""
    data = {"actions": [dict(zip(("action", "digitalSourceType"), a)) for a in actions]}
    if complete:
        data["allActionsIncluded"] = True
    return {"claim_generator_info": [{"name": "synthcheck-testkit", "version": "0.1"}], "title": "image.jpg",
            "assertions": [{"label": "c2pa.actions", "created": True, "data": data}]}


def _created(dst: str):
    return [("c2pa.created", dst)]


def _captured_then(*actions):
    return [("c2pa.created", IPTC + "digitalCapture"), *actions]


# signal name -> (actions that fire it, actions that do not)
CASES = {
    "blankCanvas": (_created("http://c2pa.org/digitalsourcetype/empty"), _created(IPTC + "digitalCapture")),
    "capturedMedia": (_created(IPTC + "computationalCapture"), _created(IPTC + "screenCapture")),
    "capturedMediaStitched": (_created(IPTC + "compositeCapture"), _created(IPTC + "digitalCapture")),
    "compositionMayContainGenAI": (_created(IPTC + "composite"), _created(IPTC + "compositeCapture")),
    "fullyGenAIMedia": (_created(IPTC + "trainedAlgorithmicMedia"), _created(IPTC + "algorithmicMedia")),
    "nonGenAIDigitalCreation": (_created(IPTC + "digitalCreation"), _created(IPTC + "digitalArt")),
    "partlyGenAICreation": (_created(IPTC + "compositeWithTrainedAlgorithmicMedia"),
                            _captured_then(("c2pa.edited", IPTC + "compositeWithTrainedAlgorithmicMedia"))),
    "screenCaptureMayContainGenAI": (_created(IPTC + "screenCapture"), _created(IPTC + "digitalCapture")),
    "nonEditorial": (_captured_then(("c2pa.published", None)), _captured_then(("c2pa.edited", None))),
    "perceptibleGenAI": (_captured_then(("c2pa.edited", IPTC + "trainedAlgorithmicMedia")),
                         _created(IPTC + "trainedAlgorithmicMedia")),
    "perceptibleNonGenAI": (_captured_then(("c2pa.edited", IPTC + "minorHumanEdits")),
                            _captured_then(("c2pa.edited", None))),
    "perceptiblePossiblyGenAI": (_captured_then(("c2pa.edited", IPTC + "digitalArt")),
                                 _captured_then(("c2pa.edited", IPTC + "trainedAlgorithmicMedia"))),
}


@pytest.fixture(scope="module")
def photo() -> bytes:
    return testkit.encode(testkit.photo_like(160, 120, seed=5), "JPEG", quality=90)


def _signals(data: bytes) -> list[str]:
    report = Scanner(QUIET).analyze(data)
    return [s["name"] for s in report.provenance.signals]


@pytest.mark.parametrize("name", sorted(CASES))
def test_signal_fires_only_where_the_rubric_says(name, test_ca, photo):
    fires, does_not = CASES[name]
    assert name in _signals(testkit.sign_manifest(photo, "image/jpeg", test_ca, _definition(fires)))
    assert name not in _signals(testkit.sign_manifest(photo, "image/jpeg", test_ca, _definition(does_not)))


def test_media_unknown_provenance_is_an_ingredient_without_a_manifest(test_ca, photo):
    unsigned = ({"title": "found.jpg", "relationship": "componentOf"}, photo, "image/jpeg")
    signed = ({"title": "signed.jpg", "relationship": "componentOf"},
              testkit.sign_image(photo, "image/jpeg", test_ca, "digitalCapture"), "image/jpeg")
    definition = _definition(_created(IPTC + "digitalCapture"))
    assert "mediaUnknownProvenance" in _signals(testkit.sign_manifest(photo, "image/jpeg", test_ca, definition,
                                                                      (unsigned,)))
    assert "mediaUnknownProvenance" not in _signals(testkit.sign_manifest(photo, "image/jpeg", test_ca, definition,
                                                                          (signed,)))


def test_ambiguous_actions(test_ca, photo):
    def signals(definition):
        return _signals(testkit.sign_manifest(photo, "image/jpeg", test_ca, definition))

    complete = _definition(_created(IPTC + "digitalCapture"))
    assert "ambiguousActions" not in signals(complete)
    assert "ambiguousActions" in signals(_definition(_created(IPTC + "digitalCapture"), complete=False))
    assert "ambiguousActions" in signals(_definition(_captured_then(("com.example.retouched", None))))
    gathered = _definition(_created(IPTC + "digitalCapture"))
    del gathered["assertions"][0]["created"]  # a gathered actions assertion: not the generator's own
    assert "ambiguousActions" in signals(gathered)


def test_ingredient_signals_are_the_ingredients_not_the_files(test_ca, photo):
    generated = testkit.sign_image(photo, "image/jpeg", test_ca, "trainedAlgorithmicMedia")
    data = testkit.sign_manifest(photo, "image/jpeg", test_ca,
                                 _definition(_captured_then(("c2pa.edited", None))),
                                 (({"title": "generated.jpg", "relationship": "componentOf"}, generated,
                                   "image/jpeg"),))
    report = Scanner(QUIET).analyze(data)
    by_name = {(s["name"], s["own"]) for s in report.provenance.signals}
    assert ("capturedMedia", True) in by_name and ("fullyGenAIMedia", False) in by_name
    depth = {s["name"]: s["depth"] for s in report.provenance.signals}
    assert depth["capturedMedia"] == 0 and depth["fullyGenAIMedia"] == 1
    assert "c2pa_ai_ingredient" in {e.code for e in report.evidence}
    assert "c2pa_ai_generated" not in {e.code for e in report.evidence}


def test_legacy_actions_give_no_signal_and_flat_ingredients_give_pseudo_nodes():
    legacy = {"label": "urn:a", "assertions": {"c2pa.actions": {"actions": [
        {"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]}}}
    assert manifest_signals(legacy) == []  # the rubric reads only c2pa.actions.v2
    flat = {"label": "urn:b", "assertions": {
        "c2pa.ingredient.v3": {"dc:title": "in.jpg", "relationship": "parentOf"},
        "c2pa.actions.v2": {"allActionsIncluded": True, "actions": [
            {"action": "c2pa.opened", "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia"}]}}}
    signals = asset_signals({"manifests": [flat]}, "urn:b")
    pseudo = [s for s in signals if s["pseudo"]]
    assert [s["name"] for s in pseudo] == ["partlyGenAICreation"] and pseudo[0]["own"]
    # the opened action itself is an inception action with that type on the manifest too
    assert {s["name"] for s in signals if not s["pseudo"]} >= {"partlyGenAICreation", "mediaUnknownProvenance"}


@pytest.mark.shared
def test_signal_table_is_the_rubrics():
    text = shared_or_skip("c2pa", "rubrics", "asset-rubric-signals-local.yml").read_text()
    ids = re.findall(r"^- id: (\S+)", text, re.M)
    texts = re.findall(r"'true':\s*\n\s*en: (.+)", text)
    assert [s.id for s in SIGNALS] == ids
    assert [s.text for s in SIGNALS] == [t.strip() for t in texts]


@pytest.mark.shared
def test_photoshop_generative_fill_signal():
    report = Scanner(QUIET).analyze(shared_or_skip("c2pa", "ocsp.jpg"))
    assert [(s["name"], s["own"], s["pseudo"]) for s in report.provenance.signals] == [
        ("partlyGenAICreation", True, True)]
    assert "Contains Partly GenAI Creation" in report.risk.summary


# ---- fusion: pure, on constructed provenance ----

def _captured(trust_list, product=None, state="trusted") -> Provenance:
    signal = {"id": "inception:signal_capturedMedia", "name": "capturedMedia", "kind": "inception",
              "text": "Contains Captured Media", "manifest": "urn:x", "own": True, "pseudo": False, "depth": 0,
              "signer": "Pixel Camera"}
    trust = {"list": trust_list, "list_name": "C2PA Trust List", "list_version": "sequence 1, issued 2026-08-05",
             "entity": None, "lists_checked": ["c2pa", "interim"], "lists_checked_names": ["C2PA Trust List"]}
    return Provenance(state=state, common_name="Pixel Camera", issuer="Google LLC", signals=[signal],
                      digital_source_types=["digitalCapture"], trust=trust, conforming_product=product)


def _weight(prov: Provenance, code: str) -> float:
    return sum(e.weight for e in evidence_for(prov) if e.code == code)


PIXEL = {"record_id": "r", "product": "Pixel Camera", "organization": "Google LLC", "applicant": "Google LLC",
         "product_type": "generatorProduct", "assurance_level": 2, "spec_versions": ["2.2"],
         "disallowed_signals": [], "conformance_date": "2026-03-16", "established": True}


def test_capture_claims_weigh_by_who_vouched():
    official, interim, unknown = (_weight(_captured(t, state=s), "c2pa_camera_capture")
                                  for t, s in (("c2pa", "trusted"), ("interim", "trusted"), (None, "valid")))
    assert official < interim < unknown < 0
    conformant = _weight(_captured("c2pa", PIXEL), "c2pa_camera_capture")
    assert conformant < official  # a conformant camera at assurance level 2 weighs more
    level_one = _weight(_captured("c2pa", {**PIXEL, "assurance_level": 1}), "c2pa_camera_capture")
    assert level_one == official
    named_only = _captured(None, {**PIXEL, "established": False}, state="valid")
    assert _weight(named_only, "c2pa_camera_capture") == unknown  # a name alone is no conformance
    assert "not established" in next(e.message for e in evidence_for(named_only) if e.code == "c2pa_conforming_name")
    assert _weight(_captured("c2pa", state="invalid"), "c2pa_camera_capture") == 0


def test_a_disallowed_signal_is_misuse():
    prov = _captured("c2pa", {**PIXEL, "product": "Jasper", "disallowed_signals": ["capturedMedia"]})
    items = {e.code: e for e in evidence_for(prov)}
    assert items["c2pa_disallowed_signal"].weight > 0 and "misuse" in items["c2pa_disallowed_signal"].message
    assert "c2pa_camera_capture" not in items  # the claim it may not make does not count for it
    risk = fuse(evidence_for(prov), get_policy("default"))
    assert risk.score > fuse(evidence_for(_captured("c2pa", PIXEL)), get_policy("default")).score


def test_summary_speaks_the_rubrics_words(test_ca, photo):
    data = testkit.sign_manifest(photo, "image/jpeg", test_ca, _definition(_created(IPTC + "trainedAlgorithmicMedia")))
    report = Scanner(QUIET).analyze(data)
    assert report.risk.level == "high"
    assert "Contains Fully GenAI Media" in report.risk.summary
    screen = Scanner(QUIET).analyze(testkit.sign_manifest(photo, "image/jpeg", test_ca,
                                                          _definition(_created(IPTC + "screenCapture"))))
    item = next(e for e in screen.evidence if e.code == "c2pa_screen_capture")
    assert item.weight == 0 and "cannot say" in item.message  # a screen capture is "unknown"
    assert dataclasses.asdict(screen.provenance)["signals"][0]["text"] == (
        "Contains Screen Capture Which May Contain GenAI Content")
