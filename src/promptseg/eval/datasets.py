"""Reading evaluation datasets: images with one-object masks or instance labels.

The layout (also that of ``../shared/datasets``)::

    <dataset>/images/<id>.jpg|png|tif|bmp   RGB or grayscale image, any size
    <dataset>/masks/<id>.png                one object: 0 background,
                                            128 ignore, anything else object
    <dataset>/labels/<id>.png|tif           instance ids, 0 background;
                                            every id is one target

A dataset has either ``masks/`` or ``labels/``.  Any user folder in this
layout can be evaluated.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import PromptsegError
from .clicker import IGNORE_VALUE

__all__ = ["Dataset", "DatasetError", "Target", "IMAGE_SUFFIXES", "read_image", "read_mask"]

#: File suffixes accepted for images, masks and labels.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class DatasetError(PromptsegError, ValueError):
    """A dataset folder does not follow the layout or its files do not pair up."""


@dataclass(frozen=True)
class Target:
    """One object to segment.

    Attributes
    ----------
    image_id : str
        File stem shared by the image and its mask or labels.
    instance : int
        Instance id in ``labels/``; 255 for a ``masks/`` dataset.
    """

    image_id: str
    instance: int

    @property
    def name(self) -> str:
        """``image_id`` for one-object datasets, ``image_id#instance`` for instance ones."""
        return self.image_id if self.instance == 255 else f"{self.image_id}#{self.instance}"


class Dataset:
    """An evaluation folder, indexed into targets.

    Parameters
    ----------
    root : path
        Folder with ``images/`` and either ``masks/`` or ``labels/``.

    Attributes
    ----------
    name : str
        The folder's name.
    kind : {"masks", "labels"}
        One object per image, or instance labels.
    targets : list of Target
        Every non-empty target, sorted by image id then instance id.
    skipped : list of str
        Image ids whose mask holds no object pixel (skipped with a warning).

    Raises
    ------
    DatasetError
        Missing folders, images without a mask (or the reverse), duplicate
        ids, or a mask whose size differs from its image.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.name = self.root.resolve().name
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist.")
        image_dir = self.root / "images"
        has_masks, has_labels = (self.root / "masks").is_dir(), (self.root / "labels").is_dir()
        if not image_dir.is_dir() or has_masks == has_labels:
            raise DatasetError(
                f"{self.root} is not an evaluation dataset: it needs an images/ folder and exactly one of "
                "masks/ (one object per image: 0 background, 255 object, 128 ignore) or labels/ "
                "(instance ids, 0 background)."
            )
        self.kind = "masks" if has_masks else "labels"
        self._images = _index(image_dir)
        self._masks = _index(self.root / self.kind)
        missing = sorted(set(self._images) - set(self._masks))
        orphans = sorted(set(self._masks) - set(self._images))
        if missing or orphans:
            parts = []
            if missing:
                parts.append(f"{len(missing)} image(s) without a file in {self.kind}/ (e.g. {missing[:3]})")
            if orphans:
                parts.append(f"{len(orphans)} file(s) in {self.kind}/ without an image (e.g. {orphans[:3]})")
            raise DatasetError(
                f"{self.root}: " + "; ".join(parts) + ". Every image needs a mask with the same file stem."
            )
        if not self._images:
            raise DatasetError(f"{image_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        self.targets: list[Target] = []
        self.skipped: list[str] = []
        for image_id in sorted(self._images):
            ids = self._target_ids(image_id)
            if not ids:
                self.skipped.append(image_id)
            self.targets.extend(Target(image_id, i) for i in ids)
        if self.skipped:
            warnings.warn(
                f"{self.name}: skipped {len(self.skipped)} image(s) whose {self.kind[:-1]} has no object "
                f"pixel (e.g. {self.skipped[:3]}).",
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, kind={self.kind!r}, targets={len(self.targets)}, skipped={len(self.skipped)})"

    def image_path(self, image_id: str) -> Path:
        return self._images[image_id]

    def load_image(self, image_id: str) -> np.ndarray:
        """The image as stored: (H, W) grayscale or (H, W, 3) RGB, usually uint8."""
        return read_image(self._images[image_id])

    def load_annotation(self, image_id: str) -> np.ndarray:
        """The (H, W) mask (uint8, 128 ignore) or instance labels of one image."""
        return read_mask(self._masks[image_id])

    def target_masks(
        self, image_id: str, targets: Sequence[Target] | None = None
    ) -> Iterator[tuple[Target, np.ndarray, np.ndarray | None]]:
        """Yield ``(target, gt, ignore)`` for targets of one image.

        Parameters
        ----------
        image_id : str
            Which image.
        targets : sequence of Target, optional
            Only these (default: every target of the image).

        Yields
        ------
        target : Target
        gt : np.ndarray, shape (H, W), bool
            The object; for instance labels every other instance is background.
        ignore : np.ndarray, shape (H, W), bool, or None
            Pixels marked 128 in a mask file; ``None`` when there are none.
        """
        wanted = self.targets_of(image_id) if targets is None else [t for t in targets if t.image_id == image_id]
        if not wanted:
            return
        ann = self.load_annotation(image_id)
        if self.kind == "masks":
            ignore = ann == IGNORE_VALUE
            yield wanted[0], (ann != 0) & ~ignore, (ignore if ignore.any() else None)
            return
        for t in wanted:
            yield t, ann == t.instance, None

    def targets_of(self, image_id: str) -> list[Target]:
        return [t for t in self.targets if t.image_id == image_id]

    def _target_ids(self, image_id: str) -> list[int]:
        ann = self.load_annotation(image_id)
        shape = _image_shape(self._images[image_id])
        if ann.shape != shape:
            raise DatasetError(
                f"{self.name}/{image_id}: the {self.kind[:-1]} is {ann.shape[0]} x {ann.shape[1]} pixels but the "
                f"image is {shape[0]} x {shape[1]}; they must have the same size (row x col)."
            )
        if self.kind == "masks":
            return [255] if np.any((ann != 0) & (ann != IGNORE_VALUE)) else []
        return [int(i) for i in np.unique(ann) if i != 0]


def _index(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in files:
            raise DatasetError(f"{folder}: two files share the id {path.stem!r} ({files[path.stem].name}, {path.name}).")
        files[path.stem] = path
    return files


def _image_shape(path: Path) -> tuple[int, int]:
    if path.suffix.lower() in (".tif", ".tiff"):
        return tuple(read_image(path).shape[:2])  # type: ignore[return-value]
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W) or (H, W, 3) pixels in (row, col) order.

    Palette, CMYK and alpha images become RGB; 16-bit and float data keep
    their dtype (backends scale them).

    Raises
    ------
    DatasetError
        If the file cannot be read.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image

            with Image.open(path) as im:
                if im.mode not in ("L", "RGB", "I", "I;16", "F"):
                    im = im.convert("RGB")
                arr = np.asarray(im)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    return arr


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask or label file as a 2D (H, W) integer array.

    Raises
    ------
    DatasetError
        If the file is unreadable or has colour channels that differ.
    """
    arr = read_image(path)
    if arr.ndim == 3:
        if not (arr == arr[..., :1]).all():
            raise DatasetError(
                f"{path} is a colour image; masks must be single-channel (0 background, 255 object, 128 ignore) "
                "and labels single-channel integer ids."
            )
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DatasetError(f"{path} has shape {arr.shape}; a mask must be a 2D image.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise DatasetError(f"{path} holds non-integer values; masks and labels must be integer images.")
        arr = arr.astype(np.int64)
    return arr
