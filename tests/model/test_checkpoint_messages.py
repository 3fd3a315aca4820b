"""A checkpoint that cannot be read gets one sentence of what is wrong and what to do, never torch's advice."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

from promptseg.errors import CheckpointError
from promptseg.model.checkpoint import read_state_dict

UNSAFE = re.compile(r"weights_only|file an issue|safe_globals", re.IGNORECASE)


def _write(path, kind: str):
    if kind == "pickled":  # a training script's checkpoint: weights plus Python objects
        torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=0.1)}, path)
    elif kind == "truncated":
        torch.save({"w": torch.zeros(1000)}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"not a checkpoint at all " * 20)
    return path


@pytest.mark.parametrize(("kind", "says"), [
    ("pickled", "holds Python objects besides tensors (argparse.Namespace), not loaded for safety. "
                "Use a weights-only file"),
    ("truncated", "the file is truncated or corrupt. If it was downloaded, delete it and download it again."),
    ("garbage", "it is not a PyTorch checkpoint"),
])
def test_unreadable_checkpoints_say_what_to_do(tmp_path, kind, says) -> None:
    path = _write(tmp_path / f"{kind}.pt", kind)
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    text = str(info.value)
    assert text.startswith(f"cannot read checkpoint {path}: ") and says in text
    assert "\n" not in text and not UNSAFE.search(text)
