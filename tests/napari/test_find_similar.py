"""The "Find similar" panel of the annotator: proposals layer, threshold, accept / reject / edit, undo."""

from __future__ import annotations

import numpy as np
from vispy.util import keys

from canvas_events import click
from promptseg.backends.classic import ClassicBackend
from promptseg.prompts import Prompts

CENTRES = [(20, 20), (20, 60), (20, 100), (60, 30), (60, 90), (100, 20), (100, 60), (100, 100)]


def _disks() -> np.ndarray:
    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[:120, :120]
    img = rng.normal(50, 6, (120, 120))
    for r, c in CENTRES:
        img[(rr - r) ** 2 + (cc - c) ** 2 <= 49] += 120
    return np.clip(img, 0, 255).astype(np.uint8)


def _search(widget, qtbot):
    session = widget.session
    session.set_prompts((), Prompts(points=[CENTRES[0]], labels=[1]))
    session.commit()
    widget.layers.refresh_objects()
    panel = widget.find_similar_panel
    assert panel.find() is not None
    qtbot.waitUntil(lambda: panel.worker is None, timeout=30000)
    return panel


def _click(panel, qtbot, rc, *modifiers):
    """A click on the canvas over ``rc`` with the proposals layer selected (as the status line asks)."""
    viewer = panel.annotator.viewer
    viewer.layers.selection.active = panel.layer
    click(viewer, qtbot, *rc, modifiers=modifiers)


def test_find_accept_reject_and_undo(annotator, qtbot):
    viewer, widget = annotator(_disks(), ClassicBackend())
    panel = _search(widget, qtbot)
    session = widget.session
    assert len(panel.proposals) == len(CENTRES) - 1
    layer = panel.layer
    assert layer in viewer.layers and layer.name == "img proposals"
    assert len(np.unique(layer.data)) == len(panel.shown()) + 1
    assert list(layer.features["score"][1:]) == [round(p.score, 3) for p in panel.proposals]

    # the slider only re-filters what is shown: the proposals themselves stay
    panel.slider.setValue(100)
    assert not layer.data.any() and len(panel.proposals) == len(CENTRES) - 1
    panel.slider.setValue(0)
    assert len(np.unique(layer.data)) == len(CENTRES)

    # click accepts, Alt+click rejects, Shift+click takes it over as the current object
    _click(panel, qtbot, CENTRES[1])
    assert session.objects[CENTRES[1]] == 2 and len(panel.proposals) == len(CENTRES) - 2
    _click(panel, qtbot, CENTRES[2], keys.ALT)
    assert session.objects[CENTRES[2]] == 0 and len(panel.proposals) == len(CENTRES) - 3
    assert len(panel._rejected[()]) == 1
    _click(panel, qtbot, CENTRES[3], keys.SHIFT)
    assert not session.draft.is_empty and session.prediction is not None and session.prediction.mask[CENTRES[3]]
    session.clear()

    # accept the rest in one go; undo takes them back one by one
    n = panel.accept_shown()
    assert n == len(CENTRES) - 4 and not panel.proposals and not layer.data.any()
    labels_before = set(np.unique(session.objects))
    assert len(labels_before) == 1 + 2 + n
    session.undo()
    assert len(set(np.unique(session.objects))) == len(labels_before) - 1
    assert session.objects[CENTRES[0]] == 1  # the exemplar survives


def test_find_without_exemplar_warns(annotator, qtbot):
    _, widget = annotator(_disks(), ClassicBackend())
    panel = widget.find_similar_panel
    assert panel.find() is None
    assert "commit one object" in panel.status.text()
    panel.exemplar_ids.setText("5")
    assert panel.find() is None
    assert "not on the displayed slice" in panel.status.text()


def test_proposal_ids_and_colours_stay_while_others_are_decided(annotator, qtbot):
    viewer, widget = annotator(_disks(), ClassicBackend())
    panel = _search(widget, qtbot)
    panel.slider.setValue(0)
    layer = panel.layer
    before = {rc: int(layer.data[rc]) for rc in CENTRES[1:]}
    colours = {rc: layer.colormap.map(np.array([v]))[0].tolist() for rc, v in before.items()}
    assert all(before.values()) and len(set(before.values())) == len(before)
    _click(panel, qtbot, CENTRES[1])  # accepted
    _click(panel, qtbot, CENTRES[2], keys.ALT)  # rejected
    for rc in CENTRES[3:]:
        assert int(layer.data[rc]) == before[rc]
        assert layer.colormap.map(np.array([before[rc]]))[0].tolist() == colours[rc]
    assert not layer.data[CENTRES[1]] and not layer.data[CENTRES[2]]
    p = panel.proposal_at(layer.data_to_world(CENTRES[4]))
    assert p is not None and panel.number(p) == before[CENTRES[4]]
    row = layer.features[layer.features["index"] == before[CENTRES[4]]]
    assert row["score"].tolist() == [round(p.score, 3)]  # hover shows this proposal's own score


def test_find_from_segment_all_candidates(annotator, qtbot):
    viewer, widget = annotator(_disks(), ClassicBackend())
    panel = widget.find_similar_panel
    panel.source.setCurrentIndex(panel.source.findData("segment_all"))
    panel = _search(widget, qtbot)
    assert len(panel.shown()) == len(CENTRES) - 1
    assert all(p.template is not None and p.prompt_box is None for p in panel.shown())  # the pass's objects, as they are
    hits = {next((i for i, (r, c) in enumerate(CENTRES) if p.mask((120, 120))[r, c]), None) for p in panel.shown()}
    assert hits == set(range(1, len(CENTRES)))
