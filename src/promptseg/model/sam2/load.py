"""Load a SAM 2.1 checkpoint strictly: registry name or file, architecture named from the keys."""

from __future__ import annotations

import os
from typing import Any

from ...errors import CheckpointError
from ..checkpoint import LoadedCheckpoint, load_strict, read_state_dict
from ..download import content_hash, existing_file, locate_checkpoint, registry_entry
from ..registry import CheckpointInfo
from .build import build_sam2
from .config import SAM2_ARCHITECTURES, SAM2_CHECKPOINT_NAMES
from .identify import identify_sam2, is_sam2_state
from .sam2_model import Sam2Model

__all__ = ["is_sam2_checkpoint", "load_sam2"]


def is_sam2_checkpoint(name_or_path: str | os.PathLike | CheckpointInfo) -> bool:
    """Whether a registry name or checkpoint file is a SAM 2 model (from the registry's family, or the file's keys).

    A file is read memory-mapped (zip-format checkpoints), so reading it again
    to load it costs little.  Anything that is neither a registry name nor a
    readable file answers False (the loader it then goes to says what is wrong).
    """
    info = registry_entry(name_or_path)
    if info is not None:
        return info.family == "sam2.1"
    try:
        return is_sam2_state(read_state_dict(existing_file(name_or_path)))
    except CheckpointError:
        return False


def load_sam2(
    name_or_path: str | os.PathLike | CheckpointInfo,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Any = True,
) -> tuple[Sam2Model, LoadedCheckpoint]:
    """Build a SAM 2.1 model and load a checkpoint into it, strictly.

    The file is read with ``torch.load(..., weights_only=True)``; the state
    dict is ``checkpoint["model"]`` (a plain state dict works too).  Its keys
    tell which published model it is; every key and shape must then match
    that model.

    Parameters
    ----------
    name_or_path : str, path or CheckpointInfo
        A SAM 2.1 registry name (``sam2.1_hiera_tiny`` ...; downloaded and
        verified on first use), a registry entry, or a checkpoint file.
    cache_dir : path, optional
        Cache folder for registry checkpoints.
    progress : bool or progress-bar object
        Download progress display, as in
        :func:`~promptseg.model.download.fetch_checkpoint`.

    Returns
    -------
    model : Sam2Model
        On the CPU, in eval mode.
    loaded : LoadedCheckpoint
        Name, path, :class:`~promptseg.model.sam2.config.Sam2Config`,
        architecture (``hiera_t`` ...) and content hash of the weights.

    Raises
    ------
    CheckpointError
        Unknown name, a SAM 1 name, missing / unreadable / corrupt file, not a
        SAM 2.1 state dict, a trunk none of the four published ones, or keys
        and shapes that do not fit.
    DownloadError
        A registry checkpoint could not be downloaded.
    """
    file = locate_checkpoint(name_or_path, family="sam2.1", other_family=_not_sam2, cache_dir=cache_dir,
                             progress=progress)
    source = f"checkpoint {file.path}"
    state = read_state_dict(file.path)
    architecture = identify_sam2(state, source=source)
    if file.info is not None and architecture != file.info.architecture:
        raise CheckpointError(
            f"{source} was fetched for {file.name!r} ({file.info.architecture}) but its keys are those of "
            f"{architecture}; delete the file and download it again."
        )
    config = SAM2_ARCHITECTURES[architecture]
    model = build_sam2(config)
    load_strict(model, state, source=source, expected=f"the SAM 2.1 {architecture} architecture")
    model.eval()
    return model, LoadedCheckpoint(file.name, file.path, config, content_hash(file.path), architecture,
                                   file.registry_name)


def _not_sam2(info: CheckpointInfo) -> CheckpointError:
    return CheckpointError(
        f"{info.name!r} is a SAM 1-family model ({info.architecture}); load it with "
        f"promptseg.model.checkpoint.load_sam. SAM 2.1 models: {', '.join(SAM2_CHECKPOINT_NAMES.values())}."
    )
