"""The colours of the annotator's labels: committed objects, the live preview, and why these.

Committed objects cycle through :data:`OBJECT_COLOURS`: yellows, greens and
cyans (hues 50-190 degrees), each bright and deep, ordered so that
neighbouring ids (and ids two apart) differ clearly.  Left out on purpose:

* purple, magenta, pink and blue, the colours of stained tissue and nuclei
  (hematoxylin and eosin, DAPI and Hoechst shown in blue), on which objects
  of those colours disappear;
* red and orange, kept for :data:`PREVIEW_COLOUR`, so that the mask being
  drawn never looks like a committed object.

A palette of 14 colours repeats every 14 ids; ids that far apart are
rarely neighbours.
"""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import CyclicLabelColormap

#: RGB colours of committed objects, in the order ids take them (id 1 the first).
OBJECT_COLOURS = np.array([
    (255, 212, 0), (0, 255, 149), (53, 158, 0), (191, 255, 0), (0, 255, 234), (0, 158, 145), (0, 255, 42),
    (158, 132, 0), (0, 132, 158), (0, 158, 26), (0, 212, 255), (119, 158, 0), (0, 158, 92), (85, 255, 0),
], float) / 255

#: RGB colour of the live preview (the object being drawn): a red no committed object has.
PREVIEW_COLOUR = np.array((255, 38, 25), float) / 255

_TRANSPARENT = (0.0, 0.0, 0.0, 0.0)


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([np.atleast_2d(rgb), np.ones((len(np.atleast_2d(rgb)), 1))], axis=1)


def object_colormap() -> CyclicLabelColormap:
    """Label colours of the objects layer: 0 transparent, id ``i`` takes ``OBJECT_COLOURS[(i - 1) % 14]``."""
    return CyclicLabelColormap(colors=np.vstack([_TRANSPARENT, _rgba(OBJECT_COLOURS)]), name="promptseg objects")


def preview_colormap() -> CyclicLabelColormap:
    """Label colours of the preview layer: 0 transparent, any other value :data:`PREVIEW_COLOUR`."""
    return CyclicLabelColormap(colors=np.vstack([_TRANSPARENT, _rgba(PREVIEW_COLOUR)]), name="promptseg preview")
