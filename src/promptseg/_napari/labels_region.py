"""Redraw one rectangle of a Labels layer after its data was written in place.

napari's public ways to show new label values are ``Labels.data_setitem``
(fancy indexing over every changed pixel, and an undo-history entry per
call) and ``Layer.refresh`` (re-slices and rebuilds the layer's transforms:
3-4 ms for a 512 x 512 slice on 2 cores, most of it transform bookkeeping).
The live preview changes on every click and needs neither history nor
re-slicing, so :func:`redraw_region` updates only the displayed texture of
one rectangle, the way napari's own painting does after ``data_setitem``
(0.6 ms for a whole 512 x 512 slice).

That path uses private ``Labels`` internals (read from napari 0.9).  Where
they are missing, raise, or the region is not plainly on the displayed 2D
slice (3D display, transposed axes, contours), the layer is refreshed
instead, which is always correct.
"""

from __future__ import annotations

from napari.layers import Labels

#: (row slice, column slice) of a rectangle in a 2D slice
Box = tuple[slice, slice]


def redraw_region(layer: Labels, key: tuple[int, ...], box: Box) -> bool:
    """Show new values of ``layer.data[key][box]``, already written in place.

    Parameters
    ----------
    layer : napari.layers.Labels
        A layer whose data is a NumPy array of shape (*lead, H, W).
    key : tuple of int
        Index of the 2D slice along the leading axes (``()`` for 2D data).
    box : (slice, slice)
        The changed rectangle, in the slice's (row, col) pixel frame.

    Returns
    -------
    bool
        True when only the rectangle was redrawn; False when the layer was
        refreshed whole (also correct, slower).
    """
    if _redraw_displayed_box(layer, key, box):
        return True
    layer.refresh(thumbnail=False, extent=False, highlight=False)
    return False


def _redraw_displayed_box(layer: Labels, key: tuple[int, ...], box: Box) -> bool:
    lead = len(key)
    try:
        slice_input = layer._slice.slice_input
        plain_2d = slice_input.ndisplay == 2 and list(slice_input.displayed) == [lead, lead + 1]
        if layer.contour or not plain_2d or not layer.loaded:
            return False
        if layer._get_pt_not_disp() != dict(enumerate(key)):
            return True  # another slice is displayed: it shows nothing of this write until sliced again
        view = layer._slice.image.view
        view[box] = layer.colormap._data_to_texture(layer.data[key][box])
        layer._accumulate_updated_slice(tuple(slice(k, k + 1) for k in key) + tuple(box))
        layer._partial_labels_refresh()
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        return False
    return True
