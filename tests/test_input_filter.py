"""What a network reads of its crops (synthcheck/models/network.py, INPUT_FILTERS): the crops
themselves, or their neighbouring-pixel residual (NPR), recorded per member in the card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from synthcheck import testkit
from synthcheck.errors import ModelError
from synthcheck.models import load_classifier_from, sha256_file
from synthcheck.models.card import Member, ModelCard, Preprocessing, write_card
from synthcheck.models.classifier import prepare_crops, to_tensor
from synthcheck.models.network import NeighbourResidual, create_network, with_input_filter
from synthcheck.models.train import TrainConfig

from .test_classifier import make_folder, tiny_config


def test_neighbour_residual_keeps_what_a_2x2_block_does_not_share():
    blocks = torch.arange(12.0).reshape(1, 1, 3, 4).repeat_interleave(2, -2).repeat_interleave(2, -1)
    assert torch.equal(NeighbourResidual()(blocks), torch.zeros_like(blocks))  # 2x2-constant: nothing left

    spike = torch.zeros(1, 1, 6, 6)
    spike[0, 0, 3, 3] = 1.0  # not a block's top-left pixel: only the spike itself remains
    assert torch.equal(NeighbourResidual()(spike), spike)
    spike = torch.zeros(1, 1, 6, 6)
    spike[0, 0, 2, 2] = 1.0  # a block's top-left pixel: the rest of its block goes to -1
    residual = NeighbourResidual()(spike)
    assert residual[0, 0, 2:4, 2:4].tolist() == [[0.0, -1.0], [-1.0, -1.0]] and residual.abs().sum() == 3

    odd = torch.randn(2, 3, 7, 5)  # odd sizes keep their shape
    assert NeighbourResidual()(odd).shape == odd.shape


def test_input_filter_runs_before_the_network_and_keeps_its_parameter_names():
    torch.manual_seed(0)
    bare = create_network(num_classes=1).eval()
    filtered = with_input_filter(create_network(num_classes=1), "npr").eval()
    assert list(filtered.state_dict()) == list(bare.state_dict())  # weights files and frozen prefixes unchanged
    filtered.load_state_dict(bare.state_dict())
    batch = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(filtered(batch), bare(NeighbourResidual()(batch)), atol=1e-6)
        assert not torch.allclose(filtered(batch), bare(batch), atol=1e-3)
    assert with_input_filter(bare, "rgb") is bare
    with pytest.raises(ValueError, match="input filter must be one of"):
        with_input_filter(bare, "fft")


def write_model(folder, input_filter: str) -> torch.nn.Module:
    torch.manual_seed(3)
    network = create_network(num_classes=1).eval()
    folder.mkdir()
    save_file({f"supervised.{k}": v for k, v in network.state_dict().items()}, str(folder / "model.safetensors"))
    card = ModelCard(name="npr-test", version="0.0.1", architecture="tf_efficientnet_lite0",
                     preprocessing=Preprocessing(crop_size=64, max_grid=2),
                     members=(Member("supervised", 1.0, input_filter=input_filter),), temperature=1.0,
                     threshold=0.5, weights_file="model.safetensors",
                     weights_sha256=sha256_file(folder / "model.safetensors"))
    write_card(card, folder)
    return network


def test_a_card_says_which_members_read_the_residual(tmp_path):
    network = write_model(tmp_path / "npr", "npr")
    classifier = load_classifier_from(tmp_path / "npr")
    rgb = np.asarray(testkit.photo_like(150, 120))
    prep = classifier.card.preprocessing
    with torch.no_grad():
        expected = float(network(NeighbourResidual()(to_tensor(prepare_crops(rgb, prep)[2], prep))).mean())
    assert classifier.mean_logit(rgb) == pytest.approx(expected, abs=1e-3)
    assert "reads the npr residual" in (tmp_path / "npr" / "README.md").read_text()

    card = json.loads((tmp_path / "npr" / "card.json").read_text())
    card["members"][0]["input_filter"] = "wavelet"
    (tmp_path / "npr" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="unknown input filter 'wavelet'"):
        load_classifier_from(tmp_path / "npr")

    del card["members"][0]["input_filter"]  # cards written before the field read the crops themselves
    (tmp_path / "npr" / "card.json").write_text(json.dumps(card))
    assert load_classifier_from(tmp_path / "npr").card.members[0].input_filter == "rgb"


def test_training_with_the_residual_ships_it_in_the_card(tmp_path, monkeypatch):
    from synthcheck.models import train

    make_folder(tmp_path / "data")
    config_path = tiny_config(tmp_path, ["real/cam_b:", "generated/gen_b:"], input_filter="npr", frozen_prefixes=[])
    supervised = "supervised (fine-tuned Lite0, temperature-scaled)"
    monkeypatch.setattr(train, "select_candidate", lambda comparison, networks: supervised)
    out = train.run(config_path)
    card = json.loads((out / "card.json").read_text())
    assert [(m["name"], m["input_filter"]) for m in card["members"]] == [("supervised", "npr")]
    classifier = load_classifier_from(out)
    assert isinstance(classifier.members["supervised"].input_filter, NeighbourResidual)
    assert 0.0 <= classifier.predict(np.asarray(testkit.photo_like(200, 150))).p_generated <= 1.0

    with pytest.raises(ValueError, match="input_filter must be one of"):
        TrainConfig.load(tiny_config(tmp_path, ["real/cam_b:"], input_filter="fft"))
