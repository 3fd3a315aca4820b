"""Sample data contributed to napari (File > Open Sample > PromptSeg).

Thin wrappers over :mod:`promptseg.data`: each returns napari LayerData tuples
``(data, layer_kwargs, layer_type)``; napari itself is not imported.
"""

from __future__ import annotations

from typing import Any

from ..data import SyntheticSample, synthetic_nuclei_2d, synthetic_nuclei_3d

LayerDataTuple = tuple[Any, dict[str, Any], str]

#: Plane spacing / pixel size of the 3D sample (also its display scale).
_ANISOTROPY_3D = 2.0


def nuclei_2d() -> list[LayerDataTuple]:
    """Synthetic 2D nuclei (256 x 256, uint16) and their ground-truth labels."""
    return _layers(synthetic_nuclei_2d(), "nuclei 2D", scale=(1.0, 1.0))


def nuclei_3d() -> list[LayerDataTuple]:
    """Synthetic 3D nuclei stack (32 x 256 x 256, uint16) and its ground-truth labels."""
    sample = synthetic_nuclei_3d(anisotropy=_ANISOTROPY_3D)
    return _layers(sample, "nuclei 3D", scale=(_ANISOTROPY_3D, 1.0, 1.0))


def _layers(sample: SyntheticSample, name: str, *, scale: tuple[float, ...]) -> list[LayerDataTuple]:
    image_kwargs = {"name": name, "colormap": "gray", "scale": scale}
    # Hidden by default: it is the answer, shown on demand to compare with an annotation.
    truth_kwargs = {"name": f"{name} ground truth", "scale": scale, "visible": False, "opacity": 0.5}
    return [(sample.image, image_kwargs, "image"), (sample.labels, truth_kwargs, "labels")]
