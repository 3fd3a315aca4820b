"""Checkpoint registry, cache folder and verified downloads (never the internet)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pooch
import pytest

from promptseg.errors import CheckpointError, DownloadError
from promptseg.model.download import content_hash, fetch_checkpoint, file_hash, verify_checkpoint
from promptseg.model.registry import (
    CACHE_ENV_VAR,
    FAMILIES,
    CheckpointInfo,
    cache_dir,
    cached_path,
    get_info,
    is_cached,
    is_registry_name,
    model_table,
    registry,
    registry_names,
)

HEX_LENGTH = {"sha256": 64, "md5": 32, "xxh128": 32}
PAYLOAD = bytes(range(256)) * 40


# --------------------------------------------------------------------- registry


def test_registry_entries_are_valid():
    entries = registry()
    assert list(entries) == registry_names()
    assert {"sam_vit_b", "sam_vit_l", "sam_vit_h", "mobile_sam_vit_t"} <= set(entries)
    for name, info in entries.items():
        assert info.name == name
        assert info.architecture in FAMILIES[info.family]
        assert info.domain and info.license and info.format
        assert all(url.startswith("https://") for url in info.urls)
        assert info.size_bytes is None or info.size_bytes > 0
        assert info.size_bytes is None or not info.size_approx
        for value in info.hashes:
            alg, _, digest = value.partition(":")
            assert len(digest) == HEX_LENGTH[alg], value
        # every download can be verified without optional packages
        # (xxh128 needs xxhash; the SAM 2.1 entries publish sha256 only)
        assert any(value.partition(":")[0] in ("sha256", "xxh128") for value in info.hashes), name
    assert {info.family for info in entries.values()} == set(FAMILIES)
    assert [n for n, info in entries.items() if info.family == "sam2.1"] == [
        "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large"
    ]
    assert registry()["sam_vit_b"].domain == "natural images"
    assert len({info.filename for info in entries.values()}) == len(entries)


def test_registry_matches_shared_facts(shared_dir):
    shared = json.loads((shared_dir / "model_registry.json").read_text())["checkpoints"]
    ours = registry()
    assert [entry["name"] for entry in shared] == list(ours)
    for entry in shared:
        info = ours[entry["name"]]
        assert (info.architecture, info.url, info.hash, info.size_bytes, info.license) == (
            entry["architecture"],
            entry["url"],
            entry["hash"],
            entry["size_bytes"],
            entry["license"],
        )
        assert info.mirrors == tuple(entry.get("mirrors", ()))
        assert info.other_hashes == tuple(entry.get("other_hashes", ()))
        assert info.domain == entry.get("domain", "natural images")
        assert info.family == entry.get("family", "sam")
        assert info.size_approx == entry.get("size_approx", "")


def test_registry_returns_a_copy():
    registry().pop("sam_vit_b")
    assert "sam_vit_b" in registry()


def test_get_info_unknown_name_lists_valid_names():
    with pytest.raises(CheckpointError, match="unknown checkpoint name 'sam_vit_x'") as info:
        get_info("sam_vit_x")
    assert all(name in str(info.value) for name in registry_names())


def test_is_registry_name():
    assert is_registry_name("mobile_sam_vit_t")
    assert not is_registry_name("vit_b")
    assert not is_registry_name(Path("sam_vit_b"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"architecture": "vit_x"}, "unknown architecture"),
        ({"hash": "sha256"}, "malformed hash"),
        ({"hash": "crc32:abcd"}, "malformed hash"),
        ({"url": "gopher://host/x.pt"}, "unsupported URL"),
        ({"name": "../escape"}, "invalid checkpoint name"),
        ({"size_bytes": 0}, "size_bytes"),
        ({"family": "sam3"}, "unknown model family"),
        ({"architecture": "hiera_t"}, "unknown architecture 'hiera_t' for family 'sam'"),
        ({"family": "sam2.1"}, "unknown architecture 'vit_b' for family 'sam2.1'"),
    ],
)
def test_checkpoint_info_rejects_bad_entries(change, message):
    fields = {"name": "x", "architecture": "vit_b", "url": "https://h/x.pt", "hash": "md5:" + "0" * 32} | change
    with pytest.raises(CheckpointError, match=message):
        CheckpointInfo(**fields)


# ------------------------------------------------------------------------ cache


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    assert cache_dir() == Path(pooch.os_cache("promptseg")).expanduser().absolute()
    monkeypatch.setenv(CACHE_ENV_VAR, "")
    assert cache_dir() == Path(pooch.os_cache("promptseg")).expanduser().absolute()
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cache_dir("~/ckpt") == Path.home() / "ckpt"


def test_cached_path_and_model_table(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert cached_path("sam_vit_b") == tmp_path / "env" / "sam_vit_b.pt"
    assert cached_path("micro_sam_vit_b_lm", tmp_path) == tmp_path / "micro_sam_vit_b_lm.pt"
    assert not is_cached("sam_vit_b", tmp_path)
    cached_path("sam_vit_b", tmp_path).write_bytes(b"x")
    assert is_cached("sam_vit_b", tmp_path)
    rows = {row["name"]: row for row in model_table(tmp_path)}
    assert list(rows) == registry_names()
    assert rows["sam_vit_b"]["cached"] == "yes" and rows["sam_vit_l"]["cached"] == "no"
    assert rows["sam_vit_b"]["path"] == str(tmp_path / "sam_vit_b.pt")
    assert rows["sam_vit_b"]["size"] == "358 MiB" and rows["micro_sam_vit_b_lm"]["size"] == "unknown"
    assert rows["sam2.1_hiera_tiny"]["size"] == "~149 MB" and rows["sam2.1_hiera_tiny"]["architecture"] == "hiera_t"
    assert set(rows["mobile_sam_vit_t"]) == {
        "name", "architecture", "domain", "size", "size_bytes", "license", "cached", "path"
    }


# --------------------------------------------------------------------- download


class _Server:
    """A local HTTP server: ``files`` maps URL paths to bytes, ``requests`` logs GETs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    srv.files["/ckpt.pt"] = PAYLOAD
    yield srv
    srv.close()


@pytest.fixture
def closed_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.pt"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _info(url: str, data: bytes = PAYLOAD, **changes) -> CheckpointInfo:
    fields = {"url": url, "mirrors": (), "hash": _sha256(data), "other_hashes": ()} | changes
    return replace(get_info("sam_vit_b"), **fields)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _no_partial_files(folder: Path) -> bool:
    return not list(folder.glob(".*.part"))


@pytest.mark.parametrize("alg", ["sha256", "md5", "xxh128"])
def test_http_download_is_verified_and_cached(server, tmp_path, alg):
    info = replace(_info(server.url + "/ckpt.pt"), hash=file_hash(_write(tmp_path / "ref", PAYLOAD), alg))
    path = fetch_checkpoint(info, cache_dir=tmp_path / "cache", progress=False)
    assert path == cached_path(info, tmp_path / "cache") == tmp_path / "cache" / "sam_vit_b.pt"
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/ckpt.pt"]
    assert fetch_checkpoint(info, cache_dir=tmp_path / "cache", progress=False) == path
    assert server.requests == ["/ckpt.pt"]  # the second call did not touch the network
    assert _no_partial_files(path.parent)


def test_file_url_download(tmp_path):
    source = _write(tmp_path / "src dir" / "weights.pt", PAYLOAD)
    path = fetch_checkpoint(_info(source.as_uri()), cache_dir=tmp_path / "cache", progress=False)
    assert path.read_bytes() == PAYLOAD


def test_download_uses_env_cache_dir_and_progress_bar(server, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    path = fetch_checkpoint(_info(server.url + "/ckpt.pt"), progress=True)
    assert path == tmp_path / "env" / "sam_vit_b.pt"


def test_bad_hash_raises_with_url_and_manual_path(server, tmp_path):
    info = _info(server.url + "/ckpt.pt", data=b"something else")
    with pytest.raises(DownloadError) as err:
        fetch_checkpoint(info, cache_dir=tmp_path, progress=False)
    message = str(err.value)
    assert info.url in message
    assert str(tmp_path / "sam_vit_b.pt") in message
    assert info.hash.partition(":")[2] in message
    assert "hash" in message
    assert not (tmp_path / "sam_vit_b.pt").exists()
    assert _no_partial_files(tmp_path)


def test_unreachable_url_raises_with_url_and_manual_path(closed_url, tmp_path):
    info = _info(closed_url, mirrors=(closed_url.replace("x.pt", "y.pt"),))
    with pytest.raises(DownloadError) as err:
        fetch_checkpoint(info, cache_dir=tmp_path / "c", progress=False, timeout=5)
    message = str(err.value)
    assert closed_url in message and closed_url.replace("x.pt", "y.pt") in message
    assert str(tmp_path / "c" / "sam_vit_b.pt") in message
    assert info.hash.partition(":")[2] in message
    assert isinstance(err.value, CheckpointError)


def test_http_error_names_status(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        fetch_checkpoint(_info(server.url + "/missing.pt"), cache_dir=tmp_path, progress=False)


def test_mirror_is_tried_after_failures(server, closed_url, tmp_path):
    info = _info(closed_url, mirrors=(server.url + "/missing.pt", server.url + "/ckpt.pt"))
    path = fetch_checkpoint(info, cache_dir=tmp_path, progress=False, timeout=5)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/missing.pt", "/ckpt.pt"]


def test_manually_placed_file_is_used_offline(closed_url, tmp_path):
    info = _info(closed_url)
    _write(cached_path(info, tmp_path), PAYLOAD)
    assert fetch_checkpoint(info, cache_dir=tmp_path, progress=False) == cached_path(info, tmp_path)
    assert verify_checkpoint(info, cached_path(info, tmp_path))


def test_cached_file_with_wrong_hash_is_downloaded_again(server, tmp_path):
    info = _info(server.url + "/ckpt.pt")
    _write(cached_path(info, tmp_path), b"stale")
    assert fetch_checkpoint(info, cache_dir=tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.requests == ["/ckpt.pt"]


def test_cached_file_with_wrong_hash_offline_is_refused(closed_url, tmp_path):
    info = _info(closed_url)
    target = _write(cached_path(info, tmp_path), b"stale")
    with pytest.raises(DownloadError, match="does not match") as err:
        fetch_checkpoint(info, cache_dir=tmp_path, progress=False)
    assert str(target) in str(err.value)
    assert not verify_checkpoint(info, target)


def test_unusable_cache_dir(closed_url, tmp_path):
    blocker = _write(tmp_path / "file", b"")
    with pytest.raises(DownloadError, match="cannot create the checkpoint cache folder") as err:
        fetch_checkpoint(_info(closed_url), cache_dir=blocker / "sub", progress=False)
    assert str(blocker / "sub" / "sam_vit_b.pt") in str(err.value)


def test_fetch_unknown_name():
    with pytest.raises(CheckpointError, match="unknown checkpoint name"):
        fetch_checkpoint("nope", progress=False)


def test_content_hash_is_xxh128(tmp_path):
    import xxhash

    path = _write(tmp_path / "f", PAYLOAD)
    assert content_hash(path) == "xxh128:" + xxhash.xxh128(PAYLOAD).hexdigest()
    assert file_hash(path) == _sha256(PAYLOAD)
