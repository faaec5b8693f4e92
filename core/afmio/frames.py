"""Frame sources: what backs a lazy stack.

A frame source is anything with ``shape``, ``dtype``, ``read_frame(i)``,
``read_frames(start, stop)`` and ``close()``. Drivers that read lazily return an
:class:`~afmio.AFMImageStack` built on one; the stack reads only the frames it is
asked for. :class:`ArrayFrameSource` wraps an in-memory array and
:class:`SlicedFrameSource` gives a view of a range of another source.

A driver opens its file, reads the header with :func:`close_on_error` guarding the
handle, and hands the source to :meth:`afmio.AFMImageStack.from_source`, which owns
it from then on (closed on error, closed after an eager read, closed with the stack).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import OptionError

__all__ = [
    "FLOAT_DTYPES",
    "ArrayFrameSource",
    "CastFrameSource",
    "FrameSource",
    "SlicedFrameSource",
    "cast_frames",
    "close_on_error",
    "float_dtype",
]

#: The element types a reader's ``dtype=`` option may ask for.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype=`` as a numpy dtype, float32 or float64, or :class:`~afmio.OptionError`."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise OptionError(f"dtype must be float32 or float64, not {dtype!r}")
    return dt


@runtime_checkable
class FrameSource(Protocol):
    """Read frames of a (n_frames, height, width) stack on demand."""

    @property
    def shape(self) -> tuple[int, int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def read_frame(self, index: int) -> np.ndarray:
        """Return frame ``index`` (0 <= index < n_frames) as a new 2-D array."""
        ...

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Return frames ``start:stop`` as a new 3-D array."""
        ...

    def close(self) -> None:
        """Release the file; later reads may fail."""
        ...


class FrameSourceBase:
    """Plumbing most file-backed sources share.

    A subclass sets ``self._shape`` (and ``self._dtype`` when not float32) and implements
    :meth:`read_frames`; ``shape``, ``dtype`` and a bounds-checked :meth:`read_frame`
    come from here.
    """

    _shape: tuple[int, int, int]
    _dtype: np.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self._shape[0]:
            raise IndexError(f"frame {index} out of range for {self._shape[0]} frames")
        return self.read_frames(index, index + 1)[0]

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ArrayFrameSource:
    """A frame source over an array already in memory."""

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 3:
            raise ValueError(f"a frame source needs a 3-D array, got shape {array.shape}")
        self._array = array

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self._array.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    def read_frame(self, index: int) -> np.ndarray:
        return np.array(self._array[index])

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        return np.array(self._array[start:stop])

    def close(self) -> None:
        pass


class SlicedFrameSource:
    """A contiguous range ``[start, stop)`` of another source, sharing its file."""

    def __init__(self, base: FrameSource, start: int, stop: int) -> None:
        n = base.shape[0]
        start, stop, _ = slice(start, stop).indices(n)
        self._base = base
        self._start = start
        self._stop = max(start, stop)

    @property
    def shape(self) -> tuple[int, int, int]:
        _, h, w = self._base.shape
        return (self._stop - self._start, h, w)

    @property
    def dtype(self) -> np.dtype:
        return self._base.dtype

    def read_frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self._stop - self._start:
            raise IndexError(f"frame {index} out of range for {self.shape[0]} frames")
        return self._base.read_frame(self._start + index)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        start, stop, _ = slice(start, stop).indices(self.shape[0])
        return self._base.read_frames(self._start + start, self._start + max(start, stop))

    def close(self) -> None:
        # The base owns the file; the parent stack closes it.
        pass


class CastFrameSource:
    """Another source's frames converted to ``dtype`` as they are read; closing closes the base."""

    def __init__(self, base: FrameSource, dtype: Any) -> None:
        self._base = base
        self._dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._base.shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def read_frame(self, index: int) -> np.ndarray:
        return self._base.read_frame(index).astype(self._dtype, copy=False)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        return self._base.read_frames(start, stop).astype(self._dtype, copy=False)

    def close(self) -> None:
        self._base.close()


def cast_frames(data: np.ndarray | FrameSource, dtype: Any) -> np.ndarray | FrameSource:
    """``data`` with elements of ``dtype``: an array cast now, a source cast as frames are read."""
    wanted = np.dtype(dtype)
    if isinstance(data, np.ndarray):
        return data.astype(wanted, copy=False)
    return data if np.dtype(data.dtype) == wanted else CastFrameSource(data, wanted)


@contextmanager
def close_on_error(resource: Any) -> Iterator[Any]:
    """Close ``resource`` (an open file, store or frame source) if the block raises.

    For the part of a driver's ``read`` before :meth:`afmio.AFMImageStack.from_source`
    takes the source over: parsing the header while the file is open. Objects without
    a ``close`` method (arrays, None) are left alone; ``close`` must tolerate being
    called twice, as every frame source's does. An error from ``close`` itself is
    dropped, so the block's own error is the one reported.

    Examples
    --------
    >>> import io
    >>> from afmio.frames import close_on_error
    >>> handle = io.BytesIO(b"AFM")
    >>> try:
    ...     with close_on_error(handle):
    ...         raise ValueError("bad header")
    ... except ValueError:
    ...     pass
    >>> handle.closed
    True
    """
    try:
        yield resource
    except BaseException:
        close = getattr(resource, "close", None)
        if close is not None:
            with suppress(Exception):  # a failing close must not hide why we are closing
                close()
        raise
