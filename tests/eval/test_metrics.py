import numpy as np
import pytest

from promptseg.errors import PromptError
from promptseg.eval import iou, noc
from promptseg.eval.datasets import Target
from promptseg.eval.metrics import summarize
from promptseg.eval.runner import EvaluationRun, TargetResult


def test_iou_values_and_shape_check():
    a = np.zeros((4, 4), bool)
    a[:2] = True
    assert iou(a, a) == 1.0
    assert iou(a, ~a) == 0.0
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    with pytest.raises(PromptError):
        iou(a, a[:3])


def test_noc_first_reaching_click_or_max():
    assert noc([0.9], 0.9) == 1
    assert noc([0.2, 0.86, 0.95], 0.85) == 2
    assert noc([0.2, 0.86, 0.95], 0.95) == 3
    assert noc([0.2] * 20, 0.85) == 20
    assert noc([], 0.85, max_clicks=20) == 20


def _run(curves, target_iou=0.90):
    run = EvaluationRun("d", "b", max_clicks=5, target_iou=target_iou, feedback=True, wall_seconds=2.0)
    for i, curve in enumerate(curves):
        run.targets.append(TargetResult(Target(str(i), 255), ious=list(curve), predict_seconds=[0.01] * len(curve),
                                        simulator_seconds=[0.001] * len(curve)))
    return run


def test_summary_noc_nof_miou_and_carry_forward():
    s = summarize(_run([[0.5, 0.91], [0.1, 0.2, 0.3, 0.4, 0.86]]))
    assert s.targets == 2 and s.clicks == 7
    assert s.noc[0.90] == pytest.approx((2 + 5) / 2)
    assert s.noc[0.85] == pytest.approx((2 + 5) / 2)
    assert s.nof[0.90] == 1 and s.nof[0.85] == 0
    assert s.noc[0.95] is None  # not measured with a 0.90 stop
    np.testing.assert_allclose(s.miou, [0.3, 0.555, 0.605, 0.655, 0.885])
    assert not s.miou_exact
    assert s.seconds_per_click == pytest.approx(2.0 / 7)
    assert s.predict_ms[0] == pytest.approx(10.0)
    assert s.to_dict()["NoC@90"] == pytest.approx(3.5)
