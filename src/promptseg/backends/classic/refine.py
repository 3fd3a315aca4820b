"""Pixel-accurate boundaries: a graph cut on the pixels of the boundary superpixels.

The superpixel answer is right up to the superpixels the boundary passes
through.  Their pixels (the band) are relabelled by a pixel graph cut whose
unary term compares each pixel's colour with local object and background
colours (the size-weighted mean colour of the neighbouring object and
background superpixels), whose pairwise term is the contrast-weighted
4-neighbourhood, and whose boundary conditions are the labels of the pixels
just outside the band.  Clicked pixels are hard constraints.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .graph import min_cut

__all__ = ["refine_boundary", "pixel_affinities"]


def pixel_affinities(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Contrast weights of the 4-neighbourhood of an (h, w, C) image.

    Returns
    -------
    right : np.ndarray, shape (h, w - 1), float32
        ``exp(-beta * |I[r, c+1] - I[r, c]|^2)``.
    down : np.ndarray, shape (h - 1, w), float32
        ``exp(-beta * |I[r+1, c] - I[r, c]|^2)``.
    beta : float
        ``1 / (2 * mean squared difference)``.
    """
    dr = ((lab[:, 1:] - lab[:, :-1]) ** 2).sum(axis=-1)
    dd = ((lab[1:] - lab[:-1]) ** 2).sum(axis=-1)
    mean = (dr.sum() + dd.sum()) / max(dr.size + dd.size, 1)
    beta = 1.0 / (2.0 * max(float(mean), 1e-6))
    return np.exp(-beta * dr).astype(np.float32), np.exp(-beta * dd).astype(np.float32), beta


def refine_boundary(
    labels: np.ndarray,
    lab: np.ndarray,
    right: np.ndarray,
    down: np.ndarray,
    adjacency: sp.csr_matrix,
    size: np.ndarray,
    colour: np.ndarray,
    obj: np.ndarray,
    evidence: np.ndarray,
    *,
    positive_px: np.ndarray,
    negative_px: np.ndarray,
    smoothness: float,
    prior: float,
    exemplar_radius: float = 0.0,
) -> np.ndarray:
    """Per-pixel logits of the working image with the boundary band relabelled.

    Parameters
    ----------
    labels : np.ndarray, shape (h, w), int
        Superpixel ids.
    lab : np.ndarray, shape (h, w, C), float32
        Pixel colours.
    right, down : np.ndarray
        From :func:`pixel_affinities`.
    adjacency : scipy.sparse.csr_matrix, shape (n, n)
        Superpixel adjacency (1 for touching pairs, no diagonal).
    size : np.ndarray, shape (n,)
        Superpixel sizes.
    colour : np.ndarray, shape (n, C)
        Superpixel mean colours.
    obj : np.ndarray, shape (n,), bool
        Superpixel answer.
    evidence : np.ndarray, shape (n,), float32
        Superpixel evidence, sign agreeing with ``obj``.
    positive_px, negative_px : np.ndarray, shape (P, 2), int
        Clicked (row, col) working pixels (hard constraints).
    smoothness : float
        Weight of the pixel pairwise term relative to the colour term.
    prior : float
        Pull towards the superpixel answer (per pixel, in colour-term units).
    exemplar_radius : float
        A clicked pixel's colour counts as a sample of its side for band
        pixels within this distance (pixels); 0 turns this off.

    Returns
    -------
    np.ndarray, shape (h, w), float32
        Logits; positive for the object.
    """
    h, w = labels.shape
    logits = evidence[labels]
    fg = obj.astype(np.float64)
    other = adjacency @ fg  # neighbours on the object side
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    on_boundary = np.where(obj, degree - other > 0, other > 0)
    if not on_boundary.any():
        return logits
    band = on_boundary[labels]
    idx = np.full(h * w, -1, np.int64)
    flat_band = np.flatnonzero(band.ravel())
    m = flat_band.size
    idx[flat_band] = np.arange(m)
    idx = idx.reshape(h, w)

    # local colour models: size-weighted mean colour of the neighbouring object / background superpixels
    wf, wb = size * fg, size * (1.0 - fg)
    sum_f, sum_b = adjacency @ (wf[:, None] * colour), adjacency @ (wb[:, None] * colour)
    cnt_f, cnt_b = adjacency @ wf, adjacency @ wb
    glob_f = (wf[:, None] * colour).sum(0) / max(wf.sum(), 1e-9)
    glob_b = (wb[:, None] * colour).sum(0) / max(wb.sum(), 1e-9)
    mu_f = np.where(cnt_f[:, None] > 0, sum_f / np.maximum(cnt_f, 1e-9)[:, None], glob_f)
    mu_b = np.where(cnt_b[:, None] > 0, sum_b / np.maximum(cnt_b, 1e-9)[:, None], glob_b)

    rows, cols = np.divmod(flat_band, w)
    sp_ids = labels[rows, cols]
    c = lab[rows, cols].astype(np.float64)
    d_f = ((c - mu_f[sp_ids]) ** 2).sum(axis=1)
    d_b = ((c - mu_b[sp_ids]) ** 2).sum(axis=1)
    # clicked pixels are exemplars of their side for the band pixels around them
    for clicked, dist in ((positive_px, d_f), (negative_px, d_b)):
        for r, cc in np.asarray(clicked).reshape(-1, 2):
            near = (rows - r) ** 2 + (cols - cc) ** 2 <= exemplar_radius**2
            if near.any():
                np.minimum.at(dist, np.flatnonzero(near), ((c[near] - lab[r, cc]) ** 2).sum(axis=1))
    unary = (d_b - d_f) / (d_b + d_f + 1e-6) + prior * np.where(obj[sp_ids], 1.0, -1.0)

    # pairwise inside the band; neighbours outside the band act as fixed labels
    pix_label = obj[labels]
    ea, eb, ew = [], [], []
    for a_idx, b_idx, weight in (
        (idx[:, :-1], idx[:, 1:], right),
        (idx[:-1, :], idx[1:, :], down),
    ):
        wgt = smoothness * weight
        both = (a_idx >= 0) & (b_idx >= 0)
        ea.append(a_idx[both]), eb.append(b_idx[both]), ew.append(wgt[both])
    unary_total = unary.copy()
    for a_idx, b_idx, weight, a_lab, b_lab in (
        (idx[:, :-1], idx[:, 1:], right, pix_label[:, :-1], pix_label[:, 1:]),
        (idx[:-1, :], idx[1:, :], down, pix_label[:-1, :], pix_label[1:, :]),
    ):
        wgt = smoothness * weight
        a_in, b_in = a_idx >= 0, b_idx >= 0
        sel = a_in & ~b_in  # a in band, b outside: pull a to b's label
        np.add.at(unary_total, a_idx[sel], np.where(b_lab[sel], wgt[sel], -wgt[sel]))
        sel = b_in & ~a_in
        np.add.at(unary_total, b_idx[sel], np.where(a_lab[sel], wgt[sel], -wgt[sel]))
    edges = np.stack([np.concatenate(ea), np.concatenate(eb)], axis=1)
    hard_fg = _band_ids(idx, positive_px)
    hard_bg = np.setdiff1d(_band_ids(idx, negative_px), hard_fg)
    result = min_cut(edges, np.concatenate(ew), unary_total, hard_fg=hard_fg, hard_bg=hard_bg)
    eps = np.float32(1e-3)
    mag = np.maximum(np.abs(unary).astype(np.float32), eps)
    band_logits = np.where(result, mag, -mag)
    out = logits.ravel().copy()
    out[flat_band] = band_logits
    return out.reshape(h, w)


def _band_ids(idx: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    if len(pixels) == 0:
        return np.zeros(0, np.intp)
    ids = idx[pixels[:, 0], pixels[:, 1]]
    return ids[ids >= 0]
