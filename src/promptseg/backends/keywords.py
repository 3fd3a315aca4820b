"""Which optional prompt keywords a backend's ``predict`` takes (``scribbles=``, ``polygons=``, ...).

Callers pass scribbles and polygons natively to backends that take them and
rasterise them into one ``mask=`` prompt for the others.  Wrappers (stores,
tiling) forward what their inner backend takes and say so through a
``prompt_keywords`` attribute, since their own signature ends in ``**native``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

#: Keywords beyond points, labels, box, mask and previous that some backends take.
NATIVE_PROMPTS = frozenset({"scribbles", "scribble_labels", "polygons", "polygon_labels"})


def predict_keywords(backend: Any) -> frozenset[str]:
    """Keyword names ``backend.predict`` takes: its ``prompt_keywords`` if it declares them, else its signature's.

    Signatures are read once per function (cached), not per click.
    """
    declared = getattr(backend, "prompt_keywords", None)
    if declared is not None:
        return frozenset(declared)
    predict = getattr(backend, "predict", None)
    if predict is None:
        return frozenset()
    return _signature_keywords(getattr(predict, "__func__", predict))


def accepts_keywords(backend: Any, *names: str) -> bool:
    """Whether ``backend.predict`` takes all of ``names`` as keyword arguments."""
    return set(names) <= predict_keywords(backend)


@functools.lru_cache(maxsize=256)
def _signature_keywords(func: Any) -> frozenset[str]:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return frozenset()
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(name for name, p in params.items() if p.kind in kinds)


def native_prompts_for(inner: Any, native: dict[str, Any], wrapper: str) -> dict[str, Any]:
    """The ``native`` keywords (scribbles=, polygons=, ...) checked against what ``inner.predict`` takes.

    Raises
    ------
    TypeError
        For a keyword that is no prompt at all, or one ``inner`` does not
        take, naming the way to pass it instead.
    """
    unknown = set(native) - NATIVE_PROMPTS
    if unknown:
        raise TypeError(f"{wrapper}.predict() got unexpected keyword arguments {sorted(unknown)}.")
    missing = set(native) - predict_keywords(inner)
    if missing:
        raise TypeError(
            f"the {getattr(inner, 'name', type(inner).__name__)} backend does not take {sorted(missing)}: "
            "rasterise scribbles and polygons into one mask= prompt (promptseg.prompts.scribble_mask / polygon_mask)."
        )
    return native
