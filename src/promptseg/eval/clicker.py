"""The standard click simulator of the interactive-segmentation literature.

Each next click goes to the centre of the largest error: the pixel farthest
from the boundary of the false-negative or false-positive region (the image
edge counts as a boundary), positive when the false negatives are strictly
deeper, negative on a tie.  This is the protocol of RITM, FocalClick,
SimpleClick and the SAM evaluations (see ``docs/evaluation.md``).

The distance transforms are computed on the bounding box of each error region
only.  This is exact, not an approximation: every pixel just outside a tight
bounding box is outside the region, and the nearest outside pixel of any
region pixel lies inside the box grown by one pixel (clamping a pixel's
coordinates to a box that contains the region pixel never lengthens the
distance to it).  Row-major order inside the box is row-major order in the
image, so the tie-break is unchanged too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import PromptError

__all__ = ["Click", "ClickSimulator", "IGNORE_VALUE"]

#: Value marking "ignore" pixels in a ground-truth mask file.
IGNORE_VALUE = 128


@dataclass(frozen=True)
class Click:
    """One simulated click.

    Attributes
    ----------
    row, col : int
        Pixel position in the image's (row, col) frame.
    is_positive : bool
        True for an object click (placed in a false negative), False for a
        background click (placed in a false positive).
    distance : float
        Euclidean distance of the click to the boundary of its error region,
        in pixels (at least 1).
    """

    row: int
    col: int
    is_positive: bool
    distance: float

    @property
    def label(self) -> int:
        """The click as a prompt label: 1 positive, 0 negative."""
        return int(self.is_positive)


class ClickSimulator:
    """Place clicks on one target the way the published protocol does.

    Parameters
    ----------
    gt : np.ndarray, shape (H, W), bool
        The target object, in the image's (row, col) frame.
    ignore : np.ndarray, shape (H, W), bool, optional
        Pixels excluded from both error regions (and from IoU); ``None`` when
        every pixel counts.
    crop : bool
        Compute distance transforms on the bounding boxes of the error
        regions (exact, and much faster for small objects).  ``False`` works
        on the whole frame; it exists for tests and benchmarks.

    Raises
    ------
    PromptError
        If ``gt`` is not 2D, ``ignore`` has another shape, or ``gt`` has no
        pixel outside ``ignore`` (nothing to click on).

    Examples
    --------
    >>> gt = np.zeros((5, 7), bool); gt[1:4, 1:6] = True
    >>> sim = ClickSimulator(gt)
    >>> sim.next_click(np.zeros_like(gt))
    Click(row=2, col=2, is_positive=True, distance=2.0)
    """

    def __init__(self, gt: np.ndarray, *, ignore: np.ndarray | None = None, crop: bool = True) -> None:
        gt = np.asarray(gt, dtype=bool)
        if gt.ndim != 2:
            raise PromptError(f"ground truth must be a 2D (H, W) mask, got shape {gt.shape}.")
        if ignore is not None:
            ignore = np.asarray(ignore, dtype=bool)
            if ignore.shape != gt.shape:
                raise PromptError(f"ignore mask has shape {ignore.shape}; it must match the ground truth {gt.shape}.")
            if not ignore.any():
                ignore = None
        self.shape: tuple[int, int] = (int(gt.shape[0]), int(gt.shape[1]))
        self.crop = bool(crop)
        self._ignore = ignore
        self._gt = gt if ignore is None else gt & ~ignore
        if not self._gt.any():
            raise PromptError("the target has no pixel outside the ignore region; there is nothing to click on.")
        self._gt_box = _bbox(self._gt) if self.crop else _full_box(self.shape)
        self._gt_count = int(np.count_nonzero(self._gt))
        self._ignore_box = None if ignore is None else _bbox(ignore)
        self._clicked: list[tuple[int, int]] = []
        self.clicks: list[Click] = []

    @property
    def gt(self) -> np.ndarray:
        """The counted target pixels (ground truth without ignore), (H, W) bool."""
        return self._gt

    @property
    def ignore(self) -> np.ndarray | None:
        """The ignore pixels, (H, W) bool, or ``None``."""
        return self._ignore

    def next_click(self, pred: np.ndarray) -> Click | None:
        """Place the next click on the errors of ``pred`` and remember it.

        Parameters
        ----------
        pred : np.ndarray, shape (H, W), bool
            The current prediction in the image's (row, col) frame (all
            False before the first click).

        Returns
        -------
        Click or None
            ``None`` when no unclicked error pixel is left (the prediction is
            exact on every counted pixel); the IoU cannot change any more.

        Raises
        ------
        PromptError
            If ``pred`` does not have the ground truth's shape.
        """
        pred = np.asarray(pred, dtype=bool)
        if pred.shape != self.shape:
            raise PromptError(f"prediction has shape {pred.shape}; it must match the ground truth {self.shape}.")
        fn_box = self._gt_box
        fn = self._gt[fn_box] & ~pred[fn_box]
        fn_dist, fn_at = self._deepest(fn, fn_box)

        fp_box = _bbox(pred) if self.crop else _full_box(self.shape)
        if fp_box is None:
            fp_dist, fp_at = 0.0, None
        else:
            fp = pred[fp_box] & ~self._gt[fp_box]
            if self._ignore is not None:
                fp &= ~self._ignore[fp_box]
            fp_dist, fp_at = self._deepest(fp, fp_box)

        if fn_dist > fp_dist:
            row, col, positive, dist = fn_at[0], fn_at[1], True, fn_dist
        elif fp_at is not None and fp_dist > 0:
            row, col, positive, dist = fp_at[0], fp_at[1], False, fp_dist
        else:
            return None
        click = Click(row=int(row), col=int(col), is_positive=positive, distance=float(dist))
        self._clicked.append((click.row, click.col))
        self.clicks.append(click)
        return click

    def iou(self, pred: np.ndarray) -> float:
        """IoU of ``pred`` with the target over the non-ignored pixels.

        Equals :func:`promptseg.eval.metrics.iou` (``pred``, ``gt``,
        ``ignore=ignore``) but only scans ``pred`` once outside the target's
        bounding box.

        Parameters
        ----------
        pred : np.ndarray, shape (H, W), bool
            The prediction in the image's (row, col) frame.
        """
        pred = np.asarray(pred, dtype=bool)
        if pred.shape != self.shape:
            raise PromptError(f"prediction has shape {pred.shape}; it must match the ground truth {self.shape}.")
        box = self._gt_box
        inter = np.count_nonzero(pred[box] & self._gt[box])
        counted = np.count_nonzero(pred)
        if self._ignore_box is not None:
            ib = self._ignore_box
            counted -= np.count_nonzero(pred[ib] & self._ignore[ib])
        return float(inter / (counted + self._gt_count - inter))

    def _deepest(self, region: np.ndarray, box: tuple[slice, slice]) -> tuple[float, tuple[int, int] | None]:
        """Max boundary distance inside ``region`` (a crop at ``box``) and its first pixel."""
        if not region.any():
            return 0.0, None
        dist = _edt(np.pad(region, 1))[1:-1, 1:-1]
        r0, c0 = box[0].start, box[1].start
        h, w = region.shape
        for row, col in self._clicked:
            if r0 <= row < r0 + h and c0 <= col < c0 + w:
                dist[row - r0, col - c0] = 0.0
        flat = int(np.argmax(dist))
        best = float(dist.flat[flat])
        if best <= 0.0:
            return 0.0, None
        return best, (r0 + flat // w, c0 + flat % w)


def _edt(region: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of each True pixel to the nearest False one, float32, the same in every run.

    OpenCV's exact transform (``DIST_MASK_PRECISE``, the one RITM uses) when
    OpenCV is installed, about three times faster than SciPy's; otherwise
    SciPy's.  OpenCV's float32 values of equal distances can differ in their
    last bit, and from one process to the next (seen: sqrt(61) as 7.81025 or
    7.8102503 at two pixels, swapping between runs), which moved the next
    click between tied pixels and made NoC differ from run to run.  Every
    distance is the square root of an integer, so both are snapped to it:
    the largest distance is then a true tie, won by the first pixel in
    row-major order, whichever transform ran.
    """
    global _CV2
    if _CV2 is None:
        try:
            import cv2

            _CV2 = cv2
        except ImportError:
            _CV2 = False
    if _CV2 is not False and max(region.shape) < 2048:  # squared distances < 2**20: float32 recovers them exactly
        dist = _CV2.distanceTransform(region.view(np.uint8), _CV2.DIST_L2, _CV2.DIST_MASK_PRECISE)
    else:
        dist = ndi.distance_transform_edt(region)
    squared = np.rint(np.square(dist, dtype=np.float64))
    return np.sqrt(squared).astype(np.float32)


_CV2 = None


def _bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Tight (row, col) slices around the True pixels of a 2D mask, or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _full_box(shape: tuple[int, int]) -> tuple[slice, slice]:
    return slice(0, shape[0]), slice(0, shape[1])
