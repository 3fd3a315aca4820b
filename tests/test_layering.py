"""Imports point one way (design/STYLE.md).

``model`` <- ``backends`` <- ``session``/``store``/``eval`` <- ``_napari``/``cli``,
and nothing outside ``_napari/`` imports napari or Qt. Top-level helper modules
(``errors``, ``prompts``, ``imaging``, ``data``, ...) sit below every layer:
anyone may use them, they use none of the layers. The package root
(``promptseg/__init__.py``) is the public facade: it may import the core layers
but not the front ends, and nothing inside the core imports it.

Checked on the source with ``ast``, so imports inside functions count too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import promptseg

PACKAGE_DIR = Path(promptseg.__file__).resolve().parent

#: Rank of each subpackage / module directly under ``promptseg``; a module may
#: import only ranks <= its own. Unlisted top-level modules are helpers (rank 0).
LAYER_RANKS = {
    "prompts": 0,  # the prompt value and its rasterisation: a helper under every layer
    "model": 1,
    "backends": 2,
    "session": 3,
    "store": 3,
    "eval": 3,
    "exemplar": 3,
    "auto": 3,
    "_napari": 4,
    "cli": 4,
    "__main__": 4,
}
FRONT_ENDS = {"_napari", "cli", "__main__"}
ROOT_RANK = 4  # `promptseg` itself: the facade over the core

#: Top-level names of GUI packages that only ``_napari/`` may import.
GUI_PACKAGES = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy", "superqt", "app_model"}

#: Optional or GUI packages that ``import promptseg`` must not pull in.
HEAVY_OPTIONAL = sorted(GUI_PACKAGES | {"matplotlib", "dask", "distributed", "cv2"})


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. "promptseg.backends.sam"
    target: str  # dotted name imported, e.g. "promptseg.model.registry" or "napari.layers"
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[Import]:
    """Every import statement of one source file, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from promptseg import eval` names a subpackage: record each name under the base.
            found += [Import(module, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _layer(dotted: str) -> str | None:
    """The layer a promptseg module belongs to; "" for the package root; None outside promptseg."""
    parts = dotted.split(".")
    if parts[0] != "promptseg":
        return None
    return parts[1] if len(parts) > 1 else ""


def _rank(layer: str) -> int:
    return ROOT_RANK if layer == "" else LAYER_RANKS.get(layer, 0)


SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))
ALL_IMPORTS = [imp for path in SOURCES for imp in _imports(path)]


def test_sources_found() -> None:
    assert len(SOURCES) > 3, f"no sources under {PACKAGE_DIR}"
    assert any(imp.target.startswith("promptseg.") for imp in ALL_IMPORTS)


def test_only_napari_front_end_imports_gui_packages() -> None:
    offending = [
        str(imp)
        for imp in ALL_IMPORTS
        if imp.target.split(".")[0] in GUI_PACKAGES and _layer(imp.importer) != "_napari"
    ]
    assert not offending, "napari/Qt imported outside promptseg/_napari/:\n" + "\n".join(offending)


def test_imports_point_one_way() -> None:
    offending = []
    for imp in ALL_IMPORTS:
        target_layer = _layer(imp.target)
        # `from promptseg import X` where X is not a submodule imports the root facade.
        if target_layer is not None and target_layer not in LAYER_RANKS and not _is_submodule(target_layer):
            target_layer = ""
        importer_layer = _layer(imp.importer)
        if target_layer is None or target_layer == importer_layer:
            continue
        if importer_layer == "" and target_layer in FRONT_ENDS:
            offending.append(f"{imp} (the package root must not import a front end)")
        elif _rank(target_layer) > _rank(importer_layer):
            offending.append(f"{imp} (layer {importer_layer or 'root'!r} is below {target_layer or 'root'!r})")
    assert not offending, "imports against the layering model <- backends <- session/store/eval <- _napari/cli:\n" + (
        "\n".join(offending)
    )


def _is_submodule(name: str) -> bool:
    return (PACKAGE_DIR / f"{name}.py").is_file() or (PACKAGE_DIR / name / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("importer", "target", "allowed"),
    [
        ("promptseg.backends.sam", "promptseg.model.registry", True),
        ("promptseg.model.registry", "promptseg.backends.base", False),
        ("promptseg.backends.base", "promptseg.session.state", False),
        ("promptseg.eval.clicks", "promptseg.prompts", True),
        ("promptseg.prompts", "promptseg.model.config", False),
        ("promptseg.cli", "promptseg._napari.sample_data", True),
    ],
)
def test_rank_rule(importer: str, target: str, allowed: bool) -> None:
    """The rule itself, on hand-made cases (guards the checker against silent drift)."""
    assert (_rank(_layer(target)) <= _rank(_layer(importer))) is allowed


def test_import_promptseg_stays_light() -> None:
    """`import promptseg` must not drag in napari, Qt or other optional heavyweights."""
    code = "import json, sys, promptseg; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.strip().splitlines()[-1])}
    assert not loaded & set(HEAVY_OPTIONAL), f"`import promptseg` imported {sorted(loaded & set(HEAVY_OPTIONAL))}"
