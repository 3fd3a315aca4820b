"""The classic backend's settings: one set for every kind of image.

The values were chosen by measuring NoC@90 with ``promptseg evaluate`` on
half of the images of the shared datasets (even image indices) and checked
on the other half; nothing is tuned per dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ClassicSettings", "SETTINGS_VERSION"]

#: Bumped whenever a default or the algorithm changes, so that stored
#: embeddings made with older settings are refused.
SETTINGS_VERSION = 7


@dataclass(frozen=True)
class ClassicSettings:
    """Tunable constants of :class:`~promptseg.backends.classic.ClassicBackend`.

    Attributes
    ----------
    max_pixels : int
        The graph is built on a copy of the image reduced (by an integer
        factor) to at most this many pixels.
    superpixel_area : float
        Target superpixel size in working pixels.
    palette_entries : int
        Colours in the per-image palette of the appearance models.
    palette_softness : float
        Width of the soft palette assignment (multiple of the typical
        distance to the nearest entry).
    texture_weight : float
        Weight of the superpixel colour spread (texture) beside mean Lab.
    geodesic_scale : float
        Decay length of a click's influence, as a multiple of the image's
        median edge length.
    geodesic_step : float
        Constant added to every geodesic edge length (favours nearby nodes),
        as a multiple of the median colour step.
    appearance_weight, geodesic_weight, previous_weight, mask_weight, border_weight : float
        Weights of the terms of the per-pixel object evidence.
    appearance_clip : float
        Log-likelihood ratios of the colour models are clipped to +- this.
    smoothness : float
        Weight of the boundary term of the graph cut (per boundary pixel).
    max_superpixels : int
        Superpixels grow beyond ``superpixel_area`` so that there are at most
        about this many (keeps ``predict`` fast on large working copies).
    refine : bool
        Relabel the pixels of the boundary superpixels by a pixel graph cut.
    refine_below : int
        Refine only objects of at most this many superpixels (larger objects
        follow superpixel boundaries, which are accurate enough).
    pixel_smoothness : float
        Weight of the 4-neighbour contrast term of that cut.
    pixel_prior : float
        Pull of the refinement towards the superpixel answer.
    exemplar_radius : float
        In the refinement, a clicked pixel's colour is a sample of its side
        for pixels within this many working pixels.
    level_weight : float
        In the refinement, pull of a click on the pixels within
        ``exemplar_radius`` that are at least as object-like (positive click)
        or as background-like (negative click) as the clicked pixel.
    fine : bool
        Fine mode: answer a first click by the locally distinct region
        around it, at pixel level, where the superpixel cut floods past it
        (see :mod:`~promptseg.backends.classic.fine`); later clicks of such
        an object edit it locally.
    fine_structures : bool
        Preset for defect inspection (pits, scratches, cracks): take the
        distinct region around a first click whenever there is one, not
        only where the superpixel cut floods, and follow lines along their
        length (see ``lines`` in
        :func:`~promptseg.backends.classic.fine_region.distinct_region`).
    fine_min_contrast : float
        A region is distinct when its outline is this many times sharper
        than the texture of its window.
    fine_min_ratio : float
        Without ``fine_structures``, the superpixel answer must be this many
        times larger than the distinct region for the region to be taken.
    fine_edit_radius, fine_edit_min_radius : float
        A click ``d`` pixels off the answer edits the outline within
        ``max(fine_edit_min_radius, fine_edit_radius * d)`` pixels of it.
    fine_new_part : float
        A positive click farther than this (working pixels) from the answer
        may start another part.
    fine_smoothness : float
        Weight of the 4-neighbour term of the edits' cuts.
    fine_bias : float
        Pull of an edit towards the clicked label (level units).
    fine_hybrid : float
        After the first click of a fine-mode object, the superpixel cut's
        answer is taken when it is at most this many times the fine
        answer's area (and holds the positive clicks); 0 edits always.
    cut_edit : bool
        Correction clicks on an object the superpixel cut answers, whose
        first answer has a weak outline, edit that answer locally (see
        :mod:`~promptseg.backends.classic.local_edit`).
    cut_edit_below : float
        The first answer's outline is weak when its mean gradient is below
        this many times the image's median gradient.
    cut_window, cut_margin : float
        A click ``d`` pixels off the answer takes the new cut's labels
        within ``cut_window * d + cut_margin`` pixels of it.
    cut_band, cut_band_radius : float
        ... and gives its label to the pixels on its wrong side within
        ``cut_band * d`` of the outline and ``cut_band_radius * d`` of it.
    edit_answers : bool
        Clicks on an object that had an answer before its first click (a
        picked-up or automatic object, a mask prompt's answer, another
        backend's answer fed back) edit that answer near themselves instead
        of cutting afresh (:mod:`~promptseg.backends.classic.answer_edits`).
    mask_keep : float
        A mask prompt given alone is answered by itself when its outline is
        at least this fraction as sharp (mean gradient) as the cut's answer
        to it: an object picked up again or adopted keeps its pixels, while
        a rough painted mask, whose outline lies off the edges, is snapped
        to them by the cut.  0 always answers with the cut.
    """

    max_pixels: int = 400_000
    superpixel_area: float = 25.0
    palette_entries: int = 48
    palette_softness: float = 1.0
    texture_weight: float = 0.5
    geodesic_scale: float = 6.0
    geodesic_step: float = 0.3
    appearance_weight: float = 0.5
    geodesic_weight: float = 1.0
    previous_weight: float = 0.15
    mask_weight: float = 0.6
    border_weight: float = 0.3
    appearance_clip: float = 3.0
    smoothness: float = 1.5
    refine: bool = True
    refine_below: int = 150
    max_superpixels: int = 8000
    pixel_smoothness: float = 1.0
    pixel_prior: float = 0.1
    exemplar_radius: float = 8.0
    level_weight: float = 0.5
    fine: bool = True
    fine_structures: bool = False
    fine_min_contrast: float = 3.0
    fine_min_ratio: float = 15.0
    fine_edit_radius: float = 3.0
    fine_edit_min_radius: float = 4.0
    fine_new_part: float = 6.0
    fine_smoothness: float = 0.5
    fine_bias: float = 0.25
    fine_hybrid: float = 2.0
    cut_edit: bool = True
    cut_edit_below: float = 2.0
    cut_window: float = 0.7
    cut_margin: float = 6.0
    cut_band: float = 2.0
    cut_band_radius: float = 3.0
    edit_answers: bool = True
    mask_keep: float = 0.8

    def identity(self) -> str:
        """Short text naming the settings (part of the backend id)."""
        defaults = ClassicSettings()
        changed = {k: v for k, v in asdict(self).items() if getattr(defaults, k) != v}
        tail = "".join(f",{k}={v:g}" for k, v in sorted(changed.items()))
        return f"v{SETTINGS_VERSION}{tail}"
