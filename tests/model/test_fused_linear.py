"""oneDNN's fused linear computes F.linear (and exact GELU) up to float rounding; other cases fall back."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from promptseg.model import fused_linear
from promptseg.model.fused_linear import linear


@pytest.mark.parametrize("activation", [None, "gelu"])
@pytest.mark.parametrize("shape", [(7, 96), (2, 5, 9, 96)])
def test_same_function_as_f_linear(shape, activation):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(*shape), torch.randn(40, 96) * 0.1, torch.randn(40)
    expected = F.linear(x, weight, bias)
    if activation == "gelu":
        expected = F.gelu(expected)
    with torch.inference_mode():
        got = linear(x, weight, bias, activation)
        view = linear(x.transpose(0, -2).transpose(0, -2), weight, None)  # a strided view, no bias
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(view, F.linear(x, weight), atol=1e-5, rtol=1e-5)


def test_falls_back_with_autograd_and_without_onednn(monkeypatch):
    x = torch.randn(3, 8, requires_grad=True)
    weight, bias = torch.randn(4, 8), torch.randn(4)
    out = linear(x, weight, bias, "gelu")  # grad mode on: plain path, differentiable
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    monkeypatch.setattr(fused_linear, "_available", False)
    with torch.inference_mode():
        torch.testing.assert_close(linear(x.detach(), weight, bias), F.linear(x.detach(), weight, bias))
