"""``promptseg propagate``: track the objects of an exported prompts file through a stack with SAM 2.1's memory."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

from ..errors import PromptsegError

__all__ = ["add_propagate_parser", "run_propagate"]

DESCRIPTION = (
    "Track objects through a (Z, H, W[, C]) stack or time-lapse with SAM 2.1's memory and write a label stack. "
    "PROMPTS is the annotator's prompts export (File > Export prompts): each object's clicks and/or box on one or "
    "more slices; every prompted slice becomes a conditioning slice, then each object is tracked from the first "
    "prompted slice to the end and back to slice 0. With --store the embeddings are read from (and missing "
    "slices written to) an embedding store of the stack (`promptseg embed`); with --workers N or --scheduler "
    "each object is one Dask task reading the shared store. Needs a SAM 2.1 model."
)


def add_propagate_parser(sub) -> argparse.ArgumentParser:
    """Add the ``propagate`` sub-command to a ``promptseg`` sub-parser collection."""
    from .options import positive_int as _positive

    p = sub.add_parser("propagate", help="track prompted objects through a stack with SAM 2.1 memory (no GUI)",
                       description=DESCRIPTION)
    p.add_argument("stack", type=Path, help="(Z, H, W[, C]) stack: a file (TIFF, ...) or a zarr folder (an array or "
                                            "OME-Zarr image, read one slice at a time)")
    p.add_argument("--backend", required=True, help="a SAM 2.1 registry name (e.g. sam2.1_hiera_tiny) or checkpoint")
    p.add_argument("--prompts", type=Path, required=True, help="prompts JSON exported by the annotator")
    p.add_argument("--out", type=Path, required=True, help="label stack to write (.tif: uint32; .png: uint16)")
    p.add_argument("--store", type=Path, help="embedding store of STACK (completed first when slices are missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="N > 1: a local Dask cluster of N processes, one task per object (needs --store)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (needs --store on a path the "
                            "workers read)")
    p.add_argument("--start", type=int, metavar="Z", help="slice the passes start from (default: first prompted)")
    p.add_argument("--contrast-limits", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="scale non-8-bit data from LOW..HIGH to 0..255 (default: one scaling for the whole stack; "
                        "with --store, the store's)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.set_defaults(func=run_propagate)
    return p


def _progress(what: str, done: int, total: int) -> None:
    sys.stderr.write(f"\r  {what} {done}/{total}   ")
    sys.stderr.flush()


def run_propagate(args: argparse.Namespace) -> int:
    """Run ``promptseg propagate`` for parsed arguments; returns the exit status."""
    from ..model.sam2.sam2_model import Sam2Model
    from ..session.annotations import load_annotations
    from ..session.track_job import objects_from_annotations, track_labels, track_on_dask
    from ..store.embed import BackendSpec, close_client, embed_stack, start_client
    from .embed import _load, contrast_limits_option
    from .large import read_stack
    from .segment_all import write_labels

    limits = contrast_limits_option(args.contrast_limits)
    distributed = args.scheduler is not None or args.workers > 1
    if distributed and args.store is None:
        raise PromptsegError("--workers/--scheduler run one task per object on embeddings read from a shared store: "
                             "add --store DIR (it is computed first if needed, or run `promptseg embed`).")
    if args.out.suffix.lower() not in (".tif", ".tiff", ".png"):
        raise PromptsegError(f"--out {args.out}: write labels as .tif/.tiff or .png.")
    stack = read_stack(args.stack)  # a zarr folder (OME-Zarr or array) is read slice by slice
    if stack.ndim not in (3, 4) or (stack.ndim == 4 and stack.shape[-1] not in (1, 3, 4)):
        raise PromptsegError(f"{args.stack} has shape {stack.shape}; propagate needs a (Z, H, W[, C]) stack.")
    annotations = load_annotations(args.prompts)
    objects = objects_from_annotations(annotations, stack.shape[0], stack.shape[1:3])
    spec = BackendSpec(f"{args.backend}@{args.device}", functools.partial(_load, args.backend, args.device))
    backend = spec.load()
    if not isinstance(getattr(backend, "model", None), Sam2Model):
        raise PromptsegError(f"--backend {args.backend} is {backend.name}, not SAM 2.1: memory tracking needs a SAM "
                             "2.1 model (e.g. sam2.1_hiera_tiny). Other models propagate slice by slice in the annotator.")
    if args.start is not None and not 0 <= args.start < stack.shape[0]:
        raise PromptsegError(f"--start {args.start} is outside the stack of {stack.shape[0]} slices.")
    client = start_client(workers=args.workers, scheduler=args.scheduler) if distributed else None
    begin = time.perf_counter()
    try:
        source = stack
        if args.store is not None:
            job = embed_stack(stack, spec if client is not None else backend, args.store,
                              contrast_limits=limits, client=client)
            while True:
                try:
                    step = next(job)
                    _progress("embedding", step.done, step.total)
                except StopIteration as stop:
                    source = stop.value
                    break
        if client is not None:
            labels = track_on_dask(spec, str(args.store), objects, client, start=args.start,
                                   progress=functools.partial(_progress, "objects"))
        else:
            labels = track_labels(backend, source, objects, start=args.start, contrast_limits=limits,
                                  progress=functools.partial(_progress, "slices"))
    finally:
        if client is not None:
            close_client(client)
    sys.stderr.write("\n")
    out = write_labels(args.out, labels)
    print(f"{out}: {len(objects)} objects tracked through {labels.shape[0]} slices "
          f"({time.perf_counter() - begin:.1f} s, backend {backend.name})")
    return 0
