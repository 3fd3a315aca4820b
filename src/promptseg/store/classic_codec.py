"""Classic embeddings as named arrays, so that an embedding store can hold them.

The classic payload (:class:`~.encoder.ClassicFeatures`) is a tree of frozen
dataclasses whose leaves are numpy arrays, scipy CSR matrices, Python or
numpy scalars and tuples of numbers.  :func:`embedding_to_arrays` flattens
any such tree into ``{"graph.labels": array, "lengths.data": array, ...}``
by walking the dataclass fields, and :func:`embedding_from_arrays` rebuilds
it from a *template*: the same tree, taken from a tiny probe image
encoded once per backend id.  Nothing here names a field, so fields added
to the classic backend are stored without a change here; a leaf of a type
it does not know (a dict, a callable, None) raises a :class:`StoreError`
that names the field.

Every array keeps its own dtype (labels int32, colours float32, booleans
as uint8), so predictions from a stored embedding equal the fresh ones
bit for bit (arrays the encoder made in Fortran order are given back in
Fortran order: matrix products depend on the memory order in their last
bits).  The sizes vary from image to image (number of superpixels,
of graph edges), so every dimension is declared variable (``None``) in
:meth:`ClassicEmbeddingCodec.embedding_layout`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import StoreError
from ..backends.base import Backend, ImageEmbedding

__all__ = ["ClassicEmbeddingCodec", "embedding_to_arrays", "embedding_from_arrays", "leaf_arrays"]

#: Suffixes of the arrays that hold one sparse matrix.
_SPARSE_PARTS = ("data", "indices", "indptr", "shape")


def _scalar_array(value: Any, path: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.astype(np.uint8).reshape(())
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise StoreError(f"embedding field {path!r} holds {type(value).__name__}, which cannot be stored.")
    return arr.reshape(())


def leaf_arrays(value: Any, path: str) -> dict[str, np.ndarray]:
    """The arrays of one dataclass tree (or leaf) ``value``, named by their dotted ``path``.

    Raises
    ------
    StoreError
        A leaf that is not an array, a sparse matrix, a number or a tuple of numbers.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, np.ndarray] = {}
        for f in dataclasses.fields(value):
            if f.init:
                out.update(leaf_arrays(getattr(value, f.name), f"{path}.{f.name}" if path else f.name))
        return out
    if sp.issparse(value):
        m = value.tocsr()
        parts = (m.data, m.indices, m.indptr, np.asarray(m.shape, np.int64))
        return {f"{path}.{name}": np.ascontiguousarray(a) for name, a in zip(_SPARSE_PARTS, parts)}
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return {path: value.astype(np.uint8)}
        if not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
            raise StoreError(f"embedding field {path!r} is a {value.dtype} array, which cannot be stored.")
        return {path: np.ascontiguousarray(value)}
    if isinstance(value, tuple) and all(isinstance(v, (int, float, np.number)) for v in value):
        return {path: np.asarray(value)}
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return {path: _scalar_array(value, path)}
    raise StoreError(
        f"embedding field {path!r} holds a {type(value).__name__}, which the classic codec cannot store "
        "(it stores arrays, sparse matrices, numbers and tuples of numbers inside dataclasses); "
        "extend promptseg/store/classic_codec.py for it."
    )


def _rebuild(template: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    """``template``'s tree with every leaf taken from ``arrays`` (cast back to the template's types)."""
    if dataclasses.is_dataclass(template) and not isinstance(template, type):
        kwargs = {f.name: _rebuild(getattr(template, f.name), arrays, f"{path}.{f.name}" if path else f.name)
                  for f in dataclasses.fields(template) if f.init}
        return type(template)(**kwargs)
    try:
        if sp.issparse(template):
            data, indices, indptr, shape = (arrays[f"{path}.{name}"] for name in _SPARSE_PARTS)
            matrix = sp.csr_matrix((data, indices, indptr), shape=tuple(int(s) for s in shape))
            return matrix if isinstance(template, sp.csr_matrix) else type(template)(matrix)
        arr = arrays[path]
    except KeyError as exc:
        raise StoreError(f"the stored classic embedding lacks array {exc.args[0]!r}; re-compute the store.") from exc
    if isinstance(template, np.ndarray):
        arr = arr.astype(template.dtype, copy=False)
        # the same memory order as the encoder's (sums and products depend on it in the last bits)
        fortran = template.ndim > 1 and template.flags.f_contiguous and not template.flags.c_contiguous
        return np.asfortranarray(arr) if fortran else arr
    if isinstance(template, tuple):
        kinds = [type(v) for v in template] or [float]
        return tuple(kinds[min(i, len(kinds) - 1)](v) for i, v in enumerate(arr.tolist()))
    if isinstance(template, (bool, np.bool_)):
        return type(template)(bool(arr.item()))
    return type(template)(arr.item())


def embedding_to_arrays(embedding: ImageEmbedding) -> dict[str, np.ndarray]:
    """Every array of a classic embedding, named by its field path (e.g. ``"graph.labels"``).

    Booleans become uint8; sparse matrices become ``PATH.data``,
    ``PATH.indices``, ``PATH.indptr`` and ``PATH.shape``; numbers become
    0-d arrays.  Nothing is converted to another precision.
    """
    return leaf_arrays(embedding.features, "")


def embedding_from_arrays(arrays: dict[str, np.ndarray], template: Any, *, backend_id: str,
                          image_shape: tuple[int, int]) -> ImageEmbedding:
    """Rebuild a classic embedding of an (H, W) image from :func:`embedding_to_arrays` output.

    Parameters
    ----------
    arrays : dict of str to np.ndarray
        As written; extra names are ignored, missing ones raise.
    template : ClassicFeatures
        Any embedding's features from the same backend: gives the dataclass
        types and each leaf's type and dtype.
    backend_id, image_shape
        Of the rebuilt :class:`ImageEmbedding`.

    Raises
    ------
    StoreError
        An array of the template's tree is missing.
    """
    return ImageEmbedding(backend_id=backend_id, image_shape=tuple(int(s) for s in image_shape),
                          features=_rebuild(template, arrays, ""))


_TEMPLATES: dict[str, Any] = {}


def _template(backend: Backend) -> Any:
    """Features of a small probe image encoded by ``backend`` (once per backend id)."""
    key = backend.backend_id
    if key not in _TEMPLATES:
        rng = np.random.default_rng(0)
        probe = np.kron(rng.integers(0, 256, (8, 8)), np.ones((8, 8))).astype(np.uint8)
        probe = np.clip(probe.astype(np.int16) + rng.integers(-8, 9, probe.shape), 0, 255).astype(np.uint8)
        _TEMPLATES[key] = backend.encode(probe).features
    return _TEMPLATES[key]


class ClassicEmbeddingCodec:
    """Makes a :class:`~promptseg.backends.classic.ClassicBackend` storable (see :class:`promptseg.store.StorableBackend`).

    The store gets it through :func:`promptseg.store.codec.check_storable`;
    it forwards ``name``, ``backend_id``, ``encode`` and ``predict`` to the
    backend.

    Examples
    --------
    >>> from promptseg.backends.classic import ClassicBackend
    >>> codec = ClassicEmbeddingCodec(ClassicBackend())
    >>> codec.embedding_layout((64, 64))["graph.labels"], codec.embedding_dtypes["graph.labels"]
    ((None, None), 'int32')
    """

    embedding_codec = "classic-features/1"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        if name == "backend":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.backend, name)

    def _leaves(self) -> dict[str, np.ndarray]:
        return leaf_arrays(_template(self.backend), "")

    @property
    def embedding_dtypes(self) -> dict[str, str]:
        """Every array keeps its own dtype (the store's float16 would change the answers)."""
        return {name: arr.dtype.name for name, arr in self._leaves().items()}

    def embedding_layout(self, image_shape: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """Name -> shape with every dimension variable (``None``): sizes depend on the image's content."""
        return {name: (None,) * arr.ndim for name, arr in self._leaves().items()}

    def embedding_to_arrays(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        return embedding_to_arrays(embedding)

    def embedding_from_arrays(self, arrays: dict[str, np.ndarray], image_shape: tuple[int, int]) -> ImageEmbedding:
        return embedding_from_arrays(arrays, _template(self.backend), backend_id=self.backend.backend_id,
                                     image_shape=image_shape)
