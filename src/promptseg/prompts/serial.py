"""Prompts as JSON (annotation files): plain lists, the mask run-length encoded."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import PromptError
from .value import Prompts


def prompts_to_json(prompts: Prompts) -> dict[str, Any]:
    """A JSON-ready dict of ``prompts``; the mask is stored under ``"painted"`` (the file format's name)."""
    out: dict[str, Any] = {
        "points": prompts.points.tolist(),
        "labels": prompts.labels.tolist(),
        "box": None if prompts.box is None else prompts.box.tolist(),
        "polygons": [p.tolist() for p in prompts.polygons],
        "scribbles": [s.tolist() for s in prompts.scribbles],
        "painted": None if prompts.mask is None else encode_rle(prompts.mask),
    }
    for kind in ("polygon_labels", "scribble_labels"):
        labels = getattr(prompts, kind)
        if (labels != 1).any():  # written only when some path is negative: older files stay as they were
            out[kind] = labels.tolist()
    return out


def prompts_from_json(data: dict[str, Any]) -> Prompts:
    """Inverse of :func:`prompts_to_json`.

    Raises
    ------
    PromptError
        Malformed entries.
    """
    try:
        mask = None if data.get("painted") is None else decode_rle(data["painted"])
        return Prompts(
            points=np.asarray(data.get("points") or np.zeros((0, 2)), dtype=np.float64),
            labels=np.asarray(data.get("labels") or [], dtype=np.int64),
            box=data.get("box"),
            polygons=tuple(np.asarray(p, dtype=np.float64) for p in data.get("polygons", [])),
            scribbles=tuple(np.asarray(s, dtype=np.float64) for s in data.get("scribbles", [])),
            mask=mask,
            polygon_labels=data.get("polygon_labels"),
            scribble_labels=data.get("scribble_labels"),
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise PromptError(f"malformed prompts in the annotation file: {exc}") from exc


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Run-length encode a bool mask (row-major): ``{"shape": [H, W], "runs": [start, length, ...]}``."""
    flat = np.asarray(mask, dtype=bool).ravel()
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[::2], edges[1::2]
    runs = np.stack([starts, ends - starts], axis=1).ravel()
    return {"shape": list(mask.shape), "runs": runs.tolist()}


def decode_rle(data: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_rle`."""
    shape = tuple(int(s) for s in data["shape"])
    flat = np.zeros(int(np.prod(shape)), dtype=bool)
    runs = np.asarray(data["runs"], dtype=np.int64).reshape(-1, 2)
    for start, length in runs:
        flat[start : start + length] = True
    return flat.reshape(shape)
