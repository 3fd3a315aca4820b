"""Shared pytest fixtures for the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _configure_torch_threads() -> None:
    """Keep torch from oversubscribing small CI machines (2 cores)."""
    try:
        import torch
    except ImportError:  # torch is a hard dependency, but never fail collection on it
        return
    threads = int(os.environ.get("PROMPTSEG_TEST_THREADS", "0")) or min(4, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(0)


_configure_torch_threads()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """Path to the shared project material (``../shared`` beside the repository).

    ``$PROMPTSEG_SHARED`` overrides the location. Tests that use this fixture
    are skipped when the folder is absent.
    """
    override = os.environ.get("PROMPTSEG_SHARED")
    path = Path(override).expanduser() if override else REPO_ROOT.parent / "shared"
    if not path.is_dir():
        pytest.skip(f"../shared not found beside the repository: {path} (set PROMPTSEG_SHARED)")
    return path.resolve()
