"""argparse types that check a command-line value's range, so a bad value is a usage error
(``symcorr validate: error: argument --alpha: ...``, exit 2) instead of a traceback or a silently
meaningless run.

Plain Python (no symcorr imports): every subcommand's parser, in any layer, may use them, e.g.
``parser.add_argument("--samples", type=positive_int)``,
``parser.add_argument("--alpha", type=open_unit_interval)``,
``parser.add_argument("--hidden", type=width_list)``.
"""
from __future__ import annotations

import argparse
import math


def _integer(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (sample counts, widths, epochs, thread counts)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (>= 1)")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds: NumPy and torch generators take no negative seed)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative (must be >= 0)")
    return value


def finite_float(text: str) -> float:
    """A finite number (``nan`` and ``inf`` refused)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (widths, scales)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive (must be > 0)")
    return value


def open_unit_interval(text: str) -> float:
    """A probability strictly between 0 and 1 (error rates: 0 makes a bound infinite, 1 meaningless)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not strictly between 0 and 1")
    return value


def width_list(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``128,64`` (hidden layer widths)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of widths, e.g. 128,64")
    return tuple(positive_int(p) for p in parts)


__all__ = ["positive_int", "nonnegative_int", "finite_float", "positive_float", "open_unit_interval", "width_list"]
