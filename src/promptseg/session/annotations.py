"""Reproducible annotations: the prompts of every committed object as JSON.

The file records, per object, its id, slice, prompts and the backend that
answered them (name, id and checkpoint hash).  Replaying it on the same image
with the same backend reproduces the objects exactly, because the live mask
is a function of the prompts alone (see :mod:`promptseg.session.chain`).

Format (``"format": "promptseg-annotations"``, ``"version": 1``)::

    {"format": ..., "version": 1, "image_shape": [Z, H, W],
     "objects": [{"label": 1, "slice": [Z], "backend": "vit_t",
                  "backend_id": "sam:vit_t:abc", "checkpoint_hash": "abc",
                  "score": 0.93, "area": 412,
                  "prompts": {"points": [[r, c], ...], "labels": [1, 0],
                              "box": null, "polygons": [], "scribbles": [],
                              "painted": null}}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator

from ..errors import PromptsegError
from ..prompts import Prompts
from .history import CommittedObject
from .session import AnnotationSession

FORMAT = "promptseg-annotations"
VERSION = 1


@dataclass(frozen=True)
class AnnotationFile:
    """A parsed annotation file."""

    image_shape: tuple[int, ...]
    objects: tuple[CommittedObject, ...]


def object_entry(obj: CommittedObject) -> dict[str, Any]:
    """One committed object as the JSON entry of an annotation file."""
    return {
        "label": obj.label,
        "slice": list(obj.slice_key),
        "backend": obj.backend_name,
        "backend_id": obj.backend_id,
        "checkpoint_hash": obj.checkpoint_hash,
        "score": obj.score,
        "area": obj.area,
        "prompts": obj.prompts.to_json(),
    }


def to_json(session: AnnotationSession) -> dict[str, Any]:
    """The committed objects of ``session`` (ordered by commit) as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "image_shape": list(session.image.label_shape),
        "objects": [object_entry(obj) for obj in session.committed],
    }


def save_annotations(path: str | os.PathLike, session: AnnotationSession) -> Path:
    """Write :func:`to_json` of ``session`` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(session), indent=1), encoding="utf-8")
    return path


def load_annotations(path_or_data: str | os.PathLike | dict[str, Any]) -> AnnotationFile:
    """Read an annotation file (or its parsed dict).

    Raises
    ------
    PromptsegError
        Not a promptseg annotation file, an unknown version or malformed entries.
    """
    data = path_or_data
    if not isinstance(data, dict):
        try:
            data = json.loads(Path(data).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PromptsegError(f"cannot read annotation file {path_or_data}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PromptsegError(f"{path_or_data!s:.80} is not a promptseg annotation file (no \"format\": \"{FORMAT}\").")
    if data.get("version") != VERSION:
        raise PromptsegError(f"annotation file version {data.get('version')!r} is not supported (expected {VERSION}).")
    objects = []
    for entry in data.get("objects", []):
        try:
            objects.append(
                CommittedObject(
                    label=int(entry["label"]),
                    slice_key=tuple(int(i) for i in entry["slice"]),
                    prompts=Prompts.from_json(entry["prompts"]),
                    backend_name=str(entry["backend"]),
                    backend_id=str(entry.get("backend_id", entry["backend"])),
                    checkpoint_hash=entry.get("checkpoint_hash"),
                    score=float(entry.get("score", float("nan"))),
                    area=int(entry.get("area", 0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PromptsegError(f"malformed object entry in the annotation file: {exc!r}") from exc
    return AnnotationFile(tuple(int(s) for s in data.get("image_shape", ())), tuple(objects))


def replay_iter(
    session: AnnotationSession, annotations: AnnotationFile, *, overwrite: bool = False
) -> Generator[tuple[int, int, CommittedObject], None, list[str]]:
    """Re-segment every object of ``annotations`` into ``session`` (encoding slices as needed).

    Yields ``(done, total, committed object)`` after each object and returns
    warnings (another backend or checkpoint than recorded, objects that could
    not be committed).  Each object keeps its recorded id; every commit is
    undoable.  The current object's prompts are cleared first.
    """
    if annotations.image_shape and tuple(annotations.image_shape) != session.image.label_shape:
        raise PromptsegError(
            f"the annotations were made on an image of shape {annotations.image_shape}, "
            f"this image is {session.image.label_shape}."
        )
    warnings: list[str] = []
    backend_id = session.backend.backend_id
    if any(obj.backend_id != backend_id for obj in annotations.objects):
        recorded = sorted({obj.backend_id for obj in annotations.objects})
        warnings.append(f"objects were made with {recorded}, replayed with {backend_id!r}: masks may differ.")
    session.clear()
    total = len(annotations.objects)
    for done, obj in enumerate(annotations.objects, start=1):
        for _ in session.encode_iter([obj.slice_key]):
            pass
        session.set_prompts(obj.slice_key, obj.prompts)
        try:
            new = session.commit(overwrite=overwrite, label=obj.label)
        except PromptsegError as exc:
            warnings.append(f"object {obj.label}: {exc}")
            session.clear()
            continue
        yield done, total, new
    return warnings
