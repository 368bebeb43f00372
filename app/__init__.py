"""Inkwell, the desktop writing assistant. The version lives here only (pyproject.toml reads it)."""

__version__ = "0.1.0"
