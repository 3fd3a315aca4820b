"""Linear layers through oneDNN on the CPU: bias (and GELU) applied inside the matrix product.

``torch.nn.functional.linear`` on a CPU first writes the broadcast bias into
the output and then accumulates the product onto it; an activation is one
more pass over the result.  oneDNN's inner-product primitive adds the bias and
applies GELU (erf form, as ``nn.GELU``) while it writes the output, which
saves those passes over activations of tens of MB (measured 5-20 % per layer
on the Hiera encoder's shapes, float32, same results up to float rounding).

Used only where it computes the same function: float32 CPU tensors with no
gradient being recorded; everywhere else (CUDA, autograd, builds without
oneDNN) the plain ``F.linear`` path runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from .common import gelu

_available: bool | None = None


def onednn_available() -> bool:
    """Whether this torch build offers oneDNN's fused linear (checked once)."""
    global _available
    if _available is None:
        _available = False
        if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
            try:
                probe = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2), torch.ones(3, 2), None, "none", [], "")
                _available = tuple(probe.shape) == (1, 3)
            except (RuntimeError, NotImplementedError):
                _available = False
    return _available


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str | None = None
) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, followed by exact GELU when ``activation == "gelu"``.

    Parameters
    ----------
    x : torch.Tensor, (..., in_features)
    weight : torch.Tensor, (out_features, in_features)
    bias : torch.Tensor, (out_features,), or None
    activation : None or "gelu"

    Returns
    -------
    torch.Tensor, (..., out_features)
    """
    if (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and onednn_available()
    ):
        if activation == "gelu":
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    y = F.linear(x, weight, bias)
    return gelu(y) if activation == "gelu" else y
