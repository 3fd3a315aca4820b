"""Frames of a stack as the SAM 2.1 tracker needs them: encoded on demand, few kept.

A :class:`StackFrames` reads one slice of a (Z, H, W[, C]) array (numpy,
zarr, dask or anything indexable along the first axis) only when the
tracker asks for its features, scales it to 8-bit RGB, makes the official
video predictor's encoder input and runs the image encoder.  It keeps the
features of the last ``cache_frames`` slices only, so the memory used does
not grow with the stack.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from ..errors import ImageError
from ..imaging import check_contrast_limits, robust_limits, to_uint8_rgb
from ..model.sam2.frame_input import video_frame_input
from ..model.sam2.sam2_model import Sam2Model
from ..model.sam2.tracker_state import FrameFeatures

__all__ = ["CachedFrames", "FrameSource", "StackFrames", "stack_contrast_limits"]

#: Slices read to choose contrast limits for a non-8-bit stack.
_CONTRAST_SAMPLES = 8


@runtime_checkable
class FrameSource(Protocol):
    """Where the tracker gets a slice's encoder features (an image stack, or a store of embeddings).

    Attributes
    ----------
    num_frames : int
        Z.
    frame_shape : (int, int)
        (H, W) of every slice: the size of every returned mask.
    """

    num_frames: int
    frame_shape: tuple[int, int]

    def features(self, z: int) -> FrameFeatures:
        """The tracker's features of slice ``z`` (see :class:`FrameFeatures`)."""
        ...


def stack_contrast_limits(stack: Any, contrast_limits: Sequence[float] | None = None) -> tuple[float, float] | None:
    """One scaling for every slice of a stack: the given limits, None for uint8, else percentiles of a few slices.

    Parameters
    ----------
    stack : array_like, shape (Z, H, W[, C])
    contrast_limits : (low, high), optional
        Returned (checked) when given.

    Returns
    -------
    (low, high) or None
        The 0.5 / 99.5 percentiles of up to 8 evenly spaced slices for
        non-uint8 data (min / max when they coincide).

    Raises
    ------
    ImageError
        Invalid limits, or NaN / infinite values in the sampled slices.
    """
    limits = check_contrast_limits(contrast_limits)
    if limits is not None or np.dtype(getattr(stack, "dtype", np.uint8)) == np.uint8:
        return limits
    count = int(stack.shape[0])
    picks = np.unique(np.linspace(0, count - 1, min(count, _CONTRAST_SAMPLES)).round().astype(int))
    values = np.concatenate([np.asarray(stack[int(z)]).ravel() for z in picks])
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ImageError("the stack contains NaN or infinite values; replace them before tracking")
    low, high = robust_limits(values)
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def check_stack_shape(stack: Any) -> tuple[int, tuple[int, int]]:
    """(Z, (H, W)) of a (Z, H, W) or (Z, H, W, C) stack, C in {1, 3, 4}; :class:`ImageError` otherwise."""
    shape = tuple(getattr(stack, "shape", ()))
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
        raise ImageError(
            f"a stack must be (Z, H, W) or (Z, H, W, C) with C = 1, 3 or 4, got shape {shape or type(stack).__name__}"
        )
    if shape[0] < 1:
        raise ImageError("the stack has no slices")
    return int(shape[0]), (int(shape[1]), int(shape[2]))


class CachedFrames:
    """A :class:`FrameSource` that computes a slice's features once and keeps the last few.

    Subclasses implement :meth:`compute`.

    Parameters
    ----------
    num_frames : int
    frame_shape : (int, int)
    cache_frames : int
        Slices whose features are kept (each ~17 MB for a 1024 input).
    """

    def __init__(self, num_frames: int, frame_shape: tuple[int, int], cache_frames: int = 2) -> None:
        self.num_frames = int(num_frames)
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.cache_frames = max(1, cache_frames)
        self._cache: OrderedDict[int, FrameFeatures] = OrderedDict()
        #: Slices computed so far (cache misses).
        self.encoded = 0

    def compute(self, z: int) -> FrameFeatures:
        """The features of slice ``z`` (not cached)."""
        raise NotImplementedError

    @torch.inference_mode()
    def features(self, z: int) -> FrameFeatures:
        """The tracker's features of slice ``z`` (cached for the last few slices)."""
        if z in self._cache:
            self._cache.move_to_end(z)
            return self._cache[z]
        features = self.compute(z)
        self.encoded += 1
        self._cache[z] = features
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)
        return features


class StackFrames(CachedFrames):
    """Encode the slices of a stack on demand for the tracker, as the official video loader prepares frames.

    Parameters
    ----------
    model : Sam2Model
    stack : array_like, shape (Z, H, W) or (Z, H, W, C), C in {1, 3, 4}
        Any array indexable as ``stack[z]`` (lazy arrays are read slice by
        slice).
    contrast_limits : (low, high), optional
        Values mapped to 0 and 255 for non-uint8 data; by default the 0.5
        and 99.5 percentiles of up to 8 evenly spaced slices, the same for
        every slice (:func:`stack_contrast_limits`).
    cache_frames : int
        Slices whose features are kept (each ~17 MB for a 1024 input).

    Raises
    ------
    ImageError
        The stack is not 3D / 4D, has no slices or a wrong channel count.
    """

    def __init__(
        self,
        model: Sam2Model,
        stack: Any,
        *,
        contrast_limits: Sequence[float] | None = None,
        cache_frames: int = 2,
    ) -> None:
        super().__init__(*check_stack_shape(stack), cache_frames=cache_frames)
        self.model = model
        self.stack = stack
        self.contrast_limits = stack_contrast_limits(stack, contrast_limits)

    def rgb(self, z: int) -> np.ndarray:
        """Slice ``z`` as (H, W, 3) uint8; a constant slice becomes black, not an error."""
        frame = np.asarray(self.stack[z])
        if frame.size and np.ptp(frame) == 0:
            return np.zeros((*self.frame_shape, 3), dtype=np.uint8)
        return to_uint8_rgb(frame, contrast_limits=self.contrast_limits)

    def compute(self, z: int) -> FrameFeatures:
        """Read, resize (PIL bicubic, as the video loader) and encode slice ``z``."""
        device = self.model.no_mem_embed.device
        x = video_frame_input(self.rgb(z), self.model.image_size).to(device)
        return FrameFeatures.from_backbone(self.model.backbone(x))
