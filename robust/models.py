"""Small models for the CLI, the demo and the tests (8x8 digits and similar small images).

Examples
--------
>>> import torch
>>> _ = torch.manual_seed(0)
>>> net = SmallCNN()
>>> tuple(net(torch.rand(2, 1, 8, 8)).shape), sum(p.numel() for p in net.parameters())
((2, 10), 25978)
>>> tuple(build_model("mlp", in_shape=(1, 8, 8))(torch.rand(3, 1, 8, 8)).shape)
(3, 10)
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODELS = ("cnn", "mlp")


class SmallCNN(nn.Module):
    """conv(16)-conv(32)-pool-conv(64)-pool-linear: 26k parameters for (N, 1, 8, 8) inputs.

    Parameters
    ----------
    in_channels, num_classes
        Input channels and number of classes.
    width
        Channels of the first convolution (the next two use 2x and 4x).
    batch_norm
        BatchNorm after each convolution (True) or none.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 batch_norm: bool = True):
        super().__init__()
        w = width

        def block(cin: int, cout: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            return layers + [nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(in_channels, w), *block(w, 2 * w), nn.MaxPool2d(2),  # (N, 2w, H/2, W/2)
            *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(2),  # (N, 4w, 2, 2)
        )
        self.head = nn.Linear(16 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (N, classes)


class MLP(nn.Module):
    """Flatten -> hidden -> ReLU -> hidden -> ReLU -> classes."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(name: str, *, in_shape: tuple[int, ...] = (1, 8, 8),
                num_classes: int = 10) -> nn.Module:
    """A fresh model by name: ``"cnn"`` (:class:`SmallCNN`) or ``"mlp"`` (:class:`MLP`)."""
    if name == "cnn":
        return SmallCNN(in_shape[0], num_classes)
    if name == "mlp":
        return MLP(math.prod(in_shape), num_classes)
    raise ValueError(f"model={name!r} is not supported; use one of {MODELS}")
