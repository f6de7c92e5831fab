"""Ensembles of trained networks (synthcheck/models/ensemble.py) and the inference-time batch-norm
folding every loaded network gets."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from synthcheck.datasets import load_pixels
from synthcheck.models import DEFAULT_MODEL, MODELS_DIR, load_classifier_from, sha256_file
from synthcheck.models.card import Member, ModelCard, Preprocessing, write_card
from synthcheck.models.ensemble import MEAN_OF_ALL, build, check_members
from synthcheck.models.network import create_network, fold_batch_norms
from synthcheck.models.train import TrainConfig, gather_records

from .test_classifier import make_folder, tiny_config

VALIDATION = ["real/cam_b:", "real/cam_c:", "generated/gen_b:", "generated/gen_c:"]


def test_folded_batch_norms_give_the_same_outputs():
    torch.manual_seed(0)
    network = create_network(num_classes=1)
    for module in network.modules():  # batch-norm statistics far from the identity, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    network.eval()
    batch = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        expected = network(batch)
        folded = fold_batch_norms(copy.deepcopy(network))
        got = folded(batch)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())  # every one folded
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def write_member(folder, name: str, seed: int, temperature: float, config_path, bias: float = 0.0,
                 calibration_split_temperature: float | None = None, input_filter: str = "rgb") -> None:
    """A trained model's folder as `synthcheck train` leaves it, with a randomly initialised
    network (the ensemble's arithmetic, not the network's skill, is under test)."""
    torch.manual_seed(seed)
    network = create_network(num_classes=1)
    folder.mkdir(parents=True)
    save_file({f"supervised.{k}": v.half() if v.is_floating_point() else v
               for k, v in network.state_dict().items()}, str(folder / "model.safetensors"))
    config = TrainConfig.load(config_path)
    metrics = {} if calibration_split_temperature is None else {"calibration": {
        "method": "held-out temperature and shift", "chosen": "held-out temperature and shift",
        "temperature": temperature, "shift": bias * temperature, "comparison": {},
        "calibration_split_temperature": calibration_split_temperature}}
    card = ModelCard(name=name, version="1.0.0", architecture="tf_efficientnet_lite0",
                     preprocessing=config.preprocessing,
                     members=(Member("supervised", 1.0, bias, input_filter=input_filter),),
                     temperature=temperature, threshold=0.5, weights_file="model.safetensors",
                     weights_sha256=sha256_file(folder / "model.safetensors"),
                     training={"config": json.loads(config_path.read_text())}, metrics=metrics)
    write_card(card, folder)


@pytest.fixture
def two_members(tmp_path):
    make_folder(tmp_path / "data", cameras=("cam_a", "cam_b", "cam_c"), generators=("gen_a", "gen_b", "gen_c"))
    config_path = tiny_config(tmp_path, VALIDATION)
    write_member(tmp_path / "a", "net-a", seed=1, temperature=2.0, config_path=config_path)
    # b's card carries a scaling fitted on the validation groups (temperature and shift): the
    # ensemble must use its calibration-split temperature instead, and no shift. b reads the
    # neighbouring-pixel residual, a: the crops themselves; each keeps its input in the ensemble.
    write_member(tmp_path / "b", "net-b", seed=2, temperature=3.0, config_path=config_path, bias=-0.7,
                 calibration_split_temperature=0.5, input_filter="npr")
    return tmp_path


def ensemble_config(tmp_path, **overrides):
    path = tmp_path / "ensemble.json"
    path.write_text(json.dumps({"name": "duo", "version": "0.1.0", "models": [str(tmp_path / "a"), str(tmp_path / "b")],
                                "calibration": "calibration_split", "out_dir": str(tmp_path / "duo")} | overrides))
    return path


def test_ensemble_averages_the_members_calibrated_logits(two_members):
    tmp_path = two_members
    out = build(ensemble_config(tmp_path), log=lambda message: None)
    card = json.loads((out / "card.json").read_text())
    comparison = card["metrics"]["comparison"]
    assert set(comparison) == {"net-a alone", "net-b alone", MEAN_OF_ALL}
    assert card["metrics"]["shipped"] in comparison
    assert set(card["training"]["ensemble"]["members"]) == {"net-a", "net-b"}

    a, b = load_classifier_from(tmp_path / "a"), load_classifier_from(tmp_path / "b")
    # The mean candidate's clean metrics are those of the mean of the members' logits, each
    # scaled by its calibration-split temperature (b: 0.5, not its card's 3.0 and shift).
    records = gather_records(TrainConfig.load(tmp_path / "config.json"))["validation"]
    def unshifted(model, rgb):  # b's card shift (its first member's bias) is not the ensemble's
        return model.mean_logit(rgb) - model.card.members[0].bias

    z = np.array([(unshifted(a, load_pixels(r)) / 2.0 + unshifted(b, load_pixels(r)) / 0.5) / 2 for r in records])
    from synthcheck.models.evaluate import summary_metrics
    from synthcheck.models.train import sigmoid

    labels = np.array([r.label for r in records])
    assert comparison[MEAN_OF_ALL]["clean"]["auc"] == summary_metrics(labels, sigmoid(z), 0.5)["auc"]
    assert comparison[MEAN_OF_ALL]["clean"]["ece"] == pytest.approx(summary_metrics(labels, sigmoid(z), 0.5)["ece"],
                                                                    abs=2e-4)

    # The shipped folder stands alone: its own weights file, checked by sha256, and it scores
    # an image as its chosen members' weighted logits say.
    ensemble = load_classifier_from(out)
    rgb = load_pixels(records[0])
    singles = {"net-a": unshifted(a, rgb) / 2.0, "net-b": unshifted(b, rgb) / 0.5}
    assert {m["name"]: m["input_filter"] for m in card["members"]}.items() <= {"net-a": "rgb", "net-b": "npr"}.items()
    chosen = [m["name"] for m in card["members"]]
    expected = sum(singles[name] for name in chosen) / len(chosen)
    assert ensemble.mean_logit(rgb) == pytest.approx(expected, abs=1e-3)
    assert {k.split(".")[0] for k in ensemble.members} <= {"net-a", "net-b"}


def test_ensemble_members_must_share_their_split_and_be_single_networks(two_members):
    tmp_path = two_members
    a = load_classifier_from(tmp_path / "a").card
    other_split = replace(a, name="net-c", training={"config": {**a.training["config"],
                                                                 "validation_groups": ["real/cam_a:"]}})
    with pytest.raises(ValueError, match="different data or splits"):
        check_members([a, other_split])
    two_kinds = replace(a, name="net-d", members=(Member("supervised", 1.0), Member("oneclass", 0.5)))
    with pytest.raises(ValueError, match="not a single fine-tuned network"):
        check_members([a, two_kinds])
    with pytest.raises(ValueError, match="distinct names"):
        check_members([a, a])
    clip = ModelCard.load(MODELS_DIR / DEFAULT_MODEL / "card.json")  # a CLIP probe: refused, saying why
    with pytest.raises(ValueError, match="CLIP probe.*did not beat"):
        check_members([a, clip])
    with pytest.raises(ValueError, match="at least two models"):
        build(ensemble_config(tmp_path, models=[str(tmp_path / "a")]))


def test_ensemble_command_builds_the_folder_and_reports_a_bad_config(two_members, capsys):
    from synthcheck.cli import main

    tmp_path = two_members
    assert main(["ensemble", str(ensemble_config(tmp_path)), "--out", str(tmp_path / "cli")]) == 0
    assert load_classifier_from(tmp_path / "cli").card.name == "duo"
    assert main(["ensemble", str(ensemble_config(tmp_path, calibration="everything"))]) == 2
    assert "calibration must be one of" in capsys.readouterr().err


def test_old_cards_name_their_members_by_kind():
    assert Member("supervised", 1.0).member_kind == "supervised"
    assert Member("synthcheck-lite0-v9", 0.3, kind="supervised").member_kind == "supervised"
    assert Preprocessing() == Preprocessing()  # the ensemble compares preprocessing by value
