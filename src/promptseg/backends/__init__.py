"""Backends: one protocol, several implementations, one loader.

``load_backend`` accepts a built-in backend name (``classic``,
``random_walker``, ``grabcut``), a checkpoint registry name
(``mobile_sam_vit_t``, ``sam_vit_b``, ..., ``sam2.1_hiera_tiny``, ...) or a
path to a checkpoint file (SAM 1 / MobileSAM or SAM 2.1, told apart by its keys).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..errors import CheckpointError
from .base import Backend, ImageEmbedding, Prediction, check_embedding

__all__ = ["Backend", "ImageEmbedding", "Prediction", "check_embedding", "load_backend", "BUILTIN_BACKENDS"]

#: Backends that need no checkpoint: name -> "module:Class" (imported lazily,
#: so optional dependencies such as OpenCV are only needed when used).
BUILTIN_BACKENDS: dict[str, str] = {
    "classic": "promptseg.backends.classic:ClassicBackend",
    "random_walker": "promptseg.backends.random_walker:RandomWalkerBackend",
    "grabcut": "promptseg.backends.grabcut:GrabCutBackend",
}


def load_backend(
    name_or_path: str | os.PathLike,
    *,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Backend:
    """Return a ready-to-use backend.

    Parameters
    ----------
    name_or_path : str or path
        A built-in backend name, a checkpoint registry name (downloaded on
        first use, then read from the cache) or a path to a checkpoint file
        (its architecture is inferred from the state dict).  SAM 2.1 names
        and files give a :class:`~promptseg.backends.sam2.Sam2Backend` whose
        ``architecture`` says which of the four published models it is;
        SAM 1-family ones a :class:`~promptseg.backends.sam.SamBackend`.
    device : str, optional
        Torch device for SAM-family backends (``"cpu"``, ``"cuda"``, ...);
        default: CUDA if available, else CPU.
    cache_dir : path, optional
        Where checkpoints are downloaded; default ``$PROMPTSEG_CACHE_DIR`` or
        the per-user cache.
    progress : bool
        Show a download progress bar.

    Raises
    ------
    CheckpointError
        Unknown name, missing file, corrupt or mismatching checkpoint.
    DownloadError
        The checkpoint could not be downloaded; the message names the URL and
        the path where the file can be put by hand.
    """
    key = os.fspath(name_or_path)
    if key in BUILTIN_BACKENDS:
        module_name, cls_name = BUILTIN_BACKENDS[key].split(":")
        return getattr(importlib.import_module(module_name), cls_name)()
    from ..model.registry import is_registry_name

    if is_registry_name(key) or Path(key).expanduser().exists():
        from ..model.sam2.load import is_sam2_checkpoint

        if is_sam2_checkpoint(key):
            from .sam2 import Sam2Backend

            return Sam2Backend.from_checkpoint(key, device=device, cache_dir=cache_dir, progress=progress)
        from .sam import SamBackend

        return SamBackend.from_checkpoint(key, device=device, cache_dir=cache_dir, progress=progress)
    from ..model.registry import registry_names

    raise CheckpointError(
        f"unknown backend {key!r}: not a file and not one of "
        f"{sorted(BUILTIN_BACKENDS) + registry_names()}. "
        "Pass a registry name (see `promptseg models`), a built-in backend or the path to a checkpoint file."
    )
