"""Exceptions raised for user-facing problems.

Every message says what went wrong *and* what to do about it; the GUI shows
them as notifications, the CLI prints them without a traceback.
"""

from __future__ import annotations


class PromptsegError(Exception):
    """Base class of every error this package raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and what to do, in the terms of the Python API.
    cli : str, optional
        The same in command-line terms (``--overwrite`` instead of
        ``overwrite=True``), where they differ; the ``promptseg`` commands
        print this one (:func:`cli_text`).
    """

    def __init__(self, message: str = "", *, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli


def cli_text(exc: BaseException) -> str:
    """How a command-line front end words ``exc``: its ``cli`` text when it has one."""
    return getattr(exc, "cli", None) or str(exc)


class ImageError(PromptsegError, ValueError):
    """The image cannot be segmented as given (shape, dtype, content)."""


class PromptError(PromptsegError, ValueError):
    """A prompt is malformed or lies outside the image."""


class EmbeddingError(PromptsegError, ValueError):
    """An embedding is missing or belongs to another backend or image."""


class CheckpointError(PromptsegError, RuntimeError):
    """A checkpoint is unknown, corrupt or does not match the architecture."""


class DownloadError(CheckpointError):
    """A checkpoint could not be downloaded (offline, firewall, bad hash)."""


class StoreError(PromptsegError, RuntimeError):
    """An embedding store is missing, incomplete, or cannot hold this backend's embeddings."""


class StoreMismatchError(StoreError, ValueError):
    """An embedding store was written for other image data, another model or other settings."""
