"""``promptseg segment`` on an image larger than memory (an OME-Zarr folder or a zarr array).

The image is opened lazily (:func:`~promptseg.store.multiscale.open_multiscale`),
the prompts are answered by a :class:`~promptseg.session.large.LargeImageSession`
at ``--level`` (only the tiles around them are read and encoded), and the
object is written into sparse zarr labels (``--out mask.zarr``: only the
chunks it touches exist) with a provenance sidecar next to them.  A mask
file (TIFF, PNG, ...) is written only when the image is small enough to hold
one full-resolution mask in memory.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PromptsegError

#: A mask file of more pixels than this would be built in memory: ask for a zarr folder instead.
MAX_FILE_PIXELS = 1 << 28


def is_zarr_input(path: Path) -> bool:
    """Whether ``path`` is a zarr folder (OME-Zarr image or array, zarr v2 or v3)."""
    from ..store.multiscale import is_zarr_folder

    return is_zarr_folder(path)


def read_stack(path: Path) -> Any:
    """The (Z, H, W[, C]) stack of ``promptseg propagate``: a zarr folder lazily, any other file read whole.

    A zarr array, or an OME-Zarr image's full-resolution level, is returned
    unread (each slice is read when the tracker needs it); leading axes of
    length 1 (OME's t and c) are left out.
    """
    if not is_zarr_input(path):
        from ..io import read_image

        return read_image(path)
    from ..store.multiscale import open_multiscale

    data = open_multiscale(path).levels[0]
    drop = 0
    shape = tuple(int(s) for s in data.shape)
    while shape[drop] == 1 and (len(shape) - drop > 4 or (len(shape) - drop == 4 and shape[-1] not in (1, 3, 4))):
        drop += 1
    return _LeadingDropped(data, drop) if drop else data


class _LeadingDropped:
    """``data`` without its first ``drop`` axes (each of length 1), indexed without reading more than asked."""

    def __init__(self, data: Any, drop: int) -> None:
        self.data, self.drop = data, drop
        self.shape = tuple(int(s) for s in data.shape[drop:])
        self.dtype = data.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        return np.asarray(self.data[(0,) * self.drop + index])


def add_large_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--level", type=int, default=0,
                        help="for an OME-Zarr image: the resolution level prompts are answered at (0: full resolution; "
                             "coarser levels for objects larger than a tile); coordinates stay full-resolution")


def run_segment_large(args: argparse.Namespace) -> int:
    """``promptseg segment`` for a zarr input: encode only the tiles the prompts need, write labels sparsely."""
    from ..backends import load_backend
    from ..session.large import LargeImageSession
    from ..store.multiscale import open_multiscale
    from ..store.sparse_labels import SparseLabels

    if args.logits:
        raise PromptsegError("--logits is not written for zarr images (it would be as large as the image); "
                             "leave it out.")
    if args.value <= 0:
        raise PromptsegError(f"--value must be a positive object id for zarr labels, got {args.value}.")
    image = open_multiscale(args.image, slice_key=_slice_key(args), name=args.image.name)
    h, w = image.shape
    to_zarr = args.out.suffix.lower() == ".zarr"
    if not to_zarr and h * w > MAX_FILE_PIXELS:
        raise PromptsegError(f"{args.image} is {h} x {w} pixels: a mask file of that size does not fit in memory; "
                             f"write the mask as sparse zarr labels instead (--out {args.out.with_suffix('.zarr')}).")
    backend = load_backend(args.backend, device=args.device)
    labels = SparseLabels.create(image.shape, args.out) if to_zarr else None
    try:
        session = LargeImageSession(image, backend, labels=labels, level=args.level,
                                    contrast_limits=args.contrast_limits)
        start = time.perf_counter()
        session.set_prompts([(r, c) for r, c, _ in args.point], [lab for _, _, lab in args.point], args.box)
        obj = session.commit(label=args.value)
    except PromptsegError:
        if to_zarr:  # the labels folder this command made holds nothing: leave no half-written output
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    if to_zarr:
        out = args.out
        session.write_provenance()
    else:
        from ..io import write_mask

        mask = session.labels.read(slice(0, h), slice(0, w)) == args.value
        out = write_mask(args.out, mask, value=args.value)
        session.write_provenance(out)
    tiles = session.tiles
    print(f"{out}: {obj.area} object pixels of {h} x {w} (level {args.level}; {len(tiles.encoded)} of "
          f"{tiles.tiling.n_tiles} tiles encoded in {tiles.encode_seconds:.2f} s, total {seconds:.2f} s, "
          f"backend {backend.name}; {session.labels.stored_chunks()} label chunks written)")
    return 0


def _slice_key(args: argparse.Namespace) -> tuple[int, ...] | None:
    """``--slice Z`` as an index into the leading axes (time, channel, z) of the zarr image, flattened."""
    if args.slice is None:
        return None
    from ..store.multiscale import open_multiscale

    lead = open_multiscale(args.image).levels[0].shape[:-2]
    if not lead:
        raise PromptsegError(f"--slice {args.slice}: {args.image} is a single 2D image; leave out --slice.")
    total = int(np.prod(lead))
    if not 0 <= args.slice < total:
        raise PromptsegError(f"--slice {args.slice} is outside the image's {total} planes (0 to {total - 1}).")
    return tuple(int(i) for i in np.unravel_index(args.slice, lead))


def run_embed_large(args: argparse.Namespace, backend, spec, client) -> int:
    """``promptseg embed SLIDE.ome.zarr``: the tiles of ``--level`` into a tile store, as Dask tasks with a client."""
    from ..store.embed_level import embed_level

    path = args.inputs[0]
    name = path.name + ".tiles.zarr"
    target = args.store / name if args.store is not None else path.with_name(name)
    job = embed_level(path, spec if client is not None else backend, target, level=args.level, tile=args.tile,
                      halo=args.halo, contrast_limits=args.contrast_limits, client=client)
    start, last = time.perf_counter(), None
    try:
        while True:
            last = next(job)
    except StopIteration:
        pass
    done = 0 if last is None else last.done
    print(f"{path.name}: {done} tiles of level {args.level} in {time.perf_counter() - start:.1f} s -> {target} "
          f"(annotate with: promptseg annotate {path} --level {args.level} --tile-store {target})")
    return 0


def add_segment_all_large_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--level", type=int, default=0,
                        help="for an OME-Zarr image: the resolution level segmented tile by tile (0: full resolution)")
    parser.add_argument("--region", type=_region, default=None, metavar="R0,C0,R1,C1",
                        help="for an OME-Zarr image: only the tiles meeting this full-resolution box")


def _region(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] >= values[2] or values[1] >= values[3]:
        raise argparse.ArgumentTypeError(f"--region takes R0,C0,R1,C1 with R0 < R1 and C0 < C1, got {text!r}")
    return values  # type: ignore[return-value]


def run_segment_all_large(args: argparse.Namespace) -> int:
    """``promptseg segment-all SLIDE.ome.zarr --out L.zarr``: tile by tile into sparse labels, with a sidecar."""
    from ..auto.large import segment_all_large
    from ..backends import load_backend
    from ..session.provenance import backend_options, provenance, write_sidecar
    from ..store.multiscale import open_multiscale
    from ..store.sparse_labels import SparseLabels

    if args.out.suffix.lower() != ".zarr":
        raise PromptsegError(f"{args.image} is an OME-Zarr image: write its labels as sparse zarr labels "
                             f"(--out {args.out.with_suffix('.zarr')}).")
    if args.store is not None or args.slice is not None:
        raise PromptsegError("--store and --slice are not used for OME-Zarr images; leave them out.")
    image = open_multiscale(args.image, name=args.image.name)
    image.check_level(args.level)
    backend = load_backend(args.backend, device=args.device)
    options = {} if args.points_per_side is None else {"points_per_side": args.points_per_side}
    labels = SparseLabels.create(image.shape, args.out)
    start = time.perf_counter()
    job = segment_all_large(backend, image, labels, level=args.level, region=args.region, **options)
    last = None
    try:
        while True:
            last = next(job)
            print(f"\r{args.image.name}: tile {last.done} of {last.total}, {last.objects} objects", end="",
                  file=sys.stderr)
    except StopIteration as stop:
        count = stop.value
    print(file=sys.stderr)
    opts = backend_options(backend, level=args.level, region=args.region, pass_options=options or None)
    write_sidecar(args.out, {**provenance((), backend, image.shape, options=opts), "segment_all_objects": count})
    tiles = 0 if last is None else last.total
    print(f"{args.out}: {count} objects from {tiles} tiles of level {args.level} ({time.perf_counter() - start:.1f} s, "
          f"backend {backend.name}; {labels.stored_chunks()} label chunks written)")
    return 0
