"""Interactive annotation state, without Qt or napari.

The current object's prompts and live prediction, an embedding cache per
(image, slice, backend), commits into an objects array that never overwrite
existing objects unless asked, object-level undo/redo, and JSON export of the
prompts of every committed object.
"""

from .annotations import AnnotationFile, load_annotations, replay_iter, save_annotations, to_json
from .cache import EmbeddingCache
from .history import CommittedObject, Draft, LabelEdit, Step
from .image_stack import ImageStack, SliceKey
from .session import AnnotationSession, EncodeProgress
from .stack_tracker import StackTracker

__all__ = [
    "AnnotationFile",
    "AnnotationSession",
    "CommittedObject",
    "Draft",
    "EmbeddingCache",
    "EncodeProgress",
    "ImageStack",
    "LabelEdit",
    "SliceKey",
    "StackTracker",
    "Step",
    "load_annotations",
    "replay_iter",
    "save_annotations",
    "to_json",
]
