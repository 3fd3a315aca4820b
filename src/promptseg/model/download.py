"""Download checkpoints into the cache, verified against published hashes.

A checkpoint is downloaded at most once: a file already in the cache whose
hash matches the registry is returned without touching the network. Downloads
go to a temporary file beside the target and are moved into place only after
their hash has been verified, so an interrupted or corrupted download never
leaves a file that looks valid. Every failure raises
:class:`~promptseg.errors.DownloadError` with the URLs tried, the exact path
where the file can be saved by hand and the hash it must have.

Examples
--------
Point a registry entry at another server (tests do this with a local one):

>>> from dataclasses import replace
>>> from promptseg.model.registry import get_info
>>> info = replace(get_info("sam_vit_b"), url="http://127.0.0.1:8000/sam_vit_b.pth", mirrors=())
>>> path = fetch_checkpoint(info, cache_dir="/tmp/ckpts")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import CheckpointError, DownloadError
from .registry import (CACHE_ENV_VAR, CheckpointInfo, _human_size, cached_path, get_info, is_registry_name,
                       registry_names)

__all__ = [
    "CONTENT_HASH_ALGORITHM", "CheckpointFile", "content_hash", "existing_file", "fetch_checkpoint", "file_hash",
    "locate_checkpoint", "registry_entry", "verify_checkpoint",
]

logger = logging.getLogger(__name__)

#: Hash algorithms from fastest to slowest; the fastest published one that
#: is available checks files already in the cache.
_SPEED_ORDER = ("xxh3_128", "xxh128", "xxh3_64", "xxh64", "md5", "sha1", "sha256")

#: The algorithm of :func:`content_hash`: fast; published for the SAM 1
#: family entries (the SAM 2.1 entries publish sha256 only, which verifies
#: their downloads; the content hash only identifies weights).
CONTENT_HASH_ALGORITHM = "xxh128"

_MAX_REASON_CHARS = 300

#: (path, size, mtime_ns, algorithm) -> hex digest, so a file is hashed once
#: per process even when it is verified and then identified.
_HASH_MEMO: dict[tuple[str, int, int, str], str] = {}


def _algorithm_available(algorithm: str) -> bool:
    if algorithm.startswith("xxh"):
        try:
            import xxhash
        except ImportError:
            return False
        return hasattr(xxhash, algorithm)
    return algorithm in hashlib.algorithms_available


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hash of a file as ``"<algorithm>:<hex digest>"`` (pooch's notation).

    Results are memoised per process on (path, size, modification time).

    Parameters
    ----------
    path : path
        File to hash.
    algorithm : str
        ``"sha256"``, ``"md5"``, ``"xxh128"``, ... (xxh* need ``xxhash``).

    Raises
    ------
    CheckpointError
        The algorithm is not available.
    OSError
        The file cannot be read.
    """
    if not _algorithm_available(algorithm):
        hint = " (pip install xxhash)" if algorithm.startswith("xxh") else ""
        raise CheckpointError(f"hash algorithm {algorithm!r} is not available{hint}")
    import pooch

    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, algorithm)
    if key not in _HASH_MEMO:
        _HASH_MEMO[key] = pooch.file_hash(os.fspath(path), alg=algorithm)
    return f"{algorithm}:{_HASH_MEMO[key]}"


def content_hash(path: str | os.PathLike) -> str:
    """Identity of a checkpoint file's content, fast even for vit_h.

    ``xxh128`` when ``xxhash`` is installed, else ``sha256``.  It identifies
    the weights (embedding stores, annotation records); it is not a
    verification: :func:`verify_checkpoint` checks the published hashes.
    """
    algorithm = CONTENT_HASH_ALGORITHM if _algorithm_available(CONTENT_HASH_ALGORITHM) else "sha256"
    return file_hash(path, algorithm)


def _usable_hashes(info: CheckpointInfo) -> list[str]:
    usable = [value for value in info.hashes if _algorithm_available(value.partition(":")[0])]
    if not usable:
        raise CheckpointError(
            f"cannot verify checkpoint {info.name!r}: none of its hash algorithms "
            f"{[value.partition(':')[0] for value in info.hashes]} is available; pip install xxhash"
        )
    return usable


def _fastest_hash(info: CheckpointInfo) -> str:
    """The published hash that is cheapest to check, for files already cached."""
    usable = _usable_hashes(info)
    rank = {alg: i for i, alg in enumerate(_SPEED_ORDER)}
    return min(usable, key=lambda value: rank.get(value.partition(":")[0], len(rank)))


def _matches(path: Path, expected: str) -> tuple[bool, str]:
    actual = file_hash(path, expected.partition(":")[0])
    return actual.lower() == expected.lower(), actual


def verify_checkpoint(name: str | CheckpointInfo, path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` has the published hash of ``name``.

    Uses the fastest published hash whose algorithm is available.

    Raises
    ------
    CheckpointError
        Unknown name, or no usable hash algorithm.
    """
    info = name if isinstance(name, CheckpointInfo) else get_info(name)
    return _matches(Path(path), _fastest_hash(info))[0]


def _download(url: str, output: Path, *, progress: Any, timeout: float) -> None:
    """Write the content at ``url`` to ``output`` (any failure raises)."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise OSError(f"file URL with a remote host is not supported: {url}")
        with open(url2pathname(parsed.path), "rb") as src, open(output, "wb") as dst:
            shutil.copyfileobj(src, dst, length=16 * 1024 * 1024)
        return
    import pooch

    if scheme in ("http", "https"):
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
    elif scheme == "ftp":
        downloader = pooch.FTPDownloader(progressbar=progress, timeout=timeout)
    else:
        raise OSError(f"unsupported URL scheme {scheme!r}")
    downloader(url, os.fspath(output), None)


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


def _manual_instructions(info: CheckpointInfo, target: Path) -> str:
    alg, _, digest = info.hash.partition(":")
    tools = {"sha256": "sha256sum", "md5": "md5sum", "sha1": "sha1sum", "xxh128": "xxhsum -H2"}
    tool = tools.get(alg, f"an {alg} tool")
    return (
        f"To install it by hand, download it from {info.url} (size {_human_size(info.size_bytes, info.size_approx)}) "
        f"and save it exactly as\n    {target}\n"
        f"It must have the {alg} hash {digest} ({tool} prints it); files with another hash are not used. "
        f"To keep checkpoints elsewhere, set ${CACHE_ENV_VAR} or pass cache_dir."
    )


def fetch_checkpoint(
    name: str | CheckpointInfo,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Any = True,
    timeout: float = 30.0,
) -> Path:
    """Return the local path of a verified checkpoint, downloading it if needed.

    Parameters
    ----------
    name : str or CheckpointInfo
        Registry name, or an entry (for example the registry's entry with the
        URL replaced by ``dataclasses.replace``, to use a local server).
    cache_dir : path, optional
        Cache folder; default ``$PROMPTSEG_CACHE_DIR`` or the per-user cache
        (see :func:`promptseg.model.registry.cache_dir`).
    progress : bool or progress-bar object
        True: a tqdm bar on stderr; False: silent; or an object with tqdm's
        ``total``, ``update()``, ``reset()`` and ``close()`` (for example
        ``napari.utils.progress``), updated for HTTP(S) downloads.
    timeout : float
        Seconds to wait for a server to answer before trying the next URL.

    Returns
    -------
    Path
        ``cached_path(name, cache_dir)``, whose hash matches the registry.

    Raises
    ------
    CheckpointError
        Unknown name, or no hash algorithm to verify it with.
    DownloadError
        Every URL failed (offline, DNS, HTTP error, wrong hash) or the cache
        folder is not writable. The message lists each URL with its error,
        the exact path where the file can be saved by hand and its hash.
    """
    info = name if isinstance(name, CheckpointInfo) else get_info(name)
    target = cached_path(info, cache_dir)
    expected = _usable_hashes(info)[0]
    notes = []
    if target.is_file():
        try:
            ok, actual = _matches(target, _fastest_hash(info))
        except OSError as exc:
            ok, actual = False, _reason(exc)
        if ok:
            return target
        notes.append(
            f"The file already at {target} does not match (got {actual}, expected {_fastest_hash(info)}); "
            "it is replaced if a download succeeds."
        )
        logger.warning(notes[-1])

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the checkpoint cache folder {target.parent} ({_reason(exc)}): set ${CACHE_ENV_VAR} to "
            "a writable folder, or save the file by hand as the rest of this message explains.\n"
            + _manual_instructions(info, target)
        ) from exc

    failures = []
    for url in info.urls:
        logger.info("downloading checkpoint %s from %s to %s", info.name, url, target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{info.filename}.", suffix=".part", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _download(url, tmp, progress=progress, timeout=timeout)
            ok, actual = _matches(tmp, expected)
            if not ok:
                failures.append(f"{url}: the downloaded file has hash {actual}, expected {expected}")
                continue
            os.replace(tmp, target)
            return target
        except Exception as exc:  # noqa: BLE001 - every cause becomes one DownloadError below
            failures.append(f"{url}: {_reason(exc)}")
        finally:
            tmp.unlink(missing_ok=True)

    lines = [f"could not download checkpoint {info.name!r}: check the internet connection and try again, "
             "or save the file by hand as the rest of this message explains.", "Tried:"]
    lines += [f"  - {failure}" for failure in failures]
    lines += notes
    lines.append(_manual_instructions(info, target))
    raise DownloadError("\n".join(lines))


def registry_entry(name_or_path: str | os.PathLike | CheckpointInfo) -> CheckpointInfo | None:
    """The registry entry ``name_or_path`` names (itself if it is one), or None for a path."""
    if isinstance(name_or_path, CheckpointInfo):
        return name_or_path
    return get_info(name_or_path) if is_registry_name(name_or_path) else None


def existing_file(name_or_path: str | os.PathLike) -> Path:
    """``name_or_path`` as an existing file; else a CheckpointError listing the registry names."""
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"{os.fspath(name_or_path)!r} is neither a checkpoint file nor a registry name "
            f"({', '.join(registry_names())})"
        )
    return path


@dataclass(frozen=True)
class CheckpointFile:
    """Where a loader's weights are: the file, the name they are known by, and their registry entry if any."""

    path: Path
    name: str
    info: CheckpointInfo | None

    @property
    def registry_name(self) -> str | None:
        return None if self.info is None else self.info.name


def locate_checkpoint(
    name_or_path: str | os.PathLike | CheckpointInfo,
    *,
    family: str,
    other_family: Callable[[CheckpointInfo], CheckpointError],
    cache_dir: str | os.PathLike | None,
    progress: Any,
) -> CheckpointFile:
    """The checkpoint file a loader of ``family`` reads: a registry name's (fetched on first use) or a path.

    Raises ``other_family(info)`` for a registry entry of another family, and
    :class:`CheckpointError` for a path that is no file.
    """
    info = registry_entry(name_or_path)
    if info is None:
        path = existing_file(name_or_path)
        return CheckpointFile(path, path.name, None)
    if info.family != family:
        raise other_family(info)
    return CheckpointFile(fetch_checkpoint(info, cache_dir=cache_dir, progress=progress), info.name, info)
