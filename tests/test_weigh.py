"""Analyzers measure, fusion weighs (issue 30): an analyzer reports what it found (a probability,
a box); every weight that depends on a measurement or on the policy is computed once, in
fusion.weigh(), from one table (fusion.WEIGHERS); the weights listed are the weights counted."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest

from synthcheck import fusion
from synthcheck.analyzers.classifier import classifier_finding
from synthcheck.analyzers.faces import FaceScores, Window, face_evidence
from synthcheck.fusion import (
    PIXELS_AGAINST_DECLARATION,
    WEIGHERS,
    classifier_evidence,
    classifier_weight,
    face_score_weight,
    fuse,
    weigh,
)
from synthcheck.policy import POLICIES
from synthcheck.report import ClassifierResult, Evidence, FaceResult

ANALYZERS = Path(fusion.__file__).parent / "analyzers"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, relative ones as written ("..fusion" -> "fusion")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add((node.module or "").rsplit(".", 1)[-1])
            names.update(alias.name for alias in node.names if not node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
    return names


def faces(p_face: float, background: float | None = None) -> FaceScores:
    return FaceScores([FaceResult([40, 30, 60, 80], 0.9, p_face)], background,
                      [Window(300, 300, 224)] if background is not None else [])


def test_the_pixel_analyzers_import_neither_fusion_nor_the_policy():
    for name in ("classifier.py", "faces.py"):
        imported = imported_modules(ANALYZERS / name)
        assert "fusion" not in imported and "policy" not in imported, name
    # and at run time: the classifier analyzer loads no fusion
    code = ("import sys, synthcheck.analyzers.classifier, synthcheck.analyzers.faces; "
            "assert 'synthcheck.fusion' not in sys.modules and 'synthcheck.policy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_faces_analyzer_reports_the_measurement_and_no_policy_factor():
    item, _ = face_evidence(faces(0.97, 0.02))
    assert item.code == "face_score" and item.weight == 0.0
    assert item.details["p_generated"] == 0.97 and item.details["box"] == [40, 30, 60, 80]
    assert "b" not in item.details and "unscaled_weight" not in item.details


def test_the_classifier_analyzer_reports_the_probability_and_no_weight():
    item = classifier_finding(ClassifierResult("m", "1", 0.003))
    assert item.code == "classifier_score" and item.weight == 0.0 and item.details["p_generated"] == 0.003
    assert "counted" not in item.message


@pytest.mark.parametrize("name", list(POLICIES))
def test_the_same_face_weighs_what_each_policy_says(name):
    policy = POLICIES[name]
    for p in (0.01, 0.5, 0.8, 0.95, 0.999, 0.9999):
        item = face_evidence(faces(p, 0.02))[0]
        (weighed,) = [e for e in weigh([item], policy) if e.code == "face_score"]
        assert weighed.weight == face_score_weight(p, policy.face_score_weight)
        assert weighed.details["b"] == policy.face_score_weight
        unscaled = face_score_weight(p, 1.0)
        if weighed.weight != unscaled:  # the item says what it counts, under which policy
            assert weighed.details["unscaled_weight"] == unscaled
            assert weighed.message == (f"{item.message[:-1]}; counted {weighed.weight:+.1f} (not {unscaled:+.1f}) "
                                       f"under the {name} policy.")
        else:
            assert weighed.message == item.message and "unscaled_weight" not in weighed.details
    assert POLICIES["default"].face_score_weight == POLICIES["kyc"].face_score_weight == 1.0
    assert POLICIES["moderation"].face_score_weight == 0.25


def test_the_classifier_weighs_the_same_under_every_policy_and_yields_to_a_declaration():
    found = classifier_finding(ClassifierResult("m", "1", 0.003))
    declared = Evidence("c2pa", "c2pa_ai_generated", "The manifest declares AI generation.", 7.0)
    for policy in POLICIES.values():
        assert weigh([found], policy)[0].weight == classifier_weight(0.003) == -4.0
        capped = weigh([declared, found], policy)[1]
        assert capped.weight == PIXELS_AGAINST_DECLARATION and capped.details["uncapped_weight"] == -4.0
        assert "counted only -1.0 (of -4.0): the file declares AI generation (c2pa_ai_generated)" in capped.message
    # a measured finding is never a declaration, however heavy it was listed
    heavy_face = Evidence("faces", "face_score", "A face.", 9.0, {"p_generated": 0.9999})
    assert weigh([heavy_face, found], POLICIES["default"])[1].weight == -4.0
    # the bare-probability helper (training/evaluate.py) is the finding weighed on its own
    assert classifier_evidence(ClassifierResult("m", "1", 0.003)) == weigh([found], POLICIES["default"])[0]


def test_one_table_weighs_and_the_other_findings_keep_their_constant_weight():
    assert set(WEIGHERS) == {"classifier_score", "face_score"}
    constant = [Evidence("metadata", "camera_exif", "Camera EXIF.", -1.35, {"make": "Canon"}),
                Evidence("faces", "face_background_disagreement", "Disagree.", 0.95),
                Evidence("watermark", "invisible_watermark", "Watermark.", 6.0)]
    for policy in POLICIES.values():
        assert weigh(constant, policy) == constant


def random_found(rng: random.Random) -> list[Evidence]:
    items = []
    if rng.random() < 0.8:
        items.append(classifier_finding(ClassifierResult("m", "1", rng.choice([rng.random(), 0.0001, 0.9999]))))
    if rng.random() < 0.7:
        items += face_evidence(faces(rng.choice([rng.random(), 0.999, 0.01]), rng.choice([None, rng.random()])))
    constants = [Evidence("c2pa", "c2pa_ai_generated", "Declared.", 7.0),
                 Evidence("generator_text", "generator_parameters", "Parameters.", 6.0),
                 Evidence("metadata", "camera_exif", "Camera EXIF.", -1.35),
                 Evidence("dimensions", "generator_size", "A preset size.", 0.8)]
    items += rng.sample(constants, rng.randint(0, 2))
    rng.shuffle(items)
    return items


def test_weigh_is_pure_idempotent_and_what_is_listed_is_what_is_counted():
    rng = random.Random(30)
    for _ in range(400):
        found = random_found(rng)
        before = list(found)
        for policy in POLICIES.values():
            weighed = weigh(found, policy)
            assert found == before  # pure: the found evidence is not changed
            assert [e.code for e in weighed] == [e.code for e in found]  # same findings, same order
            assert weigh(weighed, policy) == weighed  # weighing twice changes nothing
            for other in POLICIES.values():  # weighed again under another policy: as if found
                assert weigh(weighed, other) == weigh(found, other)
            # listed == counted: the risk of the listed evidence is the risk fused from it,
            # and every note names the weight the item lists
            assert fuse(weighed, policy) == fuse(weigh(weighed, policy), policy)
            for item in weighed:
                if "; counted " in item.message:
                    assert f"counted {'only ' if item.code == 'classifier_score' else ''}{item.weight:+.1f}" \
                        in item.message


def test_a_scan_lists_the_weights_it_counted(scanner):
    from .conftest import EXAMPLES

    for name, policy in POLICIES.items():
        report = scanner.analyze(EXAMPLES / "astronaut_face.jpg", name)
        assert report.risk == fuse(report.evidence, policy)
        assert weigh(report.evidence, policy) == report.evidence
        face = next(e for e in report.evidence if e.code == "face_score")
        assert face.details["b"] == policy.face_score_weight
