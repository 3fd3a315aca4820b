"""Prompts: the one value a click becomes, its rasterisation, and the one (row, col) -> (x, y) swap.

:class:`Prompts` holds everything one object's answer depends on (clicks
with labels, a box, polygons, scribbles, a painted mask) in napari's
(row, col) frame, validated once on construction.  :mod:`.raster` draws
polygons and scribbles as masks for backends that take only a mask prompt;
:func:`to_xy` (in :mod:`.frames`) is the only place that swaps the axes into
the models' (x, y) frame.
"""

from .frames import box_to_xyxy, to_xy
from .serial import decode_rle, encode_rle
from .raster import SCRIBBLE_WIDTH, check_vertices, deepest_point, path_masks, polygon_mask, scribble_mask
from .value import PATH_KINDS, Prompts

__all__ = ["PATH_KINDS", "Prompts", "SCRIBBLE_WIDTH", "box_to_xyxy", "check_vertices", "decode_rle",
           "deepest_point", "encode_rle", "path_masks", "polygon_mask", "scribble_mask", "to_xy"]
