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

#: Fixtures that open Qt windows; a test using one is a GUI test.
_GUI_FIXTURES = {"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "qapp"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark GUI tests, and skip them where no X display can be had.

    pytest-xvfb starts a virtual X server (and sets ``DISPLAY``) before
    collection whenever ``Xvfb`` is installed. Without a display, Qt would abort
    the whole run, so GUI tests are skipped instead, except under CI, where a
    missing display is an error in the set-up (``.ci/run`` installs Xvfb).
    """
    gui_items = [item for item in items if _GUI_FIXTURES & set(getattr(item, "fixturenames", ()))]
    for item in gui_items:
        item.add_marker(pytest.mark.gui)
    if not gui_items or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    reason = "no X display: install Xvfb (Debian: apt-get install xvfb xauth, see .ci/run) for the GUI tests"
    if os.environ.get("CI"):
        pytest.exit(f"{len(gui_items)} GUI tests cannot run: {reason}", returncode=1)
    for item in gui_items:
        item.add_marker(pytest.mark.skip(reason=reason))


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


# Tiny random-weight SAM fixtures (tiny_model, tiny_backend) for any test.
pytest_plugins = ["tiny_sam"]
