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

__all__ = ["FrameSource", "StackFrames"]

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


class StackFrames:
    """Encode the slices of a stack on demand for the tracker.

    Parameters
    ----------
    model : Sam2Model
    stack : array_like, shape (Z, H, W) or (Z, H, W, C), C in {1, 3, 4}
        Any array indexable as ``stack[z]`` (lazy arrays are read slice by
        slice).
    contrast_limits : (low, high), optional
        Values mapped to 0 and 255 for non-uint8 data; by default the 0.5
        and 99.5 percentiles of up to 8 evenly spaced slices, the same for
        every slice.
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
        shape = tuple(getattr(stack, "shape", ()))
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
            raise ImageError(
                f"a stack must be (Z, H, W) or (Z, H, W, C) with C = 1, 3 or 4, got shape {shape or type(stack).__name__}"
            )
        if shape[0] < 1:
            raise ImageError("the stack has no slices")
        self.model = model
        self.stack = stack
        self.num_frames = int(shape[0])
        self.frame_shape = (int(shape[1]), int(shape[2]))
        self.cache_frames = max(1, cache_frames)
        self.contrast_limits = check_contrast_limits(contrast_limits)
        if self.contrast_limits is None and np.dtype(getattr(stack, "dtype", np.uint8)) != np.uint8:
            self.contrast_limits = self._sampled_limits()
        self._cache: OrderedDict[int, FrameFeatures] = OrderedDict()
        self.encoded = 0

    def rgb(self, z: int) -> np.ndarray:
        """Slice ``z`` as (H, W, 3) uint8; a constant slice becomes black, not an error."""
        frame = np.asarray(self.stack[z])
        if frame.size and np.ptp(frame) == 0:
            return np.zeros((*self.frame_shape, 3), dtype=np.uint8)
        return to_uint8_rgb(frame, contrast_limits=self.contrast_limits)

    @torch.inference_mode()
    def features(self, z: int) -> FrameFeatures:
        """The tracker's features of slice ``z`` (cached for the last few slices)."""
        if z in self._cache:
            self._cache.move_to_end(z)
            return self._cache[z]
        device = self.model.no_mem_embed.device
        x = video_frame_input(self.rgb(z), self.model.image_size).to(device)
        features = FrameFeatures.from_backbone(self.model.backbone(x))
        self.encoded += 1
        self._cache[z] = features
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)
        return features

    def _sampled_limits(self) -> tuple[float, float]:
        picks = np.unique(np.linspace(0, self.num_frames - 1, min(self.num_frames, _CONTRAST_SAMPLES)).round().astype(int))
        values = np.concatenate([np.asarray(self.stack[int(z)]).ravel() for z in picks])
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ImageError("the stack contains NaN or infinite values; replace them before tracking")
        low, high = robust_limits(values)
        if high <= low:
            low, high = float(values.min()), float(values.max())
        if high <= low:
            high = low + 1.0
        return float(low), float(high)
