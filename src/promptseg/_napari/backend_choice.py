"""The backends offered in the widget, and loading one off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass

from ..backends import BUILTIN_BACKENDS
from ..model.registry import model_table

#: Offered first (and chosen by default) when installed.
PREFERRED = "classic"


@dataclass(frozen=True)
class BackendChoice:
    """One entry of the backend menu."""

    key: str  # what load_backend() takes
    label: str  # what the user reads
    needs_download: bool = False


def backend_choices() -> list[BackendChoice]:
    """``classic`` first, the other built-ins, then every registry model marked cached or to download with its size."""
    builtins = sorted(BUILTIN_BACKENDS, key=lambda name: (name != PREFERRED, name))
    choices = [BackendChoice(name, f"{name} (built-in)") for name in builtins]
    for row in model_table():
        cached = row["cached"] == "yes"
        state = "cached" if cached else f"download {row['size']}"
        choices.append(BackendChoice(row["name"], f"{row['name']} ({row['architecture']}, {state})", not cached))
    return choices


def default_choice(choices: list[BackendChoice]) -> BackendChoice | None:
    """``classic`` when available, else the first cached model, else the first built-in."""
    for choice in choices:
        if choice.key == PREFERRED:
            return choice
    for choice in choices:
        if choice.key not in BUILTIN_BACKENDS and not choice.needs_download:
            return choice
    return choices[0] if choices else None
