"""Inkwell's log: warnings and errors, in ``inkwell.log`` in the log folder (core.paths.log_dir()).

What goes in: a model that cannot be loaded or fails while generating, a child process (export,
download, fine-tune) that failed or crashed, and an install or download that failed on the
command line. The file rotates (RotatingFileHandler: a few files of LOG_BYTES each), so it never
grows without bound. Writing the log must never stop Inkwell: a log folder that cannot be
created or a file that cannot be written (read-only, disk full) leaves the log off, silently.

``setup()`` attaches the handler to the ``inkwell`` logger (again when the log folder moved,
which only tests do); ``logger()`` is where the app writes.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOGGER = "inkwell"
LOG_BYTES = 1_000_000
BACKUPS = 3


class _Handler(RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        pass  # a log that cannot be written is no reason for a traceback on stderr, nor a failure


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER)


def setup() -> Path | None:
    """Log warnings and errors to the log folder; the log file, or None when it cannot be opened."""
    log = logger()
    try:
        from core import paths

        path = paths.log_file()
    except Exception:  # noqa: BLE001 - no log folder (read-only home, odd platform): no log
        return None
    for handler in list(log.handlers):
        if isinstance(handler, _Handler):
            if Path(handler.baseFilename) == path.absolute():
                return path
            log.removeHandler(handler)
            handler.close()
    try:
        handler = _Handler(path, maxBytes=LOG_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except Exception:  # noqa: BLE001 - unwritable file or folder: no log
        return None
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.WARNING:
        log.setLevel(logging.WARNING)
    return path


def warning(message: str, *args: object) -> None:
    logger().warning(message, *args)


def error(message: str, *args: object, exc_info: bool = False) -> None:
    logger().error(message, *args, exc_info=exc_info)
