"""Where the store of an image lives (``IMAGE.embeddings.zarr`` next to it, or in a chosen folder), and replacing one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import StoreError

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


def replace_error(cls: type[StoreError], template: str) -> StoreError:
    """``cls`` with ``{replace}`` in ``template`` said for Python (overwrite=True) and for the CLI (--overwrite)."""
    return cls(template.format(replace="pass overwrite=True"),
               cli=template.format(replace="run `promptseg embed` again with --overwrite"))


def damaged_store(path: Path, problem: str) -> StoreError:
    """The error for a store whose own metadata is damaged (it cannot be used at all)."""
    return replace_error(StoreError, f"the embedding store {path} is damaged: {problem}. It is not used; to "
                                      "re-compute it, {replace}, or remove the folder.")


def holds_no_slice(path: Path) -> bool:
    """Whether the store at ``path`` has no complete slice (nothing is lost by replacing it)."""
    done = path / "done" / "c"
    return not done.is_dir() or not any(f.is_file() and f.read_bytes() != b"\x00" for f in done.iterdir())


def is_leftover(path: Path) -> bool:
    """Whether ``path`` is what a store leaves when its folder was removed while it was written.

    zarr recreates the folders of the chunks it writes, so such a store has
    chunk folders (``done/`` among them) but no ``zarr.json``: unreadable,
    and nothing in it can be lost.
    """
    return (path.name.endswith(".zarr") and path.is_dir() and not (path / "zarr.json").exists()
            and (path / "done").is_dir() and all(child.is_dir() for child in path.iterdir()))


def remove_store(path: Path) -> None:
    """Delete a previous store (or its leftover); refuse to delete anything that does not look like one."""
    if path.is_dir() and ((path / "zarr.json").exists() or is_leftover(path)):
        shutil.rmtree(path)
    elif path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    else:
        raise StoreError(f"{path} exists and is not an embedding store; it is not deleted. Choose another path.")
