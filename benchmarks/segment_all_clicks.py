"""Clicks an automatic pass saves (used by bench_segment_all.py).

Per image, with the standard click simulator (next click at the centre of
the largest error, NoC@90, at most 20 clicks per object):

* **from scratch**: the sum of NoC@90 over every ground-truth instance;
* **with the automatic pass**: 1 click to run it + 1 click to accept it
  + 1 click per predicted object that matches no instance (deleted)
  + per instance matched at IoU > 0.5: 0 when its IoU >= 0.9, else the
  simulator's correction clicks starting from the automatic mask (fed
  back as the previous prediction, 20 when 0.9 is never reached)
  + NoC@90 from scratch for every instance no object matches.

A variant adds 1 click per corrected object (picking it up in the widget);
another (``mask_prompt=True``) also gives the automatic mask as the mask
prompt of every correction click; ``pick_up=True`` follows the widget's
pick-up exactly: the object is shown as the backend's answer to its mask
alone, then every correction click carries the mask as its prompt and the
first one no previous answer (the annotator's prediction chain).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench_find_similar import clicks_to_target, instances
from promptseg.backends.base import Prediction

MAX_CLICKS = 20


def scratch_clicks(backend, dataset, image_id: str, emb, cache: dict | None) -> list[int]:
    """NoC@90 from scratch of every instance of one image (cached by dataset, image and backend id)."""
    key = f"{dataset.name}/{image_id}/{backend.backend_id}"
    if cache is not None and key in cache:
        return cache[key]
    clicks = [clicks_to_target(backend, emb, m) for m in instances(dataset, image_id)]
    if cache is not None:
        cache[key] = clicks
    return clicks


def correction_clicks(backend, emb, gt: np.ndarray, auto_mask: np.ndarray, *, mask_prompt: bool = False,
                      pick_up: bool = False) -> int:
    """Clicks from an automatic mask until IoU >= 0.9: fed back as ``previous`` (also the mask prompt if asked),
    or, with ``pick_up``, as the widget does it (see the module text)."""
    if pick_up:
        shown = backend.predict(emb, mask=auto_mask).mask
        return clicks_to_target(backend, emb, gt, start=shown, mask=auto_mask)
    previous = Prediction(mask=auto_mask, logits=np.where(auto_mask, 1.0, -1.0).astype(np.float32), score=1.0)
    return clicks_to_target(backend, emb, gt, start=auto_mask, previous=previous,
                            mask=auto_mask if mask_prompt else None)


def image_clicks(backend, emb, q: dict, scratch: list[int], *, mask_prompt: bool = False,
                 pick_up: bool = False) -> dict:
    """The click account of one image from the matches of :func:`segment_all_quality.quality`.

    ``scratch[g]`` belongs to ground-truth instance g + 1 of ``q["gt_labels"]``
    (instances in increasing label order, as both are built).
    """
    pred, gt, table = q["pred_labels"], q["gt_labels"], q["table"]
    matched_pred = {int(p) for _, p in q["pairs"]}
    corrections, edited = 0, 0
    matched_gt = set()
    for g, p in q["pairs"]:
        matched_gt.add(int(g))
        if table[g, p] >= 0.9:
            continue
        edited += 1
        corrections += correction_clicks(backend, emb, gt == g + 1, pred == p + 1, mask_prompt=mask_prompt,
                                         pick_up=pick_up)
    missed = sum(s for g, s in enumerate(scratch) if g not in matched_gt)
    false = q["pred"] - len(matched_pred)
    total = 2 + false + corrections + missed
    return {"scratch": sum(scratch), "auto": total, "auto_pick": total + edited, "false": false,
            "edited": edited, "corrections": corrections, "missed": missed}


def load_cache(path: Path | None) -> dict | None:
    if path is None:
        return None
    return json.loads(path.read_text()) if path.exists() else {}


def save_cache(path: Path | None, cache: dict | None) -> None:
    if path is not None and cache is not None:
        path.write_text(json.dumps(cache))
