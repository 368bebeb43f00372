"""One way to check a value that a person, a command line or a file gave: each check names the
setting, says what it must be and what it got, and raises ValueError; callers that speak of their
own errors (a training job, the settings file) wrap the message.

    whole("top_k", value, low=0)                     -> "top_k must be at least 0 (got -1)"
    number("top_p", value, low=0, high=1, above=True) -> "top_p must be above 0 and at most 1 (got 0)"
    choice("device", value, ("auto", "cpu", "cuda"))  -> "device must be one of auto, cpu, cuda (got 'tpu')"
    text("geometry", value, 65536)                    -> "geometry must be at most 65,536 characters long (got 70,000)"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: a bad value may be a megabyte of text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def whole(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` when it is an int (not a bool) within ``low``..``high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number (got {shown(value)})")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            bound = f"between {low} and {high}"
        else:
            bound = f"at least {low}" if low is not None else f"at most {high}"
        raise ValueError(f"{name} must be {bound} (got {_number(value)})")
    return value


def number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
           above: bool = False, below: bool = False) -> float:
    """``value`` as a float when it is a finite number (an int or float, not a bool) within the
    bounds; ``above``/``below`` leave ``low``/``high`` themselves out."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a finite number (got {shown(value)})")
    try:
        as_float = float(value)
    except OverflowError:  # an int of hundreds of digits
        as_float = math.inf
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number (got {_number(value)})")
    too_low = low is not None and (as_float <= low if above else as_float < low)
    too_high = high is not None and (as_float >= high if below else as_float > high)
    if too_low or too_high:
        parts = []
        if low is not None:
            parts.append(f"{'above' if above else 'at least'} {low:g}")
        if high is not None:
            parts.append(f"{'below' if below else 'at most'} {high:g}")
        raise ValueError(f"{name} must be {' and '.join(parts)} (got {_number(value)})")
    return as_float


def choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices``."""
    if isinstance(value, bool) or value not in choices:
        names = [str(c) for c in choices]
        allowed = " or ".join(names) if len(names) <= 2 else "one of " + ", ".join(names)
        raise ValueError(f"{name} must be {allowed} (got {shown(value)})")
    return value


def flag(name: str, value: Any) -> bool:
    """``value`` when it is true or false."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false (got {shown(value)})")
    return value


def texts(name: str, value: Any) -> list[str]:
    """``value`` as a list when it is a list (or tuple) of non-empty strings."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) and s for s in value):
        raise ValueError(f"{name} must be a list of non-empty strings (got {shown(value)})")
    return list(value)


def text(name: str, value: Any, longest: int) -> str:
    """``value`` when it is a string of at most ``longest`` characters."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text (got {shown(value)})")
    if len(value) > longest:
        raise ValueError(f"{name} must be at most {longest:,} characters long (got {len(value):,})")
    return value


def entries(name: str, value: Any, most: int, longest_name: int) -> dict[str, Any]:
    """``value`` when it is an object of at most ``most`` entries, each named by a string of at
    most ``longest_name`` characters."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object (got {shown(value)})")
    if len(value) > most:
        raise ValueError(f"{name} must have at most {most} entries (got {len(value):,})")
    if not all(isinstance(k, str) and len(k) <= longest_name for k in value):
        bad = next(k for k in value if not isinstance(k, str) or len(k) > longest_name)
        raise ValueError(f"{name} must name every entry with text of at most {longest_name} characters "
                         f"(got {shown(bad)})")
    return value


def _number(value: float | int) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**16:
        return f"a {len(str(abs(value)))}-digit number"
    return f"{value:g}" if isinstance(value, float) else str(value)
