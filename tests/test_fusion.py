"""Fusion is a pure function: properties of the score, levels and summary."""

from __future__ import annotations

from synthcheck import ClassifierResult, Evidence
from synthcheck.fusion import classifier_evidence, fuse
from synthcheck.policy import POLICIES, get_policy
from synthcheck.wording import percent

DEFAULT = POLICIES["default"]


def ev(source: str, code: str, weight: float, message: str = "x") -> Evidence:
    return Evidence(source, code, message, weight)


def test_no_evidence_gives_the_prior():
    for policy in POLICIES.values():
        assert abs(fuse([], policy).score - policy.prior) < 1e-3


def test_weights_move_the_score_monotonically():
    base = fuse([ev("a", "x", 1.0)], DEFAULT).score
    assert fuse([ev("a", "x", 1.0), ev("b", "y", 1.0)], DEFAULT).score > base
    assert fuse([ev("a", "x", 1.0), ev("b", "y", -1.0)], DEFAULT).score < base


def test_correlated_findings_of_one_source_are_discounted():
    same = fuse([ev("metadata", "a", 2.0), ev("metadata", "b", 2.0)], DEFAULT).log_odds
    independent = fuse([ev("metadata", "a", 2.0), ev("c2pa", "b", 2.0)], DEFAULT).log_odds
    assert same < independent
    assert abs((independent - same) - 1.0) < 1e-6  # the second one counts half


def test_signed_ai_declaration_dominates_camera_metadata():
    risk = fuse([ev("c2pa", "c2pa_ai_generated", 7.0, "The manifest declares AI generation."),
                 ev("metadata", "camera_exif", -1.5, "Camera EXIF: Canon EOS."),
                 ev("jpeg_quant", "jpeg_custom_tables", -0.4)], get_policy("moderation"))
    assert risk.level == "high"
    assert ("Conflict: the strongest c2pa finding for and the strongest metadata finding against disagree; "
            "the c2pa finding (+7.0) weighs more.") in risk.summary
    # each finding is said once: the conflict names who disagrees, not their sentences again
    assert risk.summary.count("Camera EXIF: Canon EOS") == 1
    assert risk.summary.count("The manifest declares AI generation") == 1


def test_levels_follow_policy_thresholds():
    evidence = [ev("a", "x", 1.6)]
    score = fuse(evidence, DEFAULT).score
    assert DEFAULT.medium_at <= score < DEFAULT.high_at and fuse(evidence, DEFAULT).level == "medium"
    assert fuse(evidence, POLICIES["kyc"]).level in ("medium", "high")
    assert fuse(evidence, POLICIES["moderation"]).level == "low"


def test_classifier_result_is_accepted_as_evidence():
    confident = classifier_evidence(ClassifierResult("lite0", "1", 0.99))
    unsure = classifier_evidence(ClassifierResult("lite0", "1", 0.5))
    assert confident.weight > 4 - 1e-9 - 0.5 and abs(unsure.weight) < 1e-9
    assert classifier_evidence(ClassifierResult("lite0", "1", 1.0)).weight == 4.0  # capped
    assert fuse([confident], DEFAULT).score > fuse([unsure], DEFAULT).score


def test_unknown_policy_is_a_clear_error():
    import pytest

    from synthcheck.errors import ConfigurationError, UnknownPolicyError

    with pytest.raises(UnknownPolicyError,
                       match="unknown policy 'strict'; choose one of default, moderation, kyc") as raised:
        get_policy("strict")
    # a configuration error with a stable code, and still the ValueError it always was
    assert isinstance(raised.value, ConfigurationError) and isinstance(raised.value, ValueError)
    assert raised.value.code == "unknown_policy"


def test_an_unknown_policy_is_refused_before_any_file_is_read():
    import pytest

    from synthcheck import AnalysisOptions, Scanner
    from synthcheck.errors import UnknownPolicyError

    scanner = Scanner(AnalysisOptions(watermarks=False, classifier=None, faces=False))
    with pytest.raises(UnknownPolicyError):
        scanner.analyze("/no/such/file.jpg", "strict")  # a bad policy, not an unreadable_path report


def test_pixels_that_look_real_do_not_clear_a_declaration():
    from synthcheck.fusion import PIXELS_AGAINST_DECLARATION, weigh

    def limit_pixels_against_declarations(evidence):  # the cap is part of the classifier's weigher
        return weigh(evidence, DEFAULT)

    looks_real = classifier_evidence(ClassifierResult("m", "1", 0.003))
    assert looks_real.weight == -4.0
    declared = [ev("generator_text", "generator_parameters", 6.0), looks_real]
    limited = limit_pixels_against_declarations(declared)
    item = next(e for e in limited if e.code == "classifier_score")
    assert item.weight == PIXELS_AGAINST_DECLARATION and item.details["uncapped_weight"] == -4.0
    assert "counted only -1.0 (of -4.0)" in item.message and "generator_parameters" in item.message
    assert fuse(limited, DEFAULT).level == "high" and fuse(declared, DEFAULT).level != "high"
    # weak positive evidence is no declaration; the classifier's own strong verdict is not one either
    for others in ([ev("dimensions", "generator_size", 0.8)], [ev("metadata", "editing_software", 0.3)]):
        assert limit_pixels_against_declarations(others + [looks_real]) == others + [looks_real]
    looks_generated = classifier_evidence(ClassifierResult("m", "1", 0.999))
    assert limit_pixels_against_declarations([looks_generated, looks_real]) == [looks_generated, looks_real]
    # a classifier verdict in favour of AI is never touched
    assert limit_pixels_against_declarations([declared[0], looks_generated])[1] == looks_generated


def test_list_items_after_a_semicolon_start_lower_case():
    """Issue 29, item 8: "...scores 7%; The face at..." had a capital mid-sentence."""
    risk = fuse([ev("faces", "face_score", 2.0, "1 face; the face at (1, 2, 3, 4) scores 97% generated."),
                 ev("faces", "face_background_disagreement", 0.95, "The face and the rest of the image disagree."),
                 ev("c2pa", "c2pa_ai_generated", 7.0, "C2PA manifest says AI."),
                 ev("watermark", "invisible_watermark", 6.0, "Invisible watermark found.")], DEFAULT)
    assert risk.summary.startswith("High risk")
    assert "For AI generation or editing: C2PA manifest says AI; invisible watermark found; 1 face;" in risk.summary
    assert "; The " not in risk.summary


KYC = POLICIES["kyc"]
# Issue 29, item 6: a KYC selfie re-encoded as WebP (q50): no finding strong enough to list, yet
# medium, because the kyc policy starts every file at 30% and small findings add to it.
SMALL_FINDINGS = [
    Evidence("c2pa", "no_manifest", "No C2PA manifest: the file carries no signed provenance.", 0.0),
    Evidence("metadata", "no_camera_metadata", "No camera metadata (EXIF make and model). Weak evidence at most: "
             "social platforms and messengers strip it from real photos.", 0.2),
    Evidence("classifier", "classifier_score", "The learned classifier m 1 rates the centre 224x224 crop of this "
             "800x800 image 60% likely generated.", 0.405),
    Evidence("faces", "face_score", "1 face; the face at (300, 200, 180, 220) scores 41% generated while the rest "
             "of the image scores 48%.", 0.0),
]


def test_a_level_above_low_says_why_even_without_a_strong_finding():
    risk = fuse(SMALL_FINDINGS, KYC)
    assert risk.level == "medium" and "No strong sign of AI generation or editing was found." in risk.summary
    assert risk.why and risk.why in risk.summary
    assert risk.why.startswith("Why medium: the kyc policy starts every file at 30%")
    assert ("the learned classifier m 1 rates the centre 224x224 crop of this 800x800 image 60% likely generated "
            "(+0.4)") in risk.why
    assert "no camera metadata (EXIF make and model) (+0.2)" in risk.why
    assert "face" not in risk.why  # a face at 41% added nothing: it is not a reason
    assert f"{percent(risk.score)} in all, at or above the kyc policy's medium mark (35%)" in risk.why
    # the same file under the default policy (prior 20%) is low, and a low level needs no reason
    assert fuse(SMALL_FINDINGS, DEFAULT).level == "low" and fuse(SMALL_FINDINGS, DEFAULT).why is None


def test_a_strong_finding_is_named_once_and_the_prior_always():
    risk = fuse([ev("c2pa", "c2pa_ai_generated", 7.0, "The manifest declares AI generation."),
                 ev("metadata", "camera_exif", -1.4, "Camera EXIF: Canon EOS."),
                 ev("metadata", "no_camera_metadata", 0.2, "No camera metadata.")], DEFAULT)
    assert risk.level == "high"
    assert risk.why.startswith("Why high: the default policy starts every file at 20%; the findings for AI above "
                               "add +7.0")
    assert "the findings against take off 1.4" in risk.why and "high mark (85%)" in risk.why
    assert risk.summary.count("The manifest declares AI generation") == 1


def test_a_level_kept_at_medium_says_so_in_its_why():
    risk = fuse([ev("decode", "pixels_unreadable", -0.0, "The pixels could not be decoded."),
                 ev("metadata", "camera_exif", -1.4, "Camera EXIF: Canon EOS.")], DEFAULT)
    assert risk.level == "medium" and risk.unchecked == ["decode"]
    assert risk.why.startswith("Why medium: not every check ran (decode)")
    assert "cannot clear" in risk.why


def test_every_level_above_low_names_the_prior():
    import random

    rng = random.Random(3)
    sources = ["c2pa", "metadata", "classifier", "faces", "watermark"]
    for _ in range(300):
        evidence = [ev(rng.choice(sources), f"c{i}", round(rng.uniform(-3, 3), 2), f"Finding {i}.")
                    for i in range(rng.randint(0, 5))]
        for policy in POLICIES.values():
            risk = fuse(evidence, policy)
            if risk.level == "low":
                assert risk.why is None
            else:
                assert risk.why.startswith(f"Why {risk.level}: ") and f"the {policy.name} policy" in risk.why
                assert risk.why in risk.summary


def test_the_table_says_why(capsys):
    from synthcheck.cli import _table_row
    from synthcheck.report import Report

    report = Report(path="selfie.webp", media_type="image/webp", width=800, height=800,
                    evidence=SMALL_FINDINGS, risk=fuse(SMALL_FINDINGS, KYC))
    row = _table_row(report)
    assert row.startswith("MEDIUM") and "\n        Why medium: the kyc policy starts every file at 30%" in row
