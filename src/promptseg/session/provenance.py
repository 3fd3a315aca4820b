"""Provenance of exported labels: a small JSON sidecar saying how every object was made.

Next to ``labels.tif`` (or ``labels.zarr``) goes ``labels.tif.promptseg.json``:
an annotation file (:mod:`.annotations`, so the prompts import reads it as
it is and can replay it) with three more keys at the top, ``model`` (name,
backend id, checkpoint hash), ``backend_options`` (what else changes the
masks: backend settings, tiling, working level, contrast limits) and
``created`` (UTC time), and per object the UTC ``time`` it was committed
when known.  Prompts are in the labels' (row, col) pixel frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..backends.base import Backend
from .annotations import FORMAT, VERSION, object_entry
from .history import CommittedObject

__all__ = ["SIDECAR_SUFFIX", "backend_options", "provenance", "sidecar_path", "write_sidecar"]

SIDECAR_SUFFIX = ".promptseg.json"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def backend_options(backend: Backend, **extra: Any) -> dict[str, Any]:
    """What besides the checkpoint changes a backend's masks: its ``settings`` (if any), device, and ``extra``."""
    out: dict[str, Any] = {}
    settings = getattr(backend, "settings", None)
    if dataclasses.is_dataclass(settings):
        out["settings"] = dataclasses.asdict(settings)
    device = getattr(backend, "device", None)
    if device is not None:
        out["device"] = str(device)
    out.update({k: v for k, v in extra.items() if v is not None})
    return json.loads(json.dumps(out, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def provenance(objects: Sequence[CommittedObject], backend: Backend, image_shape: Sequence[int], *,
               options: Mapping[str, Any] | None = None, times: Mapping[int, float] | None = None) -> dict[str, Any]:
    """The sidecar of labels holding ``objects``, made by ``backend`` on an image of ``image_shape``."""
    entries = []
    for obj in objects:
        entry = object_entry(obj)
        if times and obj.label in times:
            entry["time"] = _utc(times[obj.label])
        entries.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "image_shape": [int(s) for s in image_shape],
        "created": _utc(time.time()),
        "model": {"name": str(backend.name), "backend_id": backend.backend_id,
                  "checkpoint_hash": getattr(backend, "checkpoint_hash", None)},
        "backend_options": dict(options) if options is not None else backend_options(backend),
        "objects": entries,
    }


def sidecar_path(labels_path: str | os.PathLike) -> Path:
    """``labels.tif`` -> ``labels.tif.promptseg.json``."""
    p = Path(labels_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(labels_path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write :func:`provenance` ``data`` next to ``labels_path``; returns the sidecar's path."""
    out = sidecar_path(labels_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return out
