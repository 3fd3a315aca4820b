"""Recognise a SAM 2.1 state dict from its keys and tell which published model it is.

Only key names and ``.shape`` are read, so tensors on the ``meta`` device work.
The Hiera trunk's width, stage depths and positional-embedding grids show in
the shapes; its heads and global-attention blocks do not, so a file is named
after the published model whose visible numbers it shares, and strict loading
into that model's builder then checks every key and shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import CheckpointError
from ..checkpoint import _count, _shape
from .config import SAM2_ARCHITECTURES, SAM2_CHECKPOINT_NAMES, Sam2Config

__all__ = ["identify_sam2", "is_sam2_state", "trunk_layout"]

_TRUNK = "image_encoder.trunk."
#: Keys that SAM 2.1 checkpoints have and SAM 2.0 checkpoints lack.
_SAM21_ONLY = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight")


def is_sam2_state(state: Mapping[str, Any]) -> bool:
    """Whether the keys are those of a SAM 2 model (Hiera trunk or SAM 2 heads)."""
    return _TRUNK + "patch_embed.proj.weight" in state or any(key.startswith("sam_mask_decoder.") for key in state)


def trunk_layout(state: Mapping[str, Any]) -> dict[str, Any]:
    """The Hiera numbers visible in the shapes.

    Returns
    -------
    dict
        ``embed_dim``, ``stages`` (blocks per stage, from the blocks that
        change the width), ``window_pos_embed_bkg_spatial_size`` and the first
        window side (``window0``, from the window positional embedding).

    Raises
    ------
    CheckpointError
        A trunk key is missing or the blocks are not numbered consecutively.
    """
    embed_dim = _shape(state, _TRUNK + "patch_embed.proj.weight")[0]
    depth = _count(state, _TRUNK + "blocks.")
    starts = [0] + [i for i in range(depth) if f"{_TRUNK}blocks.{i}.proj.weight" in state]
    stages = tuple(b - a for a, b in zip(starts, starts[1:] + [depth]))
    return {
        "embed_dim": embed_dim,
        "stages": stages,
        "window_pos_embed_bkg_spatial_size": tuple(_shape(state, _TRUNK + "pos_embed")[2:]),
        "window0": _shape(state, _TRUNK + "pos_embed_window")[-1],
    }


def _visible(config: Sam2Config) -> dict[str, Any]:
    return {
        "embed_dim": config.embed_dim,
        "stages": config.stages,
        "window_pos_embed_bkg_spatial_size": config.window_pos_embed_bkg_spatial_size,
        "window0": config.window_spec[0],
    }


def identify_sam2(state: Mapping[str, Any], *, source: str = "checkpoint") -> str:
    """Which published SAM 2.1 architecture a SAM 2 state dict has.

    Parameters
    ----------
    state : mapping of str to tensor
        Flat state dict (``checkpoint["model"]`` of an official file).
    source : str
        Names the file in error messages.

    Returns
    -------
    str
        A key of :data:`~promptseg.model.sam2.config.SAM2_ARCHITECTURES`
        (``hiera_t``, ``hiera_s``, ``hiera_b+`` or ``hiera_l``).

    Raises
    ------
    CheckpointError
        Not a SAM 2 state dict, a SAM 2.0 file, or a trunk that is none of
        the four published ones.
    """
    if not is_sam2_state(state):
        raise CheckpointError(f"{source} is not a SAM 2 checkpoint: it has no image_encoder.trunk. or sam_mask_decoder. keys")
    layout = trunk_layout(state)
    if not all(key in state for key in _SAM21_ONLY):
        raise CheckpointError(
            f"{source} looks like a SAM 2.0 checkpoint (no {' / '.join(_SAM21_ONLY)}); only SAM 2.1 checkpoints are "
            f"supported: use one of {', '.join(SAM2_CHECKPOINT_NAMES.values())} (`promptseg models`)."
        )
    for name, config in SAM2_ARCHITECTURES.items():
        if _visible(config) == layout:
            return name
    raise CheckpointError(
        f"{source} is a SAM 2.1 checkpoint whose Hiera trunk (width {layout['embed_dim']}, stages "
        f"{list(layout['stages'])}) is none of the published models {sorted(SAM2_ARCHITECTURES)}. Its attention heads "
        "and global-attention blocks cannot be read from the weights: build the model with "
        "promptseg.model.sam2.build.build_sam2(Sam2Config(...)) and load it with load_strict."
    )
