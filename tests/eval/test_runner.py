import pytest

from promptseg.eval import Dataset, evaluate, run_to_end, select_targets, summarize

from eval_fakes import EmptyBackend, OracleBackend, make_label_dataset, make_mask_dataset


@pytest.fixture
def masks(tmp_path):
    return Dataset(make_mask_dataset(tmp_path / "sq", n=3))


@pytest.fixture
def labels(tmp_path):
    return Dataset(make_label_dataset(tmp_path / "nuc"))


@pytest.mark.parametrize("which", ["masks", "labels"])
def test_oracle_needs_one_click(request, which):
    ds = request.getfixturevalue(which)
    gen = evaluate(OracleBackend(), ds)
    progress = []
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as stop:
            run = stop.value
            break
    assert [p.done for p in progress] == list(range(1, len(ds) + 1))
    s = summarize(run)
    assert s.targets == len(ds) and s.noc[0.85] == 1 and s.noc[0.90] == 1 and s.nof[0.90] == 0
    assert s.miou_at(1) == 1.0 and s.clicks == len(ds)
    assert all(r.clicks[0].is_positive for r in run.targets)


def test_empty_backend_needs_max_clicks_and_fails_everywhere(labels):
    run = run_to_end(evaluate(EmptyBackend(), labels, max_clicks=20))
    s = summarize(run)
    assert s.noc[0.90] == 20 and s.nof[0.90] == len(labels) == 5 and s.nof[0.85] == 5
    assert s.miou_at(20) == 0.0
    # 8 x 9 instances: 72 pixels, so all 20 clicks are placed, each on a new pixel
    for r in run.targets:
        assert len(r.clicks) == 20 and len({(c.row, c.col) for c in r.clicks}) == 20


def test_feedback_passes_previous_prediction(masks):
    backend = EmptyBackend()
    run_to_end(evaluate(backend, masks, max_clicks=3, limit=1))
    assert backend.previous_seen[0] is None and all(p is not None for p in backend.previous_seen[1:])
    backend = EmptyBackend()
    run_to_end(evaluate(backend, masks, max_clicks=3, limit=1, feedback=False))
    assert all(p is None for p in backend.previous_seen)


def test_full_run_gives_exact_curve_and_noc95(masks):
    s = summarize(run_to_end(evaluate(OracleBackend(), masks, target_iou=1.0)))
    assert s.noc[0.95] == 1 and s.nof[0.95] == 0
    assert s.miou_exact and s.miou_at(20) == 1.0


def test_limit_spreads_targets_and_records_note(labels):
    assert select_targets(list(range(10)), 3) == [0, 4, 9]
    assert select_targets([1, 2], None) == [1, 2]
    run = run_to_end(evaluate(OracleBackend(), labels, limit=2))
    assert [r.target.name for r in run.targets] == ["a#10", "b#20"]
    assert any("2 of 5 targets" in n for n in run.notes)


@pytest.mark.parametrize("kwargs", [{"max_clicks": 0}, {"target_iou": 0.0}, {"target_iou": 1.5}])
def test_bad_settings_raise(masks, kwargs):
    with pytest.raises(ValueError):
        next(evaluate(OracleBackend(), masks, **kwargs))


def test_wrong_mask_shape_names_the_image(masks):
    class Shrinking(OracleBackend):
        def predict(self, embedding, *args, **kwargs):
            pred = super().predict(embedding, *args, **kwargs)
            return type(pred)(pred.mask[1:], pred.logits[1:], 1.0)

    with pytest.raises(Exception, match=r"sq/im0.*shape"):
        run_to_end(evaluate(Shrinking(), masks))
