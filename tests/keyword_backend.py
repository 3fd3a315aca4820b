"""A base for test fakes written against the short form's keywords."""

from __future__ import annotations

from promptseg.backends.base import PromptBackend


class KeywordBackend(PromptBackend):
    """``answer`` hands the checked prompts to ``respond(embedding, points=, labels=, box=, mask=, previous=)``.

    Only the prompts that are present are passed (as arrays), as a script
    using the short form would give them.
    """

    def answer(self, embedding, prompts, previous):
        keywords = {}
        if len(prompts.points):
            keywords["points"], keywords["labels"] = prompts.points, prompts.labels
        if prompts.box is not None:
            keywords["box"] = prompts.box
        if prompts.mask is not None:
            keywords["mask"] = prompts.mask
        return self.respond(embedding, previous=previous, **keywords)

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        raise NotImplementedError
