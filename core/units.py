"""Sizes and durations in words for people: progress lines, estimates, dialogs (no torch, no Qt)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """Decimal units, as file managers show them: 950 bytes, 1.2 KB, 3.4 MB, 5.6 GB."""
    for unit in ("bytes", "KB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def human_duration(seconds: float | None) -> str:
    """45 s, 3 min 07 s, 2 h 05 min; "?" when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
