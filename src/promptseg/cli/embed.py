"""``promptseg embed``: precompute embedding stores for images, stacks and folders.

The project's ``promptseg`` entry point adds this sub-command with
:func:`add_embed_parser`; ``python -m promptseg.cli.embed INPUT... --backend NAME``
does the same.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from ..errors import PromptsegError, cli_text
from .options import positive_int

__all__ = ["add_embed_parser", "run_embed", "main"]

DESCRIPTION = (
    "Encode every slice of each INPUT once and store the embeddings (zarr, float16 by default) so the "
    "annotator never encodes them again. INPUT is an image file, a TIFF stack (multi-page, OME), a zarr "
    "array or a folder of images (one store per file). Interrupted runs resume where they stopped."
)


def contrast_limits_option(values: Sequence[float] | None) -> tuple[float, float] | None:
    """Check ``--contrast-limits LOW HIGH`` before anything is read or written.

    Raises
    ------
    PromptsegError
        Not finite, or LOW not below HIGH; the message speaks of the option.
    """
    if values is None:
        return None
    low, high = (float(v) for v in values)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise PromptsegError(f"--contrast-limits {low:g} {high:g}: LOW must be below HIGH and both finite "
                             "(for 16-bit data e.g. --contrast-limits 100 4000).")
    return low, high


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="image file, TIFF stack, .zarr array or folder of images")
    p.add_argument("--backend", required=True, metavar="NAME_OR_PATH",
                   help="registry name (see `promptseg models`) or checkpoint path of a storable backend")
    p.add_argument("--store", type=Path, default=None, metavar="DIR",
                   help="folder for the stores, one INPUT_NAME.embeddings.zarr each (default: next to each input)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="encode on a local Dask cluster of N processes (default 1: in this process)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (inputs must be "
                            "readable by the workers under the same paths)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                   help="precision of the stored embeddings (default float16)")
    p.add_argument("--contrast-limits", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="scale non-8-bit data from LOW..HIGH to 0..255 (default: robust percentiles per slice); "
                        "the annotator must use the same limits to use the store")
    p.add_argument("--tile", type=positive_int, default=None, help="tile side for large 2D images (default: model input size)")
    p.add_argument("--halo", type=int, default=None, help="tile overlap margin in pixels (default: tile / 8)")
    p.add_argument("--tile-threshold", type=positive_int, default=2048,
                   help="tile slices whose longer side exceeds this many pixels (default 2048)")
    p.add_argument("--level", type=int, default=0,
                   help="for an OME-Zarr image: the resolution level whose tiles are encoded (0: full resolution)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a store written for other data, another model or other settings")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=run_embed)
    return p


def add_embed_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``embed`` sub-command to a ``promptseg`` sub-parser collection."""
    p = subparsers.add_parser("embed", help="precompute embeddings of images and stacks into stores",
                              description=DESCRIPTION)
    return _configure(p)


def _load(name: str, device: str | None):
    from ..backends import load_backend

    return load_backend(name, device=device, progress=False)


def run_embed(args: argparse.Namespace) -> int:
    """Run ``promptseg embed`` for parsed arguments; returns the exit status."""
    from ..store.embed import BackendSpec, close_client, embed_stack, start_client
    from ..store.paths import store_path_for
    from ..store.sources import expand_inputs
    from ..store.multiscale import is_ome_zarr
    from .large import run_embed_large

    contrast_limits_option(args.contrast_limits)
    large = len(args.inputs) == 1 and is_ome_zarr(args.inputs[0])  # larger than memory: tiles of one level
    sources = [] if large else expand_inputs(args.inputs)
    spec = BackendSpec(f"{args.backend}@{args.device}", functools.partial(_load, args.backend, args.device))
    backend = spec.load()
    client = None
    if args.scheduler is not None or args.workers > 1:
        client = start_client(workers=args.workers, scheduler=args.scheduler)
    where = f"scheduler {args.scheduler}" if args.scheduler else f"{args.workers} local worker(s)"
    try:
        if large:
            return run_embed_large(args, backend, spec, client)
        for source in sources:
            target = store_path_for(getattr(source, "path", source.name), args.store)
            job = embed_stack(source, spec if client is not None else backend, target,
                              contrast_limits=args.contrast_limits, dtype=args.dtype, tile=args.tile, halo=args.halo,
                              tile_threshold=args.tile_threshold, overwrite=args.overwrite, client=client)
            _drive(job, source.name, target, where, args.progress)
    finally:
        if client is not None:
            close_client(client)
    return 0


def _drive(job, name: str, target: Path, where: str, progress: bool) -> None:
    from tqdm import tqdm

    bar, last = None, None
    start = time.perf_counter()
    try:
        while True:
            step = next(job)
            if bar is None:  # tiled slices: one step per tile
                bar = tqdm(total=step.total * step.n_tiles, desc=name, unit="tile" if step.n_tiles > 1 else "slice",
                           disable=not progress, file=sys.stderr)
            bar.update(1)
            last = step
    except StopIteration as stop:
        store = stop.value
    finally:
        if bar is not None:
            bar.close()
    if last is None:
        print(f"{name}: all {store.n_slices} slices already in {target}")
        return
    repaired = f", {last.repaired} damaged ones recomputed" if last.repaired else ""
    print(f"{name}: {last.done} slices in {last.seconds:.1f} s = {last.slices_per_second:.2f} slices/s "
          f"({where}; {last.skipped} were already stored{repaired}; {time.perf_counter() - start:.1f} s with hashing) "
          f"-> {target}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _configure(argparse.ArgumentParser(prog="promptseg embed", description=DESCRIPTION))
    args = parser.parse_args(argv)
    try:
        return run_embed(args)
    except PromptsegError as exc:
        print(f"promptseg embed: error: {cli_text(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
