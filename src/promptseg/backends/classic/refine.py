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
    boxes: np.ndarray,
    size: np.ndarray,
    colour: np.ndarray,
    spread: np.ndarray,
    noise: float,
    obj: np.ndarray,
    evidence: np.ndarray,
    *,
    positive_px: np.ndarray,
    negative_px: np.ndarray,
    smoothness: float,
    prior: float,
    exemplar_radius: float = 0.0,
    level_weight: float = 0.0,
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
    boxes : np.ndarray, shape (n, 4), int
        Bounding box (row0, col0, row1, col1), end exclusive, of every superpixel.
    size : np.ndarray, shape (n,)
        Superpixel sizes.
    colour : np.ndarray, shape (n, C)
        Superpixel mean colours.
    spread : np.ndarray, shape (n,)
        Superpixel colour standard deviations.
    noise : float
        Image noise level (Lab units), added to every model's variance.
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
    level_weight : float
        Weight of the click levels: within ``exemplar_radius`` of a positive
        (negative) click, band pixels at least as object-like (at most as
        background-like) as the clicked pixel, measured along the local
        background-to-object colour axis, are pushed to the object
        (background).  0 turns this off.

    Returns
    -------
    np.ndarray, shape (h, w), float32
        Logits; positive for the object.
    """
    logits = evidence[labels]
    fg = obj.astype(np.float64)
    other = adjacency @ fg  # neighbours on the object side
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    on_boundary = np.where(obj, degree - other > 0, other > 0)
    if not on_boundary.any():
        return logits
    # work on the bounding box of the band (plus one pixel of fixed neighbours)
    h, w = labels.shape
    sel = boxes[on_boundary]
    r0, c0 = max(int(sel[:, 0].min()) - 1, 0), max(int(sel[:, 1].min()) - 1, 0)
    r1, c1 = min(int(sel[:, 2].max()) + 1, h), min(int(sel[:, 3].max()) + 1, w)
    labels, lab = labels[r0:r1, c0:c1], lab[r0:r1, c0:c1]
    right, down = right[r0:r1, c0 : c1 - 1], down[r0 : r1 - 1, c0:c1]
    positive_px = _shift(positive_px, r0, c0, r1, c1)
    negative_px = _shift(negative_px, r0, c0, r1, c1)
    hc, wc = labels.shape
    band = on_boundary[labels]
    flat_band = np.flatnonzero(band.ravel())
    idx = np.full(hc * wc, -1, np.int64)
    idx[flat_band] = np.arange(flat_band.size)
    idx = idx.reshape(hc, wc)

    # local colour models: size-weighted mean colour of the neighbouring object / background superpixels
    wf, wb = size * fg, size * (1.0 - fg)
    sum_f, sum_b = adjacency @ (wf[:, None] * colour), adjacency @ (wb[:, None] * colour)
    cnt_f, cnt_b = adjacency @ wf, adjacency @ wb
    glob_f = (wf[:, None] * colour).sum(0) / max(wf.sum(), 1e-9)
    glob_b = (wb[:, None] * colour).sum(0) / max(wb.sum(), 1e-9)
    mu_f = np.where(cnt_f[:, None] > 0, sum_f / np.maximum(cnt_f, 1e-9)[:, None], glob_f)
    mu_b = np.where(cnt_b[:, None] > 0, sum_b / np.maximum(cnt_b, 1e-9)[:, None], glob_b)

    rows, cols = np.divmod(flat_band, wc)
    sp_ids = labels[rows, cols]
    c = lab[rows, cols].astype(np.float64)
    d_f = ((c - mu_f[sp_ids]) ** 2).sum(axis=1)
    d_b = ((c - mu_b[sp_ids]) ** 2).sum(axis=1)
    # clicked pixels are exemplars of their side for the band pixels around them
    if exemplar_radius > 0:
        for clicked, dist in ((positive_px, d_f), (negative_px, d_b)):
            for r, cc in clicked:
                near = (rows - r) ** 2 + (cols - cc) ** 2 <= exemplar_radius**2
                if near.any():
                    np.minimum.at(dist, np.flatnonzero(near), ((c[near] - lab[r, cc]) ** 2).sum(axis=1))
    # Gaussian log-likelihood ratio with the local models' own spread (plus the image noise)
    sq = spread.astype(np.float64) ** 2
    var_f = np.where(cnt_f > 0, (adjacency @ (wf * sq)) / np.maximum(cnt_f, 1e-9), sq.mean()) + noise**2
    var_b = np.where(cnt_b > 0, (adjacency @ (wb * sq)) / np.maximum(cnt_b, 1e-9), sq.mean()) + noise**2
    vf, vb = var_f[sp_ids], var_b[sp_ids]
    ratio = 0.5 * (d_b / vb - d_f / vf + np.log(vb / vf))
    unary = np.clip(ratio, -2.0, 2.0) / 2.0 + prior * np.where(obj[sp_ids], 1.0, -1.0)
    if level_weight > 0 and exemplar_radius > 0:
        unary += level_weight * _level_votes(rows, cols, c, lab, labels, mu_f, mu_b, positive_px, negative_px,
                                             exemplar_radius)

    # pairwise inside the band; neighbours outside the band act as fixed labels
    pix_label = obj[labels]
    ea, eb, ew = [], [], []
    unary_total = unary.copy()
    for a_idx, b_idx, weight, a_lab, b_lab in (
        (idx[:, :-1], idx[:, 1:], right, pix_label[:, :-1], pix_label[:, 1:]),
        (idx[:-1, :], idx[1:, :], down, pix_label[:-1, :], pix_label[1:, :]),
    ):
        wgt = smoothness * weight
        a_in, b_in = a_idx >= 0, b_idx >= 0
        both = a_in & b_in
        ea.append(a_idx[both]), eb.append(b_idx[both]), ew.append(wgt[both])
        one = a_in & ~b_in  # a in the band, b outside: pull a towards b's label
        np.add.at(unary_total, a_idx[one], np.where(b_lab[one], wgt[one], -wgt[one]))
        one = b_in & ~a_in
        np.add.at(unary_total, b_idx[one], np.where(a_lab[one], wgt[one], -wgt[one]))
    edges = np.stack([np.concatenate(ea), np.concatenate(eb)], axis=1)
    hard_fg = _band_ids(idx, positive_px)
    hard_bg = np.setdiff1d(_band_ids(idx, negative_px), hard_fg)
    result = min_cut(edges, np.concatenate(ew), unary_total, hard_fg=hard_fg, hard_bg=hard_bg)
    mag = np.maximum(np.abs(unary).astype(np.float32), np.float32(1e-3))
    crop = logits[r0:r1, c0:c1].ravel()
    crop[flat_band] = np.where(result, mag, -mag)
    logits[r0:r1, c0:c1] = crop.reshape(hc, wc)
    return logits


def _shift(pixels: np.ndarray, r0: int, c0: int, r1: int, c1: int) -> np.ndarray:
    """(P, 2) (row, col) pixels inside [r0, r1) x [c0, c1), in the crop's frame."""
    px = np.asarray(pixels, dtype=np.intp).reshape(-1, 2)
    inside = (px[:, 0] >= r0) & (px[:, 0] < r1) & (px[:, 1] >= c0) & (px[:, 1] < c1)
    return px[inside] - np.array([r0, c0])


def _band_ids(idx: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    if len(pixels) == 0:
        return np.zeros(0, np.intp)
    ids = idx[pixels[:, 0], pixels[:, 1]]
    return ids[ids >= 0]


def _level_votes(rows, cols, colours, lab, labels, mu_f, mu_b, positive_px, negative_px, radius):
    """+1 / -1 votes of the clicks for the band pixels on their side of the clicked level, shape (B,).

    A click on the object's rim says "this level of object-likeness and
    beyond is object" (or, negative, "this level and below is background")
    near the click: the level is the position along the line from the
    local background colour to the local object colour of the clicked
    superpixel's neighbourhood.
    """
    votes = np.zeros(len(rows))
    for clicked, sign in ((positive_px, 1.0), (negative_px, -1.0)):
        for r, cc in clicked:
            near = np.flatnonzero((rows - r) ** 2 + (cols - cc) ** 2 <= radius**2)
            if near.size == 0:
                continue
            k = labels[r, cc]
            axis = mu_f[k] - mu_b[k]
            norm = float(axis @ axis)
            if norm <= 1e-6:
                continue
            level = (colours[near] - mu_b[k]) @ axis / norm
            clicked_level = float((lab[r, cc].astype(np.float64) - mu_b[k]) @ axis / norm)
            side = level >= clicked_level if sign > 0 else level <= clicked_level
            votes[near[side]] += sign
    return np.clip(votes, -1.0, 1.0)
