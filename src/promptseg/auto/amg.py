"""SAM's automatic mask generator on our own parts.

The algorithm and its defaults are those of segment-anything's
``SamAutomaticMaskGenerator`` (Kirillov et al. 2023): prompt every crop
(the whole image, then optional crop layers) with a grid of single positive
points in batches; keep candidates whose predicted IoU exceeds
``pred_iou_thresh`` and whose stability score reaches
``stability_score_thresh``; binarise at ``mask_threshold``; drop masks near
an inner crop edge; remove duplicates within a crop by box NMS on the
predicted IoU, and across crops by box NMS preferring smaller crops;
optionally fill small holes and drop small islands, then NMS again.

Two things differ from the reference in how, not what: masks are formed
only for candidates that pass the IoU filter (the predicted IoU is known
before the decoder upscales), and every kept mask is stored cut to its box.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable, Generator

import numpy as np
import torch

from .grid import crop_boxes, layer_point_grids
from .masks import mask_boxes, near_crop_edge, remove_small_regions, stability_score
from .nms import box_nms
from .prompter import PointPrompter

__all__ = ["AmgSettings", "MaskSet", "AmgProgress", "generate_masks"]

#: Candidates turned into full-size logits at once (bounds memory: K x H x W float32).
LOGITS_CHUNK = 16


@dataclass(frozen=True)
class AmgSettings:
    """Options of the automatic mask generator; the defaults are SAM's (``SamAutomaticMaskGenerator``).

    Attributes
    ----------
    points_per_side : int
        Grid points along each side of a crop (layer 0).
    points_per_batch : int
        Points sent to the model at once.
    pred_iou_thresh : float
        Keep candidates whose predicted IoU is above this (0 disables).
    stability_score_thresh : float
        Keep candidates whose stability score is at least this (0 disables).
    stability_score_offset : float
        Logit offset of the stability score's two cuts.
    mask_threshold : float
        Logit above which a pixel is in the mask.
    box_nms_thresh : float
        Box IoU above which duplicates within one crop are removed.
    crop_n_layers : int
        Crop layers besides the whole image (layer i has 4**i crops).
    crop_nms_thresh : float
        Box IoU above which duplicates across crops are removed.
    crop_overlap_ratio : float
        Overlap of neighbouring crops in layer 1, as a fraction of the shorter image side.
    crop_n_points_downscale_factor : int
        Layer i is prompted with ``points_per_side / factor**i`` points per side.
    min_mask_region_area : int
        Fill holes and remove islands smaller than this many pixels (0: off).
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names :func:`promptseg.segment_all` accepts for SAM-family backends."""
        return frozenset(f.name for f in fields(cls))


@dataclass
class MaskSet:
    """Masks found on one image, each stored cut to its box.

    Attributes
    ----------
    masks : list of np.ndarray
        Mask k as a bool array of shape (y1 - y0 + 1, x1 - x0 + 1).
    boxes : np.ndarray, shape (K, 4), int64
        (x0, y0, x1, y1) in image pixels, inclusive.
    iou : np.ndarray, shape (K,)
        Predicted IoU.
    stability : np.ndarray, shape (K,)
    points : np.ndarray, shape (K, 2)
        The (x, y) point that produced each mask, image pixels.
    crops : np.ndarray, shape (K, 4)
        The crop (x0, y0, x1, y1; exclusive) each mask was found in.
    """

    masks: list = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    iou: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    stability: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))

    def __len__(self) -> int:
        return len(self.masks)

    def take(self, keep: np.ndarray) -> "MaskSet":
        """The masks at indices ``keep``, in that order."""
        keep = np.asarray(keep, np.int64)
        return MaskSet([self.masks[i] for i in keep], self.boxes[keep], self.iou[keep], self.stability[keep],
                       self.points[keep], self.crops[keep])

    def extend(self, other: "MaskSet") -> None:
        self.masks += other.masks
        self.boxes = np.concatenate([self.boxes, other.boxes])
        self.iou = np.concatenate([self.iou, other.iou])
        self.stability = np.concatenate([self.stability, other.stability])
        self.points = np.concatenate([self.points, other.points])
        self.crops = np.concatenate([self.crops, other.crops])

    def full(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        """Mask ``index`` at the image's (H, W)."""
        out = np.zeros(shape, bool)
        x0, y0, x1, y1 = self.boxes[index]
        out[y0:y1 + 1, x0:x1 + 1] = self.masks[index]
        return out


@dataclass(frozen=True)
class AmgProgress:
    """``done`` of ``total`` point batches answered (over all crops)."""

    stage: str
    done: int
    total: int


def _batch_masks(answers, crop: tuple[int, int, int, int], image_box, points: np.ndarray,
                 s: AmgSettings) -> MaskSet:
    """Filter one batch's candidates and keep the survivors cut to their boxes (crop frame)."""
    iou = answers.iou
    keep = iou > s.pred_iou_thresh if s.pred_iou_thresh > 0 else torch.ones_like(iou, dtype=torch.bool)
    prompts, columns = torch.nonzero(keep, as_tuple=True)
    out = MaskSet()
    for i in range(0, len(prompts), LOGITS_CHUNK):
        p, c = prompts[i:i + LOGITS_CHUNK], columns[i:i + LOGITS_CHUNK]
        logits = answers.logits(p, c)
        stab = stability_score(logits, s.mask_threshold, s.stability_score_offset)
        good = stab >= s.stability_score_thresh if s.stability_score_thresh > 0 else torch.ones_like(stab, dtype=torch.bool)
        masks = logits[good] > s.mask_threshold
        boxes = mask_boxes(masks)
        inside = ~near_crop_edge(boxes, crop, image_box)
        masks, boxes = masks[inside], boxes[inside]
        pick = torch.nonzero(good)[:, 0][inside]
        box_np = boxes.numpy()
        part = MaskSet(
            masks=[masks[k, y0:y1 + 1, x0:x1 + 1].numpy().copy() for k, (x0, y0, x1, y1) in enumerate(box_np)],
            boxes=box_np.astype(np.int64),
            iou=iou[p[pick], c[pick]].numpy().astype(np.float32),
            stability=stab[pick].numpy().astype(np.float32),
            points=points[p[pick].numpy()],
            crops=np.tile(np.asarray(crop, np.int64), (len(pick), 1)),
        )
        out.extend(part)
    return out


def _uncrop(masks: MaskSet, crop) -> MaskSet:
    x0, y0 = crop[0], crop[1]
    masks.boxes = masks.boxes + np.array([x0, y0, x0, y0])
    masks.points = masks.points + np.array([x0, y0])
    return masks


def generate_masks(
    prompter_for_crop: Callable[[tuple[int, int, int, int]], PointPrompter],
    image_shape: tuple[int, int],
    settings: AmgSettings = AmgSettings(),
) -> Generator[AmgProgress, None, MaskSet]:
    """Run the automatic mask generator over one image.

    Parameters
    ----------
    prompter_for_crop : callable
        ``(x0, y0, x1, y1) -> PointPrompter`` for that crop of the image
        (the whole image first); it encodes the crop or reuses an embedding.
    image_shape : (int, int)
        (H, W) of the image.
    settings : AmgSettings

    Yields
    ------
    AmgProgress
        After each batch of points.

    Returns
    -------
    MaskSet
        Kept masks in image pixels, best first by the last NMS's score.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    s = settings
    grids = layer_point_grids(s.points_per_side, s.crop_n_layers, s.crop_n_points_downscale_factor)
    boxes, layers = crop_boxes((h, w), s.crop_n_layers, s.crop_overlap_ratio)
    batch = max(int(s.points_per_batch), 1)
    total = sum(-(-len(grids[layer]) // batch) for layer in layers)
    done = 0
    result = MaskSet()
    for crop, layer in zip(boxes, layers):
        prompter = prompter_for_crop(crop)
        cw, ch = crop[2] - crop[0], crop[3] - crop[1]
        points = grids[layer] * np.array([cw, ch], np.float64)
        found = MaskSet()
        for i in range(0, len(points), batch):
            chunk = points[i:i + batch]
            found.extend(_batch_masks(prompter.decode(chunk), crop, (0, 0, w, h), chunk, s))
            done += 1
            yield AmgProgress("points", done, total)
        found = found.take(box_nms(found.boxes, found.iou, s.box_nms_thresh))
        result.extend(_uncrop(found, crop))
    if len(boxes) > 1:
        crops = result.crops.astype(np.float64)
        scores = 1.0 / ((crops[:, 2] - crops[:, 0]) * (crops[:, 3] - crops[:, 1]))
        result = result.take(box_nms(result.boxes, scores, s.crop_nms_thresh))
    if s.min_mask_region_area > 0 and len(result):
        result = _remove_small_regions(result, (h, w), s)
    return result


def _remove_small_regions(found: MaskSet, shape: tuple[int, int], s: AmgSettings) -> MaskSet:
    """Fill small holes and drop small islands; masks that changed rank below the others in a last NMS."""
    cleaned, unchanged = [], []
    for k in range(len(found)):
        mask = found.full(k, shape)
        mask, changed_holes = remove_small_regions(mask, s.min_mask_region_area, "holes")
        mask, changed_islands = remove_small_regions(mask, s.min_mask_region_area, "islands")
        cleaned.append(mask)
        unchanged.append(not (changed_holes or changed_islands))
    boxes = mask_boxes(torch.from_numpy(np.stack(cleaned))).numpy()
    keep = box_nms(boxes, np.asarray(unchanged, np.float64), max(s.box_nms_thresh, s.crop_nms_thresh))
    out = found.take(keep)
    for j, k in enumerate(keep):
        if not unchanged[k]:
            x0, y0, x1, y1 = boxes[k]
            out.boxes[j] = boxes[k]
            out.masks[j] = cleaned[k][y0:y1 + 1, x0:x1 + 1]
    return out
