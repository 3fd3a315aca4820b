"""Read checkpoint files, infer their architecture and load them strictly.

:func:`read_state_dict` reads safely (``weights_only=True``) and unwraps the
layouts in circulation (plain, micro-sam's ``model_state`` with ``sam.`` keys,
``model`` / ``state_dict`` wrappers); :func:`infer_config` reads architecture
numbers from key names and shapes alone; :func:`load_strict` raises
:class:`~promptseg.errors.CheckpointError` naming missing, unexpected and
mis-shaped keys; :func:`load_sam` chains fetch, read, infer, build and load.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from .config import ARCHITECTURES, SamConfig
from .download import content_hash, locate_checkpoint
from .registry import CheckpointInfo
from .sam2.config import Sam2Config

__all__ = ["LoadedCheckpoint", "infer_config", "load_sam", "load_strict", "read_state_dict", "unwrap_state_dict"]

#: Buffers that models recompute at construction; dropped from a file when
#: the model does not store them (MobileSAM's index tables).
_DERIVED_BUFFERS = ("attention_bias_idxs",)
#: Keys under which training code nests the model weights, tried in order.
_WRAPPER_KEYS = ("model_state", "model", "state_dict")
#: How many offending keys an error message names.
_SHOW = 5

_ENC, _PROMPT, _DEC = "image_encoder.", "prompt_encoder.", "mask_decoder."


@dataclass(frozen=True)
class LoadedCheckpoint:
    """Where a model's weights came from.

    Attributes
    ----------
    name : str
        Registry name, or the file name for a checkpoint given by path.
    path : Path
        The file that was read.
    config : SamConfig or Sam2Config
        The architecture the model was built with.
    content_hash : str
        Content hash of the file, ``"xxh128:<hex>"`` (``"sha256:<hex>"``
        without ``xxhash``); identifies the weights, e.g. in embedding stores.
    architecture : str or None
        The published architecture (``vit_b``, ..., ``hiera_t``, ...) equal
        to ``config``, if any.
    registry_name : str or None
        The registry entry the file was fetched for, None for a plain path.
    """

    name: str
    path: Path
    config: SamConfig | Sam2Config
    content_hash: str
    architecture: str | None = None
    registry_name: str | None = None


def _describe_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    more = f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return f"{len(keys)}: {shown}{more}"


def _all_tensors(obj: Mapping) -> bool:
    return all(isinstance(value, Tensor) for value in obj.values())


def unwrap_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, Tensor]:
    """The flat ``key -> tensor`` dict inside what ``torch.load`` returned.

    Keys lose micro-sam's ``sam.`` and DataParallel's ``module.`` prefixes;
    ``source`` names the file in error messages.

    Raises
    ------
    CheckpointError
        No state dict found, it is empty, or it holds non-tensor values.
    """
    strip_sam = False
    for _ in range(3):  # wrappers are at most a few levels deep
        if not isinstance(obj, Mapping) or _all_tensors(obj):
            break
        key = next((k for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        strip_sam = strip_sam or key == "model_state"
        obj = obj[key]
    if not isinstance(obj, Mapping) or not obj:
        kind = "an empty dict" if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{source} does not contain a state dict (found {kind}); expected a dict of tensors")
    if not _all_tensors(obj):
        other = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
        raise CheckpointError(
            f"{source} is not a model state dict: entries that are not tensors {_describe_keys(other)}. "
            f"Expected a plain state dict or one nested under {list(_WRAPPER_KEYS)}."
        )
    state = {str(key): value for key, value in obj.items()}
    if strip_sam:
        state = {key.removeprefix("sam."): value for key, value in state.items()}
    for prefix in ("module.", "sam."):
        if all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a checkpoint file into a flat state dict on the CPU.

    Uses ``torch.load(..., map_location="cpu", weights_only=True)`` (memory
    mapped for zip-format files, so large checkpoints are not copied twice),
    then :func:`unwrap_state_dict`.

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, corrupt, holds objects that are
        unsafe to unpickle, or contains no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"cannot read checkpoint {path}: {_unreadable_reason(exc)}") from exc
    return unwrap_state_dict(obj, source=f"checkpoint {path}")


def _unreadable_reason(exc: Exception) -> str:
    """Why ``torch.load`` refused a file, and what to do, in one sentence of our own.

    torch's own text is not repeated: it is many lines long and advises
    ``weights_only=False``, which would run code stored in the file.
    """
    text = str(exc)
    unsafe = re.search(r"unsupported global\W+GLOBAL ([\w.]+)", text, re.IGNORECASE)
    if unsafe:
        return (f"it holds Python objects besides tensors ({unsafe.group(1)}), not loaded for safety. "
                "Use a weights-only file (torch.save(model.state_dict(), ...)) or a published checkpoint.")
    if isinstance(exc, EOFError) or any(s in text for s in ("central directory", "PytorchStreamReader", "EOF")):
        return "the file is truncated or corrupt. If it was downloaded, delete it and download it again."
    return (f"it is not a PyTorch checkpoint ({type(exc).__name__}). "
            "Pick a .pt/.pth file of SAM weights saved with torch.save.")


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...]:
    if key not in state:
        first = ", ".join(list(state)[:3])
        raise CheckpointError(
            f"cannot infer the architecture: key {key!r} is missing, so this is not a SAM-family "
            f"checkpoint (its first keys: {first})"
        )
    return tuple(state[key].shape)


def _count(state: Mapping[str, Any], prefix: str) -> int:
    """Number of consecutive numbered children ``prefix0.``, ``prefix1.``, ..."""
    indices = {key[len(prefix) :].split(".", 1)[0] for key in state if key.startswith(prefix)}
    numbers = sorted(int(i) for i in indices if i.isdigit())
    if not numbers or numbers != list(range(len(numbers))):
        raise CheckpointError(f"cannot infer the architecture: numbered keys {prefix}N. are missing or not consecutive")
    return len(numbers)


def _infer_vit(state: Mapping[str, Any]) -> dict[str, Any]:
    proj = _shape(state, _ENC + "patch_embed.proj.weight")  # (C, 3, p, p)
    embed_dim, patch = proj[0], proj[-1]
    if _ENC + "pos_embed" in state:
        grid = _shape(state, _ENC + "pos_embed")[1]  # (1, H, W, C)
        img_size = grid * patch
    else:
        img_size = SamConfig.img_size
        grid = img_size // patch
    depth = _count(state, _ENC + "blocks.")
    first = _ENC + "blocks.0."
    values: dict[str, Any] = {
        "encoder": "vit",
        "img_size": img_size,
        "patch_size": patch,
        "embed_dim": embed_dim,
        "depth": depth,
        "mlp_ratio": _shape(state, first + "mlp.lin1.weight")[0] / embed_dim,
        "qkv_bias": first + "attn.qkv.bias" in state,
        "use_rel_pos": first + "attn.rel_pos_h" in state,
    }
    if not values["use_rel_pos"]:
        # Heads and windows leave no trace in the shapes; accept only a
        # published layout with the same width and depth.
        for arch in ARCHITECTURES.values():
            if arch.encoder == "vit" and (arch.embed_dim, arch.depth) == (embed_dim, depth):
                heads, blocks, window = arch.num_heads, arch.global_attn_indexes, arch.window_size
                return values | {"num_heads": heads, "global_attn_indexes": blocks, "window_size": window}
        raise CheckpointError("cannot infer the attention heads of a ViT encoder without relative position tables")
    head_dim = _shape(state, first + "attn.rel_pos_h")[1]
    if embed_dim % head_dim:
        raise CheckpointError(f"inconsistent checkpoint: embed_dim {embed_dim} is not a multiple of head dim {head_dim}")
    global_blocks, windows = [], set()
    for i in range(depth):
        rows = _shape(state, f"{_ENC}blocks.{i}.attn.rel_pos_h")[0]  # 2 * size - 1
        if rows == 2 * grid - 1:
            global_blocks.append(i)
        else:
            windows.add((rows + 1) // 2)
    if len(windows) > 1:
        raise CheckpointError(f"unsupported checkpoint: windowed blocks use different window sizes {sorted(windows)}")
    values.update(num_heads=embed_dim // head_dim, global_attn_indexes=tuple(global_blocks))
    if windows:
        values["window_size"] = windows.pop()
    return values


def _infer_tiny_vit(state: Mapping[str, Any]) -> dict[str, Any]:
    n_layers = _count(state, _ENC + "layers.")
    dims, depths, heads, windows = [], [], [], []
    mlp_ratios, expand_ratios, local_convs = set(), set(), set()
    for i in range(n_layers):
        layer = f"{_ENC}layers.{i}."
        block = layer + "blocks.0."
        depths.append(_count(state, layer + "blocks."))
        if block + "attn.attention_biases" in state:
            n_heads, n_offsets = _shape(state, block + "attn.attention_biases")  # (heads, ws * ws)
            window = math.isqrt(n_offsets)
            if window * window != n_offsets:
                raise CheckpointError(f"inconsistent checkpoint: {n_offsets} attention offsets is not a square window")
            dim = _shape(state, block + "attn.qkv.weight")[1]
            mlp_ratios.add(_shape(state, block + "mlp.fc1.weight")[0] / dim)
            local_convs.add(_shape(state, block + "local_conv.c.weight")[-1])
            dims.append(dim)
            heads.append(n_heads)
            windows.append(window)
        else:  # MBConv stage: (hidden, dim, 1, 1) expansion
            hidden, dim = _shape(state, block + "conv1.c.weight")[:2]
            expand_ratios.add(hidden / dim)
            dims.append(dim)
            heads.append(None)
            windows.append(None)
    attention = [i for i, h in enumerate(heads) if h is not None]
    if not attention or len(mlp_ratios) > 1 or len(expand_ratios) > 1 or len(local_convs) > 1:
        raise CheckpointError("unsupported TinyViT checkpoint: no attention stage, or stages with different ratios")
    for i in range(n_layers):
        if heads[i] is None:
            # Convolution stages use no heads or windows; follow the next
            # attention stage (same head width), as MobileSAM's numbers do.
            j = next((k for k in attention if k > i), attention[-1])
            heads[i] = max(1, dims[i] // (dims[j] // heads[j]))
            windows[i] = windows[j]
    values: dict[str, Any] = {
        "encoder": "tiny_vit",
        "embed_dims": tuple(dims),
        "depths": tuple(depths),
        "tiny_num_heads": tuple(heads),
        "window_sizes": tuple(windows),
        "mlp_ratio": mlp_ratios.pop(),
        "local_conv_size": local_convs.pop(),
    }
    if expand_ratios:
        values["mbconv_expand_ratio"] = expand_ratios.pop()
    if _ENC + "head.weight" in state:
        values["num_classes"] = _shape(state, _ENC + "head.weight")[0]
    return values


def infer_config(state_dict: Mapping[str, Any]) -> SamConfig:
    """Architecture numbers of a SAM-family state dict, from keys and shapes.

    Only ``.shape`` of the values is read, so tensors on the ``meta`` device
    work. Numbers that leave no trace in the shapes keep their
    :class:`SamConfig` defaults: ``decoder_num_heads`` (8), the TinyViT
    ``img_size`` (1024), and the heads and window of TinyViT's convolution
    stage (taken from the next attention stage).

    Parameters
    ----------
    state_dict : mapping of str to tensor
        Flat state dict with ``image_encoder.``, ``prompt_encoder.`` and
        ``mask_decoder.`` keys (see :func:`read_state_dict`).

    Returns
    -------
    SamConfig
        Equal to ``ARCHITECTURES[name]`` for the published checkpoints.

    Raises
    ------
    CheckpointError
        A key the inference needs is missing, or shapes are inconsistent.

    Examples
    --------
    >>> from promptseg.model.build import build_sam
    >>> state = {k: v.to("meta") for k, v in build_sam("vit_t").state_dict().items()}  # doctest: +SKIP
    >>> infer_config(state) == ARCHITECTURES["vit_t"]  # doctest: +SKIP
    True
    """
    if _ENC + "patch_embed.seq.0.c.weight" in state_dict:
        values = _infer_tiny_vit(state_dict)
    else:
        values = _infer_vit(state_dict)
    values.update(
        out_chans=_shape(state_dict, _ENC + "neck.0.weight")[0],
        prompt_embed_dim=_shape(state_dict, _PROMPT + "no_mask_embed.weight")[1],
        mask_in_chans=_shape(state_dict, _PROMPT + "mask_downscaling.3.weight")[0],
        decoder_depth=_count(state_dict, _DEC + "transformer.layers."),
        decoder_mlp_dim=_shape(state_dict, _DEC + "transformer.layers.0.mlp.lin1.weight")[0],
        num_multimask_outputs=_shape(state_dict, _DEC + "mask_tokens.weight")[0] - 1,
        iou_head_depth=_count(state_dict, _DEC + "iou_prediction_head.layers."),
        iou_head_hidden_dim=_shape(state_dict, _DEC + "iou_prediction_head.layers.0.weight")[0],
    )
    return SamConfig(**values)


def _published_name(config: SamConfig) -> str | None:
    return next((name for name, published in ARCHITECTURES.items() if published == config), None)


def load_strict(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    source: str = "checkpoint",
    expected: str = "the model",
) -> None:
    """Copy ``state_dict`` into ``model``, requiring identical keys and shapes.

    Keys ending in ``attention_bias_idxs`` (index tables the model rebuilds)
    are ignored when the model does not store them.

    ``source`` and ``expected`` name the file and the architecture in error
    messages.

    Raises
    ------
    CheckpointError
        Missing keys, unexpected keys or shape mismatches; the message names
        the first few of each and their count.
    """
    wanted = model.state_dict()
    derived = {key for key in state_dict if key not in wanted and key.rsplit(".", 1)[-1] in _DERIVED_BUFFERS}
    state = {key: value for key, value in state_dict.items() if key not in derived}
    missing = [key for key in wanted if key not in state]
    unexpected = [key for key in state if key not in wanted]
    mismatched = [
        f"{key} (file {tuple(state[key].shape)}, model {tuple(value.shape)})"
        for key, value in wanted.items()
        if key in state and tuple(state[key].shape) != tuple(value.shape)
    ]
    problems = [
        f"{label} {_describe_keys(keys)}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
        if keys
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit {expected}: " + "; ".join(problems))
    _check_finite(state, source)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. dtypes that cannot be copied
        raise CheckpointError(f"{source} could not be loaded into {expected}: {exc}") from exc


def _check_finite(state: Mapping[str, Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinite values: such a model answers every prompt with "score nan".

    Raises
    ------
    CheckpointError
        Naming the first few tensors with non-finite values and their count.
    """
    bad = [key for key, value in state.items()  # meta tensors (shapes only) have no values to check
           if value.is_floating_point() and not value.is_meta and not bool(torch.isfinite(value).all())]
    if bad:
        raise CheckpointError(
            f"{source} holds NaN or infinite weights in {_describe_keys(bad)}: the file is damaged or comes from a "
            "training run that diverged. Download it again, or use another checkpoint."
        )


def _not_sam1(what: str, architecture: str) -> CheckpointError:
    return CheckpointError(
        f"{what} is a SAM 2.1 model ({architecture}), not a SAM 1 / MobileSAM one: load it with "
        "promptseg.backends.load_backend (or promptseg.model.sam2.load.load_sam2 for the bare model)."
    )


def _refuse_sam2(state: Mapping[str, Any], path: Path) -> None:
    """Raise a clear error for a SAM 2 file given to the SAM 1 loader (its keys say which model it is)."""
    from .sam2.identify import identify_sam2, is_sam2_state

    if is_sam2_state(state):
        raise _not_sam1(f"checkpoint {path}", identify_sam2(state, source=f"checkpoint {path}"))


def load_sam(
    name_or_path: str | os.PathLike | CheckpointInfo,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Any = True,
) -> tuple[nn.Module, LoadedCheckpoint]:
    """Build a SAM-family model and load a checkpoint into it, strictly.

    Parameters
    ----------
    name_or_path : str, path or CheckpointInfo
        A registry name (downloaded on first use, see
        :func:`~promptseg.model.download.fetch_checkpoint`), a registry entry,
        or a checkpoint file whose architecture is inferred from its shapes.
    cache_dir : path, optional
        Cache folder for registry checkpoints.
    progress : bool or progress-bar object
        Download progress display, as in ``fetch_checkpoint``.

    Returns
    -------
    model : nn.Module
        The :class:`~promptseg.model.sam.Sam` model on the CPU, in eval mode.
    loaded : LoadedCheckpoint
        Name, path, architecture and content hash of the weights.

    Raises
    ------
    CheckpointError
        Unknown name or missing file, unreadable file, or keys and shapes
        that do not fit the architecture.
    DownloadError
        A registry checkpoint could not be downloaded.
    """
    from .build import build_sam

    file = locate_checkpoint(name_or_path, family="sam", other_family=lambda info: _not_sam1(
        f"{info.name!r}", info.architecture), cache_dir=cache_dir, progress=progress)
    path = file.path
    state = read_state_dict(path)
    if file.info is not None:
        config = ARCHITECTURES[file.info.architecture]
    else:
        _refuse_sam2(state, path)
        try:
            config = infer_config(state)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {path}: {exc}") from exc
    model = build_sam(config)
    architecture = _published_name(config)
    expected = f"the {architecture} architecture" if architecture else f"the {config.encoder} architecture of its shapes"
    load_strict(model, state, source=f"checkpoint {path}", expected=expected)
    model.eval()
    return model, LoadedCheckpoint(file.name, path, config, content_hash(path), architecture, file.registry_name)
