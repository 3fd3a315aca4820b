import numpy as np
import pytest

from promptseg.eval import Dataset, DatasetError

from eval_fakes import make_label_dataset, make_mask_dataset, write_png


def test_mask_dataset_targets_and_ignore(tmp_path):
    ds = Dataset(make_mask_dataset(tmp_path / "sq"))
    assert ds.kind == "masks" and len(ds) == 3 and ds.name == "sq"
    (target, gt, ignore), = ds.target_masks("im0")
    assert target.name == "im0" and gt.shape == (40, 50)
    assert ignore is not None and not (gt & ignore).any()
    assert ds.load_image("im0").shape == (40, 50, 3)


def test_instance_dataset_gives_one_target_per_instance(tmp_path):
    ds = Dataset(make_label_dataset(tmp_path / "nuc"))
    assert ds.kind == "labels"
    assert [t.name for t in ds.targets] == ["a#10", "a#20", "a#30", "b#10", "b#20"]
    masks = list(ds.target_masks("a"))
    assert len(masks) == 3
    union = np.zeros((36, 36), int)
    for _, gt, ignore in masks:
        assert ignore is None and gt.sum() == 72
        union += gt
    assert union.max() == 1  # other instances are background


def test_missing_pairs_are_reported(tmp_path):
    root = make_mask_dataset(tmp_path / "d", n=2)
    (root / "masks" / "im1.png").unlink()
    write_png(root / "masks" / "extra.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"without a file in masks/.*im1.*without an image.*extra"):
        Dataset(root)


def test_size_mismatch_is_reported(tmp_path):
    root = make_mask_dataset(tmp_path / "d", n=1)
    write_png(root / "masks" / "im0.png", np.full((10, 10), 255, np.uint8))
    with pytest.raises(DatasetError, match="same size"):
        Dataset(root)


def test_empty_masks_are_skipped_with_a_warning_and_counted(tmp_path):
    root = make_mask_dataset(tmp_path / "d", n=3)
    write_png(root / "masks" / "im1.png", np.where(np.eye(44, 50) > 0, 128, 0).astype(np.uint8))  # ignore only
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = Dataset(root)
    assert len(ds) == 2 and ds.skipped == ["im1"]


@pytest.mark.parametrize("layout", ["none", "both"])
def test_bad_layout_is_reported(tmp_path, layout):
    root = make_mask_dataset(tmp_path / "d", n=1)
    if layout == "both":
        (root / "labels").mkdir()
    else:
        (root / "masks" / "im0.png").unlink()
        (root / "masks").rmdir()
    with pytest.raises(DatasetError, match="exactly one of"):
        Dataset(root)
    with pytest.raises(DatasetError, match="does not exist"):
        Dataset(tmp_path / "nowhere")


def test_shared_datasets_index(shared_dir):
    grabcut = Dataset(shared_dir / "datasets" / "grabcut")
    assert grabcut.kind == "masks" and len(grabcut) == 50 and not grabcut.skipped
    nuclei = Dataset(shared_dir / "datasets" / "dsb2018_dev")
    assert nuclei.kind == "labels" and len({t.image_id for t in nuclei.targets}) == 40
    assert len(nuclei) > 500
    (_, gt, ignore), = nuclei.target_masks(nuclei.targets[0].image_id, nuclei.targets[:1])
    assert gt.any() and ignore is None
