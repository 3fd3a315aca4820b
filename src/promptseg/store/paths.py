"""Where the store of an image lives: ``IMAGE.embeddings.zarr`` next to it, or in a chosen folder."""

from __future__ import annotations

import os
from pathlib import Path

#: Appended to the image file name to name its store.
STORE_SUFFIX = ".embeddings.zarr"


def store_path_for(image_path: str | os.PathLike, store_dir: str | os.PathLike | None = None) -> Path:
    """The store of ``image_path``: ``<store_dir or the image's folder>/<image name>.embeddings.zarr``.

    Examples
    --------
    >>> store_path_for("/data/stack.tif").as_posix()
    '/data/stack.tif.embeddings.zarr'
    >>> store_path_for("/data/stack.tif", "/scratch/emb").as_posix()
    '/scratch/emb/stack.tif.embeddings.zarr'
    """
    image = Path(image_path).expanduser()
    folder = image.parent if store_dir is None else Path(store_dir).expanduser()
    return folder / (image.name + STORE_SUFFIX)


def find_store(image_path: str | os.PathLike, *folders: str | os.PathLike) -> Path | None:
    """The first existing store of ``image_path`` next to it or in ``folders`` (None if there is none)."""
    for folder in (None, *folders):
        candidate = store_path_for(image_path, folder)
        if (candidate / "zarr.json").exists():
            return candidate
    return None
