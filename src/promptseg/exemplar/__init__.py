"""Find similar: one finished object proposes all the others of its kind.

>>> model = describe_exemplars(embedding, [exemplar_mask])  # doctest: +SKIP
>>> proposals = run(find_similar(backend, embedding, [exemplar_mask]))  # doctest: +SKIP

Candidate places come from the embedding (superpixel appearance for the
classic backend, encoder-feature similarity for SAM-family backends); the
backend is prompted at each, duplicates and known objects are dropped and
the rest ranked by a confidence score.  No Qt here; the napari panel is
:mod:`promptseg._napari.find_similar`, the command ``promptseg find-similar``.
"""

from .accept import accept_proposals, proposals_to_labels
from .learned import ExemplarModel, describe_exemplars
from .proposal import FindProgress, Proposal
from .search import find_similar, find_similar_stack
from .shape import ExemplarShape

__all__ = [
    "ExemplarModel",
    "ExemplarShape",
    "FindProgress",
    "Proposal",
    "accept_proposals",
    "describe_exemplars",
    "find_similar",
    "find_similar_stack",
    "proposals_to_labels",
]
