"""The three torchvision transforms the official sam2 image predictor uses, for benchmarks only.

``sam2.utils.transforms`` scripts ``Sequential(Resize, Normalize)`` with
TorchScript, so these are plain typed modules.  They compute what
torchvision's tensor transforms compute: ``ToTensor`` scales uint8 HWC to
float CHW in [0, 1]; ``Resize`` is bilinear with antialiasing and
align_corners=False; ``Normalize`` subtracts the mean and divides by the std.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ToTensor:
    def __call__(self, image) -> torch.Tensor:
        array = np.asarray(image)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div(255.0)


class Resize(nn.Module):
    def __init__(self, size) -> None:
        super().__init__()
        self.size: List[int] = [int(size[0]), int(size[1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batched = x.unsqueeze(0) if x.dim() == 3 else x
        out = F.interpolate(batched, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return out.squeeze(0) if x.dim() == 3 else out


class Normalize(nn.Module):
    def __init__(self, mean: List[float], std: List[float]) -> None:
        super().__init__()
        self.mean: List[float] = [float(v) for v in mean]
        self.std: List[float] = [float(v) for v in std]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std


def install() -> None:
    """Serve ``torchvision.transforms`` from this module when torchvision is not installed."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    transforms = types.ModuleType("torchvision.transforms")
    transforms.Normalize, transforms.Resize, transforms.ToTensor = Normalize, Resize, ToTensor
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    sys.modules.update({"torchvision": torchvision, "torchvision.transforms": transforms})
