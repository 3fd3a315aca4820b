"""``promptseg`` command line: a thin front end over the library.

Sub-commands: ``segment`` (headless one-shot segmentation), ``segment-all``
(every object at once, :mod:`promptseg.cli.segment_all`), ``models`` (the
checkpoint registry and cache) and ``evaluate`` (the standard click protocol).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from ..errors import PromptsegError, cli_text
from ..io import MASK_SUFFIXES
from .large import add_large_options, is_zarr_input, run_segment_large


def _point(text: str) -> tuple[float, float, int]:
    parts = text.split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        row, col = float(parts[0]), float(parts[1])
        label = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"--point takes ROW,COL or ROW,COL,LABEL (label 1 or 0), got {text!r}")
    return row, col, label


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--box takes R0,C0,R1,C1, got {text!r}")
    return values  # type: ignore[return-value]


def _add_segment(sub) -> None:
    p = sub.add_parser(
        "segment",
        help="segment one object in an image from points and/or a box (no GUI)",
        description="Encode IMAGE once and predict one mask from the given prompts. "
        "Coordinates are (row, col) pixels, as napari shows them.",
    )
    p.add_argument("image", type=Path, help="image file (TIFF, PNG, JPEG, ...), or an OME-Zarr folder / zarr array "
                   "(read lazily: only the tiles around the prompts)")
    p.add_argument("--backend", required=True, help="registry name (see `promptseg models`) or checkpoint path")
    p.add_argument("--point", type=_point, action="append", default=[], metavar="ROW,COL[,LABEL]",
                   help="a click; LABEL 1 = object (default), 0 = background; repeat for more")
    p.add_argument("--box", type=_box, metavar="R0,C0,R1,C1", help="a box around the object")
    p.add_argument("--slice", type=int, default=None, metavar="Z", help="for a stack: the 2D slice to segment")
    p.add_argument("--contrast-limits", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="scale non-8-bit data from LOW..HIGH to 0..255 (default: robust percentiles)")
    p.add_argument("--out", type=Path, required=True,
                   help=f"mask file to write (0 background, --value object): {', '.join(MASK_SUFFIXES)}; "
                   "for a zarr image also .zarr (sparse labels)")
    p.add_argument("--value", type=int, default=255, help="pixel value of the object in the mask (default 255)")
    p.add_argument("--logits", type=Path, help="also save the (H, W) float32 logits as .npy")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_large_options(p)
    p.set_defaults(func=_run_segment)


def _run_segment(args: argparse.Namespace) -> int:
    import numpy as np

    from ..backends import load_backend
    from ..io import read_image, write_mask
    from ..store import TiledBackend
    from .embed import contrast_limits_option

    if not args.point and args.box is None:
        raise PromptsegError("give at least one --point ROW,COL[,LABEL] or a --box R0,C0,R1,C1.")
    if is_zarr_input(args.image):
        return run_segment_large(args)
    if args.out.suffix.lower() not in MASK_SUFFIXES:
        raise PromptsegError(f"--out {args.out}: cannot write a mask as {args.out.suffix or 'a file without a suffix'}; "
                             f"end the name with one of {', '.join(MASK_SUFFIXES)}.")
    contrast_limits_option(args.contrast_limits)
    image = _select_slice(read_image(args.image), args)
    # tiles above 2048 px, encoded only where the prompts need them: any size, memory of a few tiles
    backend = TiledBackend(load_backend(args.backend, device=args.device), lazy=True)
    start = time.perf_counter()
    emb = backend.encode(image, contrast_limits=args.contrast_limits)
    points = [(r, c) for r, c, _ in args.point] or None
    labels = [lab for _, _, lab in args.point] or None
    pred = backend.predict(emb, points=points, labels=labels, box=args.box)
    done = time.perf_counter()
    out = write_mask(args.out, pred.mask, value=args.value)
    if args.logits:
        args.logits.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.logits, pred.logits)
    tiles = emb.cache.get("tiles", {})  # a tiled image: the tiles the prompts needed, encoded while predicting
    encode = emb.encode_seconds + sum(t.encode_seconds for t in tiles.values())
    where = f" ({len(tiles)} of {emb.features.tiling.n_tiles} tiles)" if tiles else ""
    print(
        f"{out}: {pred.area} object pixels of {pred.mask.size}, score {pred.score:.3f} "
        f"(encode {encode:.2f} s{where}, predict {1000 * (done - start - encode):.1f} ms, backend {backend.name})"
    )
    return 0


def _select_slice(image, args: argparse.Namespace):
    """The 2D image to segment: ``image`` itself, or slice ``--slice`` of a stack."""
    is_stack = image.ndim == 4 or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4))
    if is_stack and args.slice is None:
        raise PromptsegError(
            f"{args.image} is a stack of {image.shape[0]} slices of {image.shape[1]} x {image.shape[2]} pixels; "
            "choose one slice with --slice Z."
        )
    if args.slice is None:
        return image
    if not is_stack:
        raise PromptsegError(f"--slice {args.slice}: {args.image} is a single 2D image of {image.shape[0]} x "
                             f"{image.shape[1]} pixels, not a stack; leave out --slice.")
    if not 0 <= args.slice < image.shape[0]:
        raise PromptsegError(f"--slice {args.slice} is outside the stack of {image.shape[0]} slices "
                             f"(0 to {image.shape[0] - 1}).")
    return image[args.slice]


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the known checkpoints and whether they are cached")
    p.add_argument("--cache-dir", type=Path, default=None, help="checkpoint cache (default: $PROMPTSEG_CACHE_DIR or the user cache)")
    p.set_defaults(func=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from ..backends import BUILTIN_BACKENDS
    from ..model.registry import cache_dir, model_table

    rows = model_table(args.cache_dir)
    cols = [("name", 30), ("architecture", 12), ("domain", 22), ("size", 9), ("license", 11), ("cached", 6)]
    print("  ".join(f"{title:{width}}" for title, width in cols))
    for row in rows:
        print("  ".join(f"{str(row[title]):{width}}" for title, width in cols))
    print(f"\ncache: {cache_dir(args.cache_dir)}")
    print(f"built-in backends (no download): {', '.join(sorted(BUILTIN_BACKENDS))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .segment_all import add_segment_all_parser
    from .annotate import add_annotate_parser
    from .evaluate import add_evaluate_parser
    from .find_similar import add_find_similar_parser
    from .propagate import add_propagate_parser
    from .embed import add_embed_parser

    parser = argparse.ArgumentParser(prog="promptseg", description="Interactive segmentation: encode once, click fast.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_segment(sub)
    add_segment_all_parser(sub)
    _add_models(sub)
    add_evaluate_parser(sub)
    add_embed_parser(sub)
    add_find_similar_parser(sub)
    add_propagate_parser(sub)
    add_annotate_parser(sub)  # napari loads only when the command runs
    return parser


#: Options whose value may start with a minus sign (coordinates); argparse would take "-5,3" for an option.
_COORDINATE_OPTIONS = ("--point", "--box")
_NUMBERS = re.compile(r"^-[0-9.]+(,[-+]?[0-9.eE+-]*)*$")


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--point -5,3`` -> ``--point=-5,3``, so that a negative coordinate is a value, not an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _COORDINATE_OPTIONS and _NUMBERS.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``promptseg`` command; returns the exit status."""
    args = build_parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except PromptsegError as exc:
        print(f"promptseg {args.command}: error: {cli_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
