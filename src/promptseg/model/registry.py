"""Name -> checkpoint registry and the local checkpoint cache.

The facts about every published checkpoint (URL, mirrors, hashes, size,
licence, architecture, image domain) live in ``registry.json`` beside this
module; this module only reads them and answers questions about the cache.
Downloading is in :mod:`promptseg.model.download`, reading and strict loading
in :mod:`promptseg.model.checkpoint`.

Checkpoints are cached as ``<cache dir>/<name>.pt`` (for example
``sam_vit_b.pt``), named after the registry entry rather than after the URL,
because several micro-sam files share the URL file name ``vit_b.pt``.

Examples
--------
>>> from promptseg.model.registry import get_info, is_registry_name
>>> is_registry_name("sam_vit_b")
True
>>> get_info("mobile_sam_vit_t").architecture
'vit_t'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import CheckpointError
from .config import ARCHITECTURES
from .sam2.config import SAM2_ARCHITECTURES

__all__ = [
    "CACHE_ENV_VAR",
    "CheckpointInfo",
    "cache_dir",
    "cached_path",
    "get_info",
    "is_cached",
    "is_registry_name",
    "model_table",
    "registry",
    "registry_names",
]

#: Environment variable that overrides the default checkpoint cache folder.
CACHE_ENV_VAR = "PROMPTSEG_CACHE_DIR"

#: Hash algorithms a registry entry may use (pooch's ``"alg:hexdigest"`` form).
HASH_ALGORITHMS = ("sha256", "sha1", "md5", "xxh128", "xxh64", "xxh3_128", "xxh3_64")

_URL_SCHEMES = ("https", "http", "ftp", "file")

#: Model families and the architecture names each may use: ``sam`` (SAM 1,
#: MobileSAM, micro-sam; :data:`promptseg.model.config.ARCHITECTURES`) and
#: ``sam2.1`` (:data:`promptseg.model.sam2.config.SAM2_ARCHITECTURES`).
FAMILIES: dict[str, tuple[str, ...]] = {"sam": tuple(ARCHITECTURES), "sam2.1": tuple(SAM2_ARCHITECTURES)}


@dataclass(frozen=True)
class CheckpointInfo:
    """Everything known about one downloadable checkpoint.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"sam_vit_b"``; also the cached file's stem.
    architecture : str
        Name of a published architecture of the entry's family: ``vit_b``,
        ``vit_l``, ``vit_h``, ``vit_t`` (family ``sam``) or ``hiera_t``,
        ``hiera_s``, ``hiera_b+``, ``hiera_l`` (family ``sam2.1``).
    url : str
        Primary download URL (``https://``, ``http://``, ``ftp://`` or
        ``file://``).
    hash : str
        Published hash, ``"<algorithm>:<hexdigest>"`` as pooch writes it.
    domain : str
        Images the weights were trained for ("natural images",
        "light microscopy", "electron microscopy", ...).
    license : str
        SPDX licence identifier of the weights.
    size_bytes : int or None
        File size in bytes when published, else None.
    mirrors : tuple of str
        Further URLs serving the same file, tried in order after ``url``.
    other_hashes : tuple of str
        More published hashes of the same file (other algorithms).
    format : str
        Free-text description of the file layout.
    family : str
        Model family, a key of :data:`FAMILIES` (``"sam"`` or ``"sam2.1"``).
    size_approx : str
        Approximate size as published (``"~149 MB"``) when the exact byte
        count is not, else empty.
    """

    name: str
    architecture: str
    url: str
    hash: str
    domain: str = "natural images"
    license: str = "unknown"
    size_bytes: int | None = None
    mirrors: tuple[str, ...] = ()
    other_hashes: tuple[str, ...] = ()
    format: str = ""
    family: str = "sam"
    size_approx: str = ""

    def __post_init__(self) -> None:
        # Tests and users build entries by hand (e.g. pointing at a local
        # server), so validate here, with messages that name the entry.
        if not self.name or any(sep in self.name for sep in ("/", "\\")) or self.name.startswith("."):
            raise CheckpointError(f"invalid checkpoint name {self.name!r}: it must be a plain file stem")
        if self.family not in FAMILIES:
            raise CheckpointError(
                f"checkpoint {self.name!r}: unknown model family {self.family!r}; expected one of {sorted(FAMILIES)}"
            )
        if self.architecture not in FAMILIES[self.family]:
            raise CheckpointError(
                f"checkpoint {self.name!r}: unknown architecture {self.architecture!r} for family {self.family!r}; "
                f"expected one of {sorted(FAMILIES[self.family])}"
            )
        for url in self.urls:
            if urlparse(url).scheme not in _URL_SCHEMES:
                raise CheckpointError(
                    f"checkpoint {self.name!r}: unsupported URL {url!r}; expected one of the schemes {_URL_SCHEMES}"
                )
        for value in self.hashes:
            alg, _, digest = value.partition(":")
            if alg not in HASH_ALGORITHMS or not digest or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise CheckpointError(
                    f"checkpoint {self.name!r}: malformed hash {value!r}; expected '<algorithm>:<hex digest>' "
                    f"with an algorithm in {HASH_ALGORITHMS}"
                )
        if self.size_bytes is not None and self.size_bytes <= 0:
            raise CheckpointError(f"checkpoint {self.name!r}: size_bytes must be positive, got {self.size_bytes}")

    @property
    def urls(self) -> tuple[str, ...]:
        """The primary URL followed by the mirrors."""
        return (self.url, *self.mirrors)

    @property
    def hashes(self) -> tuple[str, ...]:
        """The published hash followed by the other published hashes."""
        return (self.hash, *self.other_hashes)

    @property
    def filename(self) -> str:
        """File name in the cache: ``<name>.pt``, whichever URL serves it."""
        return self.name + ".pt"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckpointInfo":
        """Build from one ``registry.json`` entry (lists become tuples).

        Raises
        ------
        CheckpointError
            A required field is missing or a field is unknown.
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        missing = {"name", "architecture", "url", "hash"} - set(data)
        if unknown or missing:
            raise CheckpointError(
                f"malformed registry entry {data.get('name', '?')!r}: "
                f"unknown fields {sorted(unknown)}, missing fields {sorted(missing)}"
            )
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        return cls(**values)


@lru_cache(maxsize=1)
def _load_registry() -> tuple[CheckpointInfo, ...]:
    text = resources.files(__package__).joinpath("registry.json").read_text(encoding="utf-8")
    entries = tuple(CheckpointInfo.from_dict(entry) for entry in json.loads(text)["checkpoints"])
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CheckpointError(f"registry.json lists these checkpoint names twice: {duplicates}")
    return entries


def registry() -> dict[str, CheckpointInfo]:
    """All known checkpoints, by name, in registry order.

    Returns
    -------
    dict of str to CheckpointInfo
        A fresh dict; changing it does not change the registry.
    """
    return {info.name: info for info in _load_registry()}


def registry_names() -> list[str]:
    """Names of all known checkpoints, in registry order."""
    return [info.name for info in _load_registry()]


def is_registry_name(name: str | os.PathLike) -> bool:
    """Whether ``name`` is the name of a known checkpoint (paths never are)."""
    return isinstance(name, str) and name in registry()


def get_info(name: str) -> CheckpointInfo:
    """The registry entry called ``name``.

    Raises
    ------
    CheckpointError
        ``name`` is not in the registry; the message lists the valid names.
    """
    entries = registry()
    if name not in entries:
        raise CheckpointError(
            f"unknown checkpoint name {name!r}; known names are: {', '.join(entries)}. "
            "Run `promptseg models` for details, or pass the path to a checkpoint file."
        )
    return entries[name]


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The folder where checkpoints are downloaded and looked up.

    Precedence: ``override`` > ``$PROMPTSEG_CACHE_DIR`` (when set and
    non-empty) > ``pooch.os_cache("promptseg")`` (the per-user cache, e.g.
    ``~/.cache/promptseg`` on Linux). The folder is not created here.

    Parameters
    ----------
    override : path, optional
        Explicit folder, for example from a ``--cache-dir`` option.

    Returns
    -------
    Path
        Absolute path with ``~`` expanded.
    """
    return _resolve_cache_dir(override)


def _resolve_cache_dir(override: str | os.PathLike | None) -> Path:
    # Separate from ``cache_dir`` because other functions here have a
    # parameter of that name, which shadows the public function.
    if override is not None and os.fspath(override) != "":
        path = Path(override)
    elif os.environ.get(CACHE_ENV_VAR):
        path = Path(os.environ[CACHE_ENV_VAR])
    else:
        import pooch

        path = Path(pooch.os_cache("promptseg"))
    return path.expanduser().absolute()


def _as_info(name: str | CheckpointInfo) -> CheckpointInfo:
    return name if isinstance(name, CheckpointInfo) else get_info(name)


def cached_path(name: str | CheckpointInfo, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the checkpoint ``name`` is (or will be) stored in the cache.

    This is also where a user can put a manually downloaded file.

    Parameters
    ----------
    name : str or CheckpointInfo
        Registry name or entry.
    cache_dir : path, optional
        Cache folder; see :func:`cache_dir` for the default.

    Raises
    ------
    CheckpointError
        Unknown name.
    """
    info = _as_info(name)
    return _resolve_cache_dir(cache_dir) / info.filename


def is_cached(name: str | CheckpointInfo, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether a file exists at :func:`cached_path` (its hash is not checked here)."""
    return cached_path(name, cache_dir).is_file()


def _human_size(size_bytes: int | None, approx: str = "") -> str:
    if size_bytes is None:
        return approx or "unknown"
    if size_bytes < 1024**2:
        return f"{size_bytes / 1024:.0f} KiB"
    if size_bytes < 1024**3:
        return f"{size_bytes / 1024**2:.0f} MiB"
    return f"{size_bytes / 1024**3:.1f} GiB"


def model_table(cache_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per known checkpoint, for ``promptseg models``.

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder; see :func:`cache_dir` for the default.

    Returns
    -------
    list of dict
        Keys ``name``, ``architecture``, ``domain``, ``size`` (human readable;
        the published approximation such as ``"~149 MB"`` when no byte count
        is published, else ``"unknown"``), ``size_bytes`` (int or None),
        ``license``, ``cached`` (``"yes"``/``"no"``) and ``path`` (str, the
        cache location whether or not the file is there).
    """
    rows = []
    for info in _load_registry():
        path = cached_path(info, cache_dir)
        rows.append(
            {
                "name": info.name,
                "architecture": info.architecture,
                "domain": info.domain,
                "size": _human_size(info.size_bytes, info.size_approx),
                "size_bytes": info.size_bytes,
                "license": info.license,
                "cached": "yes" if path.is_file() else "no",
                "path": str(path),
            }
        )
    return rows
