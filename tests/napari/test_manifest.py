"""The npe2 manifest is valid, installed, and every command it names imports."""

from __future__ import annotations

from importlib.resources import files

import npe2
import pytest

MANIFEST = files("promptseg") / "napari.yaml"


@pytest.fixture(scope="module")
def manifest() -> npe2.PluginManifest:
    return npe2.PluginManifest.from_file(str(MANIFEST))


def test_manifest_is_valid(manifest: npe2.PluginManifest) -> None:
    assert manifest.name == "napari-promptseg"
    assert manifest.display_name == "PromptSeg"
    manifest.validate_imports()  # every python_name resolves to a callable


def test_sample_data_points_at_declared_commands(manifest: npe2.PluginManifest) -> None:
    commands = {command.id for command in manifest.contributions.commands}
    samples = {sample.key: sample.command for sample in manifest.contributions.sample_data}
    assert set(samples) == {"nuclei_2d", "nuclei_3d"}
    assert set(samples.values()) <= commands


def test_plugin_is_discovered_through_its_entry_point() -> None:
    manager = npe2.PluginManager()
    manager.discover(include_npe1=False)
    found = manager.get_manifest("napari-promptseg")
    assert found.display_name == "PromptSeg"
