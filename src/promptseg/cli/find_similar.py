"""``promptseg find-similar``: propose every object like the exemplars and write them as labels."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import PromptsegError
from ..exemplar.from_segment_all import SOURCES

__all__ = ["add_find_similar_parser"]


def add_find_similar_parser(sub) -> None:
    p = sub.add_parser(
        "find-similar",
        help="propose all objects that look like one or more exemplar masks; write them as a label image",
        description="Encode IMAGE, describe the objects of --exemplar (a mask or label image: every non-zero "
        "label is one exemplar), prompt the backend wherever similar objects seem to be, and write the "
        "proposals scoring at least --threshold as a label image (best first; exemplars are not repeated).",
    )
    p.add_argument("image", type=Path, help="2D image or (Z, H, W) stack (TIFF, PNG, ...)")
    p.add_argument("--exemplar", type=Path, required=True, metavar="MASK",
                   help="exemplar mask or label image, same (H, W) as the image (or the whole stack)")
    p.add_argument("--negative", type=Path, metavar="MASK", help="mask of things that must not be proposed")
    p.add_argument("--backend", default="classic", help="classic (default) or a SAM registry name / checkpoint")
    p.add_argument("--out", type=Path, required=True, help="label image to write (uint16 TIFF or PNG)")
    p.add_argument("--threshold", type=float, default=0.5, help="least proposal score written (0..1, default 0.5)")
    p.add_argument("--exemplar-slice", type=int, metavar="Z",
                   help="stacks: the slice a 2D --exemplar mask belongs to")
    p.add_argument("--slice", type=int, action="append", metavar="Z",
                   help="stacks: search only this slice (repeat for more; default every slice)")
    p.add_argument("--store", type=Path, help="stacks: embedding store written by `promptseg embed` for this backend")
    p.add_argument("--source", choices=SOURCES, default="search",
                   help="where candidates come from: the exemplar search (default), the objects of the "
                   "segment-all pass ranked by likeness to the exemplars, or both merged")
    p.add_argument("--include-exemplars", action="store_true", help="also write the exemplars into the labels")
    p.add_argument("--device", default=None, help="torch device for SAM backends")
    p.set_defaults(func=run_find_similar)


def _progress(event) -> None:
    stream = sys.stderr
    if event.stage == "prompt" and event.total:
        stream.write(f"\r  slice {event.slice_key or '-'}: candidate {event.done}/{event.total}, "
                     f"{event.proposals} kept   ")
        if event.done == event.total:
            stream.write("\n")
        stream.flush()


def _drive(gen):
    while True:
        try:
            _progress(next(gen))
        except StopIteration as stop:
            return stop.value


def run_find_similar(args: argparse.Namespace) -> int:
    from ..backends import load_backend
    from ..io import read_image
    from ..session.image_stack import ImageStack
    from ..exemplar.accept import proposals_to_labels
    from ..exemplar.learned import describe_exemplars
    from ..exemplar.search import find_similar_stack

    if not 0.0 <= args.threshold <= 1.0:
        raise PromptsegError(f"--threshold is a score between 0 and 1, got {args.threshold}.")
    image = read_image(args.image)
    rgb = image.ndim == 4 or (image.ndim == 3 and image.shape[-1] in (3, 4))
    stack = ImageStack(image, rgb=rgb)
    all_keys = [tuple(int(i) for i in k) for k in np.ndindex(*stack.leading_shape)]
    label_shape = stack.label_shape
    exemplar = read_image(args.exemplar)
    if exemplar.ndim == 3 and exemplar.shape[-1] in (3, 4) and exemplar.shape[:2] == label_shape[-2:]:
        exemplar = exemplar[..., 0]  # an RGB(A) mask image
    is_stack = len(label_shape) > 2
    if exemplar.shape == label_shape[-2:]:
        if is_stack and args.exemplar_slice is None:
            raise PromptsegError(f"{args.image} is a stack of {label_shape[0]} slices; say which slice the 2D "
                                 "exemplar mask belongs to with --exemplar-slice Z (or give a mask stack).")
        home = (args.exemplar_slice,) if is_stack else ()
        full = np.zeros(label_shape, exemplar.dtype)
        full[home] = exemplar
        exemplar = full
    if exemplar.shape != label_shape:
        raise PromptsegError(f"the exemplar mask has shape {exemplar.shape}; it must match the image's "
                             f"{label_shape} (or one slice of it, {label_shape[-2:]}).")
    with_pixels = [k for k in all_keys if np.any(exemplar[k])]
    if not with_pixels:
        raise PromptsegError(f"{args.exemplar} has no object pixel; mark at least one exemplar with a non-zero value.")
    home = with_pixels[0]
    negative = None
    if args.negative is not None:
        negative = read_image(args.negative)
        negative = negative[home] if negative.shape == label_shape and is_stack else negative
    backend = load_backend(args.backend, device=args.device)
    if args.store is not None:
        from ..store import StoredBackend

        backend = StoredBackend.open(args.store, backend)
    start = time.perf_counter()
    cache = {}

    def embeddings(key):
        if key not in cache:
            cache.clear()
            cache[key] = backend.encode(stack.plane(key), contrast_limits=stack.contrast_limits)
        return cache[key]

    model = describe_exemplars(embeddings(home), exemplar[home], negative)
    keys = all_keys if not args.slice else [stack.check_key((z,)) for z in args.slice]
    options = {} if negative is None else {"negatives": negative}
    if args.source != "search":
        options.update(source=args.source, images=stack.plane)
    proposals = _drive(find_similar_stack(backend, embeddings, keys, model, objects=exemplar, exemplar_slice=home,
                                          exemplars=exemplar[home], **options))
    kept = [p for p in proposals if p.score >= args.threshold]
    first = int(exemplar.max()) + 1 if args.include_exemplars else 1
    labels = proposals_to_labels(kept, label_shape, start=first)
    if args.include_exemplars:
        labels = np.where(exemplar != 0, exemplar.astype(np.int32), labels)
    out = _write_labels(args.out, labels)
    print(f"{out}: {len(kept)} proposals with score >= {args.threshold:g} (of {len(proposals)}) on "
          f"{len(keys)} slice(s), exemplar(s) of median area {model.shape.median_area:.0f} px "
          f"({time.perf_counter() - start:.1f} s, backend {backend.name})")
    return 0


def _write_labels(path: Path, labels: np.ndarray) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    if labels.max(initial=0) > np.iinfo(np.uint16).max:
        raise PromptsegError("more than 65535 proposals: search fewer slices at once.")
    data = labels.astype(np.uint16)
    if p.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(p, data, compression="zlib")
    else:
        from skimage import io as skio

        skio.imsave(p, data, check_contrast=False)
    return p
