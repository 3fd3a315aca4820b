"""Error text for the annotator's one status line: one short line, the details kept for a tooltip and the log.

Errors from deep inside a library can be long (a torch unpickling error is
eighteen lines) and may carry advice that is wrong for a user of this plugin
(torch suggests ``weights_only=False``, which runs arbitrary code from the
file).  :func:`error_line` makes the line shown in the dock: the first line
of the message, absolute paths shortened to their file name, cut at a
sentence end when long; :func:`error_details` is the whole message without
the unsafe advice, for the tooltip and the log.  :func:`slice_status` is
what the line says when nothing went wrong; :class:`StatusLine` shows
both in the annotator.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QLabel

from ..store.codec import unwrap

if TYPE_CHECKING:
    from ..backends import Backend
    from .widget_session import WidgetSession

logger = logging.getLogger("promptseg")

#: Longest status line (characters) before the message is cut at a sentence end.
MAX_LINE = 280

#: Sentences never shown: advice to unpickle untrusted code, or to report the problem to another project.
_UNSAFE_ADVICE = re.compile(r"weights_only\W*(set to|=)\W*False|file an issue|safe_globals", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\](?:[^\s/\\:;,'\"()]+[/\\])+([^\s/\\:;,'\"()]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LONG_LIST = re.compile(r"\[[^\[\]]{40,}\]")


def error_details(exc: BaseException) -> str:
    """The full text of ``exc`` (its type when it has none), without unsafe advice."""
    text = _ANSI.sub("", str(exc)).strip() or type(exc).__name__
    lines = []
    for line in text.splitlines():
        kept = " ".join(s for s in _SENTENCE_END.split(line.strip()) if s and not _UNSAFE_ADVICE.search(s))
        if kept:
            lines.append(kept)
    return "\n".join(lines) or type(exc).__name__


def error_line(exc: BaseException) -> str:
    """One line for the status: what is wrong and, where the message says it, what to do.

    The message's first line, with absolute paths shortened to file names
    and long lists in brackets elided; when still long, its first and last
    sentences (messages end with what to do), else its first sentence.
    """
    lines = [line.strip() for line in error_details(exc).splitlines() if line.strip()]
    line = _ABSOLUTE_PATH.sub(r"\1", lines[0] if lines else type(exc).__name__)
    line = _LONG_LIST.sub("[…]", line)
    if len(line) <= MAX_LINE:
        return line
    sentences = _SENTENCE_END.split(line)
    both = f"{sentences[0]} … {sentences[-1]}"
    if len(sentences) > 1 and len(both) <= MAX_LINE:
        return both
    first = sentences[0]
    return first if len(first) <= MAX_LINE else first[: MAX_LINE - 1].rstrip() + "…"


def slice_status(session: WidgetSession | None, key: tuple[int, ...] | None, *, backend: Backend | None,
                 loading: str | None, failure: BaseException | None, corrects: int | None = None) -> str:
    """The annotator's status line: what is true now for ``session`` showing slice ``key``.

    Parameters
    ----------
    session : WidgetSession or None
        The current image's session (None: no image).
    key : tuple of int or None
        The displayed slice (None: no 2D slice displayed).
    backend : Backend or None
        The model loaded (None: none yet).
    loading : str or None
        The model being loaded, if any.
    failure : Exception or None
        Why the displayed slice could not be encoded, if it could not.
    corrects : int or None
        The committed object a panel will correct with the current object
        (the propagation panel's *Object*), if any: the line names it, and
        the new id a commit (C) would give instead.
    """
    if backend is None or session is None:
        if loading is not None:
            return f"Loading {loading}… (a model not cached yet is downloaded once)"
        if backend is None:
            return "No model loaded: pick one in the Model menu."
        return f"{backend.name} is ready: open an image (File > Open) or pick one in the Image menu."
    text = _slice_text(session, key, failure, backend, corrects)
    return text if loading is None else f"{text} (Loading {loading}…)"


def _slice_text(session: WidgetSession, key: tuple[int, ...] | None, failure: BaseException | None,
               backend: Backend, corrects: int | None) -> str:
    if key is None:
        return "Prompts work on 2D slices: switch the viewer to 2D (last two axes displayed)."
    pred = session.prediction
    if pred is None and session.predicting:
        seconds = session.times.estimate(session.backend)
        return f"Predicting… ({session.backend.name} takes about {seconds:.1f} s; the viewer stays usable)"
    if pred is not None and corrects is not None and 0 < corrects < session.next_label:
        return (f"Correction of object {corrects}: {pred.area} px{_score(backend, pred.score)}. Propagate applies it "
                f"(C commits it as new object {session.next_label}).")
    if pred is not None:
        return f"Object {session.next_label}: {pred.area} px{_score(backend, pred.score)}. C commits it."
    if failure is not None:
        return f"This slice cannot be segmented: {error_line(failure)}"
    if session.embedding(key) is None:
        if session.waiting_for is not None:
            return "Encoding this slice… your prompts are answered as soon as it is ready."
        return "Encoding this slice…"
    return f"Ready ({session.backend.name}). Click on an object."


def _score(backend: Backend, score: float) -> str:
    """", score 0.93" when the backend's score estimates the mask's quality (SAM's predicted IoU), else nothing."""
    return f", score {score:.2f}" if getattr(unwrap(backend), "score_is_quality", False) else ""


class StatusLine:
    """The annotator's status line (a label in the dock): what is true now, or what went wrong.

    Parameters
    ----------
    label : QLabel
        Shows one line; its tooltip the details.
    """

    def __init__(self, label: QLabel) -> None:
        self.label = label

    def report_error(self, exc: Exception, *, status: str | None = None) -> None:
        """Tell the user about ``exc``: one line in the status and a notification, the details in the tooltip and log.

        ``status`` replaces the line shown (default: the error's first line).
        """
        line, details = error_line(exc), error_details(exc)
        if isinstance(exc, MemoryError) or "out of memory" in details.lower():
            line = "out of memory: pick a smaller model (e.g. classic or vit_t), crop the image or close other programs."
        logger.warning("PromptSeg: %s", details)
        show_error(f"PromptSeg: {line} Committed objects are kept.")
        self.show(status or f"Error: {line}", details=details)

    def describe(self, session: WidgetSession | None, key: tuple[int, ...] | None, *, backend: Backend | None,
                 loading: str | None, failure: BaseException | None, corrects: int | None = None) -> None:
        """Make the line say what is true now (arguments as for :func:`slice_status`)."""
        text = slice_status(session, key, backend=backend, loading=loading, failure=failure, corrects=corrects)
        self.show(text, details="" if failure is None else error_details(failure))

    def show(self, text: str, *, details: str = "") -> None:
        """Show ``text`` in the status line; ``details`` (default none) in its tooltip."""
        self.label.setText(text)
        self.label.setToolTip(details)
