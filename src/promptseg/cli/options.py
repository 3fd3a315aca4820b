"""Argument types shared by the sub-commands (argparse ``type=`` functions)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1, else an argparse error that says so."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1], else an argparse error that says so."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value
