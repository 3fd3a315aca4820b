"""Image series: walk a folder of images, save each one's objects as a label TIFF, resume where the user stopped.

GUI-free: the annotator's series mode maps next / previous / save to these
calls.  Labels of ``cells_03.png`` go to ``cells_03.labels.tif`` next to it
or in ``output_dir``; the first image without a label file is where a new
session resumes.

Examples
--------
>>> series = ImageSeries(folder)                     # doctest: +SKIP
>>> i = series.resume_index()                        # doctest: +SKIP
>>> image = series.read(i)                           # doctest: +SKIP
>>> series.save_labels(i, session.objects)           # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ImageError
from ..io import TIFF_SUFFIXES, read_image

#: Image files a series is made of.
SERIES_SUFFIXES = TIFF_SUFFIXES + (".png", ".jpg", ".jpeg", ".bmp")
#: Appended to an image's stem to name its label file.
LABEL_SUFFIX = ".labels.tif"


class ImageSeries:
    """The images of one folder, in name order, with their label files.

    Parameters
    ----------
    folder : path
        Folder of images; label files written by this class are skipped.
    output_dir : path, optional
        Where label files go (default: next to each image).

    Raises
    ------
    ImageError
        The folder does not exist or holds no images.
    """

    def __init__(self, folder: str | os.PathLike, *, output_dir: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise ImageError(f"image series folder not found: {self.folder}")
        self.output_dir = None if output_dir is None else Path(output_dir).expanduser()
        self.images = sorted(
            p for p in self.folder.iterdir()
            if p.is_file() and p.suffix.lower() in SERIES_SUFFIXES and not p.name.endswith(LABEL_SUFFIX)
        )
        if not self.images:
            raise ImageError(f"{self.folder} holds no images ({', '.join(SERIES_SUFFIXES)}).")

    def __len__(self) -> int:
        return len(self.images)

    def labels_path(self, index: int) -> Path:
        """Where the labels of image ``index`` are (or will be) saved."""
        image = self.images[index]
        folder = self.output_dir or image.parent
        return folder / (image.stem + LABEL_SUFFIX)

    def is_done(self, index: int) -> bool:
        """Whether image ``index`` has a saved label file."""
        return self.labels_path(index).exists()

    def resume_index(self) -> int:
        """The first image without labels (the last image when all are done)."""
        for i in range(len(self)):
            if not self.is_done(i):
                return i
        return len(self) - 1

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` as an array (see :func:`promptseg.io.read_image`)."""
        return read_image(self.images[index])

    def load_labels(self, index: int) -> np.ndarray | None:
        """The saved labels of image ``index``, or None."""
        path = self.labels_path(index)
        if not path.exists():
            return None
        import tifffile

        return np.asarray(tifffile.imread(path))

    def save_labels(self, index: int, labels: np.ndarray) -> Path:
        """Write the objects of image ``index`` as a compressed integer TIFF (0 background); returns its path."""
        import tifffile

        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ImageError(f"labels must be an integer array, got {labels.dtype}.")
        dtype = np.uint16 if labels.size == 0 or labels.max() < 2**16 else np.uint32
        path = self.labels_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib")
        os.replace(tmp, path)  # never a half-written label file
        return path

    def step(self, index: int, delta: int) -> int:
        """The index ``delta`` images away from ``index``, clamped to the series (next: +1, previous: -1)."""
        return int(min(max(index + delta, 0), len(self) - 1))
