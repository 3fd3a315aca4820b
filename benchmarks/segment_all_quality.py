"""Instance-level quality of an automatic pass against ground-truth labels (used by bench_segment_all.py).

Matching: a predicted object and a ground-truth instance match when their
IoU exceeds 0.5 (such pairs are one-to-one).  Precision = matched /
predicted, recall = matched / ground truth, F1 their harmonic mean.  The
share at IoU >= 0.9 counts ground-truth instances whose best-overlapping
prediction reaches IoU 0.9 (those need no click).

The reference pass is plain scikit-image: Otsu's threshold (objects = the
smaller class, so both dark-on-bright and bright-on-dark images work), holes
filled, and a watershed on the distance transform seeded at its local
maxima (``peak_local_max`` with ``min_distance=5``), objects under 16 pixels
dropped.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def iou_table(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(n_gt, n_pred) IoU of every ground-truth instance with every predicted object (ids 1..n, consecutive)."""
    p, g = pred.astype(np.int64).ravel(), gt.astype(np.int64).ravel()
    n_p, n_g = int(p.max(initial=0)), int(g.max(initial=0))
    inter = np.bincount(g * (n_p + 1) + p, minlength=(n_g + 1) * (n_p + 1)).reshape(n_g + 1, n_p + 1)
    area_g, area_p = inter.sum(1), inter.sum(0)
    union = area_g[1:, None] + area_p[None, 1:] - inter[1:, 1:]
    return inter[1:, 1:] / np.maximum(union, 1)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Ids made consecutive 1..n (0 stays background)."""
    ids = np.unique(labels)
    ids = ids[ids != 0]
    lut = np.zeros(int(labels.max(initial=0)) + 1, np.int64)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[labels]


def quality(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Counts for one image: predicted, ground truth, matched at 0.5, ground truth at IoU >= 0.9, and the matches."""
    pred, gt = relabel(pred), relabel(gt)
    table = iou_table(pred, gt)
    n_g, n_p = table.shape
    best = table.max(1) if n_p else np.zeros(n_g)
    pairs = np.argwhere(table > 0.5)
    return {"pred": n_p, "gt": n_g, "tp": len(pairs), "at90": int((best >= 0.9).sum()),
            "pairs": pairs, "pred_labels": pred, "gt_labels": gt, "table": table}


def summarise(rows: list[dict]) -> dict:
    tp = sum(r["tp"] for r in rows)
    pred = sum(r["pred"] for r in rows)
    gt = sum(r["gt"] for r in rows)
    precision, recall = tp / max(pred, 1), tp / max(gt, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"images": len(rows), "gt": gt, "pred": pred, "precision": precision, "recall": recall, "f1": f1,
            "at90": sum(r["at90"] for r in rows) / max(gt, 1)}


def reference_pass(image: np.ndarray) -> np.ndarray:
    """Otsu + distance-transform watershed with scikit-image (the plain baseline)."""
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    grey = image.astype(np.float64)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(axis=2)
    fg = grey > threshold_otsu(grey)
    if fg.mean() > 0.5:
        fg = ~fg
    fg = ndi.binary_fill_holes(fg)
    dist = ndi.distance_transform_edt(fg)
    peaks = peak_local_max(dist, min_distance=5, labels=ndi.label(fg)[0], exclude_border=False)
    markers = np.zeros(fg.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-dist, markers, mask=fg)
    sizes = np.bincount(labels.ravel())
    labels[sizes[labels] < 16] = 0
    return relabel(labels)
