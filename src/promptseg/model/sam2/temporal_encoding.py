"""Sine encoding of 1-D positions: the temporal encoding of SAM 2's object pointers."""

from __future__ import annotations

import torch

__all__ = ["sine_offset_encoding"]


def sine_offset_encoding(offsets: torch.Tensor, channels: int, temperature: float = 10000.0) -> torch.Tensor:
    """Sines then cosines of 1-D positions.

    Channel ``i`` of each half uses the frequency
    ``temperature ** (-2 * (i // 2) / (channels / 2))`` (consecutive channels
    share a frequency, as in the official code).

    Parameters
    ----------
    offsets : torch.Tensor, shape (N,), float
        Positions (already normalised by the caller).
    channels : int
        Output channels; even.  The first half are sines, the second cosines.
    temperature : float
        Base of the frequencies.

    Returns
    -------
    torch.Tensor, shape (N, channels), float32
    """
    if channels % 2:
        raise ValueError(f"a sine encoding needs an even channel count, got {channels}")
    half = channels // 2
    index = torch.arange(half, dtype=torch.float32, device=offsets.device)
    inverse = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / half)
    phase = offsets.float()[:, None] / inverse
    return torch.cat((phase.sin(), phase.cos()), dim=-1)
