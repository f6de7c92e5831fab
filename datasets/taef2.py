"""TAEF2: the tiny autoencoder of the FLUX.2 latent space (madebyollin/taesd, MIT),
rebuilt here from its state dicts: 3x3 convolutions, residual blocks with ReLU,
stride-2 convolutions down, nearest-neighbour upsampling up. The FLUX.2 variant adds
a "mid-block" branch (1x1 conv to 4x the channels, GroupNorm(4), ReLU, 1x1 conv back)
to the blocks nearest the latent. Pixels in and out are in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class Block(nn.Module):
    def __init__(self, channels: int, midblock: bool = False):
        super().__init__()
        self.conv = nn.Sequential(conv(channels, channels), nn.ReLU(), conv(channels, channels), nn.ReLU(),
                                  conv(channels, channels))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = (
            nn.Sequential(nn.Conv2d(channels, 4 * channels, 1, bias=False), nn.GroupNorm(4, 4 * channels),
                          nn.ReLU(), nn.Conv2d(4 * channels, channels, 1, bias=False))
            if midblock else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def encoder(latent_channels: int = 32) -> nn.Sequential:
    return nn.Sequential(
        conv(3, 64), Block(64),
        conv(64, 64, stride=2, bias=False), Block(64), Block(64), Block(64),
        conv(64, 64, stride=2, bias=False), Block(64), Block(64), Block(64),
        conv(64, 64, stride=2, bias=False), Block(64, True), Block(64, True), Block(64, True),
        conv(64, latent_channels),
    )


def decoder(latent_channels: int = 32) -> nn.Sequential:
    return nn.Sequential(
        Clamp(), conv(latent_channels, 64), nn.ReLU(),
        Block(64, True), Block(64, True), Block(64, True), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64), Block(64), Block(64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64), Block(64), Block(64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64), conv(64, 3),
    )


class TAEF2(nn.Module):
    def __init__(self, weights_dir: str | Path):
        super().__init__()
        weights_dir = Path(weights_dir)
        self.encoder, self.decoder = encoder(), decoder()
        for part, module in (("encoder", self.encoder), ("decoder", self.decoder)):
            state = torch.load(weights_dir / f"taef2_{part}.pth", map_location="cpu", weights_only=True)
            module.load_state_dict({k: v.float() for k, v in state.items()})
        self.eval()

    @torch.no_grad()
    def reconstruct(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1], H and W multiples of 8 -> the decoded reconstruction."""
        return self.decoder(self.encoder(rgb)).clamp(0, 1)
