"""Automatic instance segmentation: every object of an image at once, then corrected by clicks.

>>> from promptseg import load_backend, segment_all                   # doctest: +SKIP
>>> from promptseg.eval import run_to_end                             # doctest: +SKIP
>>> result = run_to_end(segment_all(load_backend("classic"), image))  # doctest: +SKIP
>>> result.labels.shape, result.scores[:3]                            # doctest: +SKIP

SAM-family backends run SAM's automatic mask generator (:mod:`.amg`, with
its options in :class:`AmgSettings`); the classic backend runs a weight-free
pass for cells, nuclei and particles (:class:`ClassicAutoSettings`).  The
command line front end is ``promptseg segment-all`` (:mod:`.cli`).
"""

from __future__ import annotations

from .amg import AmgProgress, AmgSettings, MaskSet, generate_masks
from .classic_pass import ClassicAutoSettings, classic_objects
from .prompter import PointAnswers, PointPrompter, SamPointPrompter, point_prompter
from .segment_all import AutoSegmentation, SegmentAllProgress, is_weight_free, segment_all

__all__ = [
    "AmgProgress",
    "AmgSettings",
    "AutoSegmentation",
    "ClassicAutoSettings",
    "MaskSet",
    "PointAnswers",
    "PointPrompter",
    "SamPointPrompter",
    "SegmentAllProgress",
    "classic_objects",
    "generate_masks",
    "is_weight_free",
    "point_prompter",
    "segment_all",
]
