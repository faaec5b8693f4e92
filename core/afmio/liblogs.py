"""Third-party library logging, captured during afmio calls and folded into afmio's report.

tifffile (and h5py, zarr, numcodecs, Pillow when they log) report damage they skip over
with log records; left alone these print raw to stderr (51 lines for one cut JPK frame)
before afmio's own clean error. :func:`captured_library_logs` holds those loggers for the
duration of one registry call: their records are collected instead of printed, then

* an :class:`~afmio.errors.AfmioError` raised by the call gets them appended to its
  message (``[tifffile: <first message>; 3 more]``) and as ``exc.library_log``;
* a call that succeeds emits one :class:`LibraryLogWarning` summarising them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from os import PathLike

from .errors import AfmioError

__all__ = ["LIBRARY_LOGGERS", "LibraryLogWarning", "captured_library_logs"]

#: Loggers of the libraries drivers call.
LIBRARY_LOGGERS = ("tifffile", "h5py", "zarr", "numcodecs", "PIL")


class LibraryLogWarning(UserWarning):
    """A library afmio used reported problems while the call still succeeded."""


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_depth = 0  # nested registry calls (probe falling back to load) capture once


def _summary(records: list[logging.LogRecord]) -> str:
    first = records[0]
    more = f"; {len(records) - 1} more" if len(records) > 1 else ""
    return f"{first.name.split('.')[0]}: {first.getMessage()}{more}"


@contextlib.contextmanager
def captured_library_logs(path: str | PathLike[str] | None = None) -> Iterator[list[logging.LogRecord]]:
    """Collect the library loggers' records for the duration of the block (see the module docstring)."""
    global _depth
    if _depth:
        yield []
        return
    collector = _Collector()
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(collector)
        logger.propagate = False
    _depth += 1
    try:
        yield collector.records
    except AfmioError as exc:
        if collector.records:
            exc.library_log = [r.getMessage() for r in collector.records]  # type: ignore[attr-defined]
            if len(exc.args) == 1 and isinstance(exc.args[0], str):
                exc.args = (f"{exc.args[0]} [{_summary(collector.records)}]",)
        raise
    else:
        if collector.records:
            where = f"{path}: " if path is not None else ""
            warnings.warn(f"{where}{_summary(collector.records)}", LibraryLogWarning, stacklevel=3)
    finally:
        _depth -= 1
        for logger, propagate in saved:
            logger.removeHandler(collector)
            logger.propagate = propagate
