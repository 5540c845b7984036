"""Small models for the CLI, the demo and the tests (8x8 digits, 28x28 Fashion-MNIST).

Examples
--------
>>> import torch
>>> _ = torch.manual_seed(0)
>>> net = SmallCNN()
>>> tuple(net(torch.rand(2, 1, 8, 8)).shape), sum(p.numel() for p in net.parameters())
((2, 10), 25978)
>>> tuple(build_model("mlp", in_shape=(1, 8, 8))(torch.rand(3, 1, 8, 8)).shape)
(3, 10)
>>> net28 = build_model("cnn28", in_shape=(1, 28, 28))
>>> tuple(net28(torch.rand(2, 1, 28, 28)).shape), sum(p.numel() for p in net28.parameters())
((2, 10), 207018)
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODELS = ("cnn", "cnn28", "mlp")


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


class CNN28(nn.Module):
    """conv(w)-pool-conv(2w)-pool-linear(128)-linear for (N, C, 28, 28) images (207k parameters
    at w = 16), BatchNorm after each convolution: the Fashion-MNIST benchmark model.

    About 4x cheaper per 28x28 image than :class:`SmallCNN` (which pools once and keeps 64
    channels at 14x14), so a CPU can afford PGD-AT on a 20k subset.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 side: int = 28):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (N, w, side/2, side/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (N, 2w, side/4, side/4)
        )
        q = side // 4
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * q * q, 128),
                                  nn.ReLU(inplace=True), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, classes)


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
    """A fresh model by name: ``"cnn"`` (:class:`SmallCNN`), ``"cnn28"`` (:class:`CNN28`, square
    inputs) or ``"mlp"`` (:class:`MLP`)."""
    if name == "cnn":
        return SmallCNN(in_shape[0], num_classes)
    if name == "cnn28":
        if len(in_shape) != 3 or in_shape[1] != in_shape[2] or in_shape[1] < 4:
            raise ValueError(f"model='cnn28' needs square images (C, H, H) with H >= 4, got "
                             f"in_shape={in_shape}")
        return CNN28(in_shape[0], num_classes, side=in_shape[1])
    if name == "mlp":
        return MLP(math.prod(in_shape), num_classes)
    raise ValueError(f"model={name!r} is not supported; use one of {MODELS}")
