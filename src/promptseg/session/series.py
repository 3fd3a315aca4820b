"""Image series: walk a folder of images, save each one's objects as a label TIFF, resume where the user stopped.

GUI-free: the annotator's series mode maps next / previous / save / mark
done to these calls.  Labels of ``cells_03.png`` go to
``cells_03.labels.tif`` next to it or in ``output_dir``; the first image
that is not done is where a new session resumes.

An image is done when its label file holds at least one object, or when the
user marked it done on purpose (an image with nothing to annotate).  The
label file says which in its TIFF ImageDescription (``{"promptseg_labels": 1,
"objects": N, "marked_done": bool}``); a label file without that record (an
earlier version's) is done when it holds an object.  An image without
objects, not marked done and without a label file gets none: moving past an
untouched image leaves it to do.

Examples
--------
>>> series = ImageSeries(folder)                     # doctest: +SKIP
>>> i = series.resume_index()                        # doctest: +SKIP
>>> image = series.read(i)                           # doctest: +SKIP
>>> series.save_labels(i, session.objects)           # doctest: +SKIP
>>> series.save_labels(i, empty, done=True)          # nothing to annotate here  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageError
from ..io import TIFF_SUFFIXES, read_image

#: Image files a series is made of.
SERIES_SUFFIXES = TIFF_SUFFIXES + (".png", ".jpg", ".jpeg", ".bmp")
#: Appended to an image's stem to name its label file.
LABEL_SUFFIX = ".labels.tif"
#: Key of the record a label file carries in its ImageDescription (value: the record's version).
RECORD_KEY = "promptseg_labels"


@dataclass(frozen=True)
class LabelRecord:
    """What an image's label file says about it.

    Attributes
    ----------
    objects : int
        Number of distinct non-zero labels saved.
    marked_done : bool
        The user marked the image done on purpose (e.g. nothing in it to annotate).
    """

    objects: int
    marked_done: bool = False

    @property
    def done(self) -> bool:
        """Whether the image is finished: it has objects or was marked done."""
        return self.objects > 0 or self.marked_done


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

    def record(self, index: int) -> LabelRecord | None:
        """What the label file of image ``index`` says (None: no label file).

        A label file without a record (written by an earlier version) is read
        whole and its objects counted; it is never marked done.  An
        unreadable label file counts as holding nothing, so the series
        resumes there (and opening it says what is wrong).
        """
        path = self.labels_path(index)
        if not path.exists():
            return None
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                saved = _parse_record(page.description)
                if saved is not None:
                    return saved
                return LabelRecord(_count_objects(page.asarray()))
        except (OSError, ValueError, IndexError):  # tifffile's TiffFileError is a ValueError
            return LabelRecord(0)

    def is_done(self, index: int) -> bool:
        """Whether image ``index`` is finished: its label file holds objects or marks it done."""
        record = self.record(index)
        return record is not None and record.done

    def resume_index(self) -> int:
        """The first image that is not done (the last image when all are)."""
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

    def save_labels(self, index: int, labels: np.ndarray, *, done: bool = False) -> Path | None:
        """Write the objects of image ``index`` as a compressed integer TIFF (0 background).

        Parameters
        ----------
        index : int
            Position of the image in the series.
        labels : np.ndarray, integer
            The objects (0 background), in the image's pixel frame.
        done : bool
            The user marked the image done on purpose, with or without objects.

        Returns
        -------
        Path or None
            The label file; None when nothing was written: no objects, not
            marked done and no label file yet (the image stays to do).
        """
        import tifffile

        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ImageError(f"labels must be an integer array, got {labels.dtype}.")
        path = self.labels_path(index)
        objects = _count_objects(labels)
        if objects == 0 and not done and not path.exists():
            return None
        dtype = np.uint16 if labels.size == 0 or labels.max() < 2**16 else np.uint32
        record = json.dumps({RECORD_KEY: 1, "objects": objects, "marked_done": bool(done)})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib", description=record, metadata=None)
        os.replace(tmp, path)  # never a half-written label file
        return path

    def step(self, index: int, delta: int) -> int:
        """The index ``delta`` images away from ``index``, clamped to the series (next: +1, previous: -1)."""
        return int(min(max(index + delta, 0), len(self) - 1))


def _parse_record(description: str | None) -> LabelRecord | None:
    """The record of a label file's ImageDescription, or None (another program's or an earlier version's file)."""
    try:
        saved = json.loads(description or "null")
    except ValueError:
        return None
    if not isinstance(saved, dict) or RECORD_KEY not in saved:
        return None
    return LabelRecord(int(saved.get("objects", 0)), bool(saved.get("marked_done", False)))


def _count_objects(labels: np.ndarray) -> int:
    """Number of distinct non-zero labels."""
    values = np.unique(labels)
    return int(np.count_nonzero(values))
