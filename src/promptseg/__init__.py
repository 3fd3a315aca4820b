"""napari-promptseg: encode an image once, segment every click in milliseconds."""

from __future__ import annotations

from .auto import segment_all
from .backends import load_backend
from .backends.base import Backend, ImageEmbedding, Prediction
from .prompts import Prompts
from .errors import (
    CheckpointError,
    DownloadError,
    EmbeddingError,
    ImageError,
    PromptError,
    PromptsegError,
)
from .session.stack_tracker import StackTracker

__version__ = "0.1.0"

__all__ = [
    "load_backend",
    "segment_all",
    "Backend",
    "ImageEmbedding",
    "Prediction",
    "Prompts",
    "StackTracker",
    "PromptsegError",
    "ImageError",
    "PromptError",
    "EmbeddingError",
    "CheckpointError",
    "DownloadError",
    "__version__",
]
