"""argparse ``type=`` helpers that refuse out-of-range numbers with a message naming the range.

argparse turns the ``ArgumentTypeError`` these raise into ``critic CMD: error: argument --x: ...``
and exit status 2, before any model is loaded or request sent.

>>> positive_float("0.5"), non_negative_float("0"), probability("1"), positive_int("3"), non_negative_int("0")
(0.5, 0.0, 1.0, 3, 0)
>>> positive_float("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a number above 0, got '0'
>>> probability("5")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a number in (0, 1], got '5'
>>> non_negative_float("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a finite number of at least 0, got 'nan'
"""

from __future__ import annotations

import argparse
import math


def _float(text: str, ok, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and ok(x)):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return x


def _int(text: str, low: int) -> int:
    try:
        n = int(text)
    except ValueError:
        n = low - 1
    if n < low:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least {low}, got {text!r}")
    return n


def positive_float(text: str) -> float:
    """A finite number above 0 (timeouts, delays)."""
    return _float(text, lambda x: x > 0, "a number above 0")


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (temperature)."""
    return _float(text, lambda x: x >= 0, "a finite number of at least 0")


def probability(text: str) -> float:
    """A number in (0, 1] (top-p)."""
    return _float(text, lambda x: 0 < x <= 1, "a number in (0, 1]")


def positive_int(text: str) -> int:
    """A whole number of at least 1 (token limits, batch sizes, concurrency)."""
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (retries)."""
    return _int(text, 0)


__all__ = ["non_negative_float", "non_negative_int", "positive_float", "positive_int", "probability"]
