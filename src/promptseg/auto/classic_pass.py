"""A weight-free automatic pass for cells, nuclei and particles.

Steps (every constant is in :class:`ClassicAutoSettings`):

1. **Object channel**: grey images as they are; colour images by the
   colour direction that separates the two Otsu classes best (stained
   nuclei on pink tissue), so it works for fluorescence and brightfield.
   Scaled to [0, 1] by robust percentiles; inverted when the objects are
   the darker class (the smaller Otsu class is the objects).
2. **Detection**: a Gaussian-smoothed copy above one global level (Li's
   minimum cross-entropy threshold by default; Otsu's on request), with an
   optional second, lower level that adds dimmer objects away from the
   first level's ones (off by default: on the DSB tuning images it added
   more false objects than nuclei).
3. **Splitting** touching objects: a watershed on the smoothed distance
   transform of the foreground, seeded at distance peaks spaced by a
   fraction of the typical object radius (estimated from the foreground
   itself).
4. **Boundary**: each object is redrawn at ``ring + f * (inside - ring)``
   (its mean brightness inside and in a ring around it) for a few fractions
   f, within a few pixels of the detection; it keeps the outline whose mean
   gradient is strongest, so objects of different brightness and blur
   each keep their own edge.
5. **Clean-up**: holes filled; objects far below the typical size, or
   whose contrast against their ring is within a few noise standard
   deviations, dropped; each object's score is that contrast, in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Generator

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_li, threshold_otsu, threshold_triangle
from skimage.segmentation import watershed

from ..errors import ImageError
from ..imaging import check_image
from .object_channel import object_channel
from .refine import noise_level, refine_objects

__all__ = ["ClassicAutoSettings", "ClassicProgress", "classic_objects"]


@dataclass(frozen=True)
class ClassicAutoSettings:
    """Constants of the weight-free automatic pass.

    Attributes
    ----------
    smoothing : float
        Gaussian sigma (pixels) of the detection copy.
    detection : str
        The global level: ``"li"``, ``"otsu"``, ``"triangle"`` or
        ``"otsu_log"`` (Otsu's on log intensities).
    dim_level : float
        Second detection level, as a fraction of the way from the background
        to the first level (0 turns it off).
    seed_spacing : float
        Watershed seeds at least this many typical radii apart.
    distance_smoothing : float
        Gaussian sigma of the distance transform, in typical radii.
    intensity_weight : float
        Touching objects are split on their depth (distance to the
        background, in typical radii) plus this times their brightness
        (smoothed, scaled from the foreground's 5th to 95th percentile to
        0..1): a dimmer seam between two nuclei splits them where their
        outline has no neck.  0 splits on depth alone.
    intensity_smoothing : float
        Gaussian sigma of that brightness, in typical radii.
    boundary_level : float or tuple of float
        Where each object's boundary is drawn between its ring (0) and its
        inside (1); with several levels, each object takes the one whose
        outline has the strongest mean gradient.  None keeps the
        detection's boundary.
    boundary_smoothing : float
        Gaussian sigma (pixels) of the copy the boundary is drawn on.
    ring_width : int
        Width (pixels) of the ring that measures an object's surroundings.
    ring_percentile : float or None
        The ring's level: this percentile of its pixels, or their mean (None).
    boundary_reach : int
        How far (pixels) the redrawn boundary may move from the detection.
    min_area_fraction : float
        Objects smaller than this fraction of the typical area are dropped.
    min_area : int
        ... and objects smaller than this many pixels.
    min_contrast : float
        Objects whose mean brightness exceeds their ring's by less than this
        many standard deviations of the pixel noise are dropped.
    """

    smoothing: float = 1.0
    detection: str = "li"
    dim_level: float = 0.0
    seed_spacing: float = 0.6
    distance_smoothing: float = 0.15
    intensity_weight: float = 3.0
    intensity_smoothing: float = 0.2
    boundary_level: float | tuple[float, ...] | None = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65)
    boundary_smoothing: float = 0.5
    ring_width: int = 3
    ring_percentile: float | None = None
    boundary_reach: int = 3
    min_area_fraction: float = 0.1
    min_area: int = 8
    min_contrast: float = 3.0

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names :func:`promptseg.segment_all` accepts for the classic backend."""
        return frozenset(f.name for f in fields(cls))


@dataclass(frozen=True)
class ClassicProgress:
    stage: str
    done: int
    total: int


_LEVELS = {
    "otsu": threshold_otsu,
    "li": threshold_li,
    "triangle": threshold_triangle,
    "otsu_log": lambda x: float(np.expm1(threshold_otsu(np.log1p(100 * x))) / 100),
}


def _foreground(x: np.ndarray, s: ClassicAutoSettings) -> np.ndarray:
    """Pixels above Otsu's level, plus dim components above a lower level that touch none of them."""
    level = _LEVELS[s.detection](x)
    bright = x > level
    if s.dim_level <= 0 or not bright.any() or bright.all():
        return bright
    background = float(np.median(x[~bright]))
    dim = x > background + s.dim_level * (level - background)
    parts, n = ndi.label(dim)
    if n == 0:
        return bright
    has_bright = np.zeros(n + 1, bool)
    has_bright[np.unique(parts[bright])] = True
    return bright | (~has_bright[parts] & (parts > 0))


def _typical_radius(fg: np.ndarray) -> float:
    """Radius of a disk of the median connected component's area (at least 2 pixels)."""
    parts, n = ndi.label(fg)
    if n == 0:
        return 2.0
    areas = np.bincount(parts.ravel())[1:]
    return max(float(np.sqrt(np.median(areas) / np.pi)), 2.0)


def _split(fg: np.ndarray, x: np.ndarray, radius: float, s: ClassicAutoSettings) -> np.ndarray:
    """Watershed of the foreground on its depth plus brightness (see ``intensity_weight``), seeded at spaced peaks."""
    dist = ndi.distance_transform_edt(fg)
    if s.distance_smoothing > 0:
        dist = ndi.gaussian_filter(dist, s.distance_smoothing * radius)
    surface = dist / radius
    if s.intensity_weight > 0 and fg.any():
        bright = ndi.gaussian_filter(x, s.intensity_smoothing * radius) if s.intensity_smoothing > 0 else x
        low, high = np.percentile(bright[fg], [5, 95])
        surface = surface + s.intensity_weight * np.clip((bright - low) / max(high - low, 1e-12), 0.0, 1.0)
    size = max(int(2 * s.seed_spacing * radius) | 1, 3)
    peaks = (surface == ndi.maximum_filter(surface, size=size)) & fg & (dist > 0)
    markers, _ = ndi.label(peaks)
    return watershed(-surface, markers, mask=fg)


def classic_objects(image: np.ndarray, settings: ClassicAutoSettings = ClassicAutoSettings()
                    ) -> Generator[ClassicProgress, None, tuple[np.ndarray, np.ndarray]]:
    """Find every object of a fluorescence or brightfield image without learned weights.

    Parameters
    ----------
    image : np.ndarray, shape (H, W) or (H, W, C)
        Grey or colour (RGB/RGBA), any integer or float dtype.
    settings : ClassicAutoSettings

    Yields
    ------
    ClassicProgress
        After each stage.

    Returns
    -------
    labels : np.ndarray, shape (H, W), uint32
        0 background, objects 1..n by decreasing score.
    scores : np.ndarray, shape (n,), float32
        Contrast of each object against its surroundings, in [0, 1].

    Raises
    ------
    ImageError
        Wrong dimensions, or an image without contrast.
    """
    if settings.detection not in _LEVELS:
        raise ValueError(f"detection must be one of {sorted(_LEVELS)}, got {settings.detection!r}.")
    arr = check_image(image)
    x = object_channel(arr)
    if not np.isfinite(x).all() or float(x.max()) <= float(x.min()):
        raise ImageError("the image has no contrast (constant or not finite): nothing to segment.")
    yield ClassicProgress("channel", 1, 4)
    smooth = ndi.gaussian_filter(x, s.smoothing) if (s := settings).smoothing > 0 else x
    fg = ndi.binary_fill_holes(_foreground(smooth, s))
    radius = _typical_radius(fg)
    yield ClassicProgress("detect", 2, 4)
    labels = _split(fg, x, radius, s)
    yield ClassicProgress("split", 3, 4)
    fine = ndi.gaussian_filter(x, s.boundary_smoothing) if s.boundary_smoothing > 0 else x
    labels, scores = refine_objects(fine, labels, radius, s, noise_level(x))
    yield ClassicProgress("boundary", 4, 4)
    return labels, scores

