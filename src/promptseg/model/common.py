"""Small layers shared by the SAM-family networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU; in place when no gradient is recorded.

    Encoder activations are tens of MB: overwriting a fresh intermediate
    avoids a second buffer and its page faults (0.25 s of a 1.1 s TinyViT
    encode on 2 cores).  Callers pass tensors they own.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x)
    torch._C._nn.gelu_(x)
    return x


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel axis of a (B, C, H, W) tensor."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalising a channels-last view with F.layer_norm is one fused
        # kernel; numerically it is the same mean/variance formula.
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class MLP(nn.Module):
    """A plain multilayer perceptron with ReLU between layers.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        Widths of the input, every hidden layer and the output.
    num_layers : int
        Number of linear layers (``layers.0`` ... ``layers.{n-1}``).
    activation : callable, optional
        Applied between layers (default ReLU; SAM 2's Hiera blocks use GELU).
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, activation=F.relu
    ) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims_in, dims_out))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.activation(x)
        return x


class LinMLP(nn.Module):
    """Linear -> activation -> Linear, with SAM 1's key names ``lin1`` / ``lin2``.

    Parameters
    ----------
    dim, hidden : int
        Input and output width, and the width between the two layers.
    activation : callable
        Applied between the layers: :func:`gelu` in the ViT encoder's blocks,
        ReLU in the two-way transformer's.  Maps a (..., hidden) tensor to
        one of the same shape.
    """

    def __init__(self, dim: int, hidden: int, activation) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., dim) -> (..., dim)."""
        return self.lin2(self.activation(self.lin1(x)))
