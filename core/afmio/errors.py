"""The afmio error family.

Every error afmio raises on purpose is an :class:`AfmioError`. Each also subclasses
the built-in exception a caller would naturally catch (``ValueError`` for bad
content, ``KeyError`` for a missing channel, ``FileNotFoundError`` for a missing
path...), so code written against plain Python exceptions keeps working.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from types import TracebackType
from typing import Any, TypeVar

__all__ = [
    "AfmioError",
    "ChannelNotFoundError",
    "CorruptFileError",
    "MissingDependencyError",
    "OptionError",
    "OverwriteError",
    "PathNotFoundError",
    "PluginError",
    "ReadError",
    "ResourceError",
    "TruncatedFileError",
    "UnknownOptionError",
    "UnsupportedFormatError",
    "WriteError",
    "reading",
]


class AfmioError(Exception):
    """Base class of every error afmio raises deliberately."""


class _PathError(AfmioError):
    """An error about one path, shown as ``path: detail``."""

    def __init__(self, path: str | PathLike[str], detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")

    def __str__(self) -> str:  # OSError and KeyError would format their own way
        return str(self.args[0])


class UnsupportedFormatError(AfmioError, ValueError):
    """No driver accepts the path (or the requested format does not exist).

    Attributes
    ----------
    path : str or None
        The path that could not be matched.
    candidates : list of (str, str)
        Every driver that was considered and why it declined.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        candidates: Sequence[tuple[str, str]] = (),
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.candidates = list(candidates)
        self.hint = hint
        lines = [message]
        for name, why in self.candidates:
            lines.append(f"  - {name}: {why}")
        if hint:
            lines.append(f"hint: {hint}")
        super().__init__("\n".join(lines))


class CorruptFileError(_PathError, ValueError):
    """The file exists and was recognised, but its content is wrong.

    Attributes
    ----------
    path : str
        The offending file.
    detail : str
        What is wrong with it, in words.
    """


class TruncatedFileError(CorruptFileError):
    """The file ends before the data its header promises."""


class ChannelNotFoundError(AfmioError, KeyError):
    """The requested channel is not in the file.

    Attributes
    ----------
    available : list of str
        The channels the file does have, spelt as the file spells them.
    """

    def __init__(
        self, path: str | PathLike[str], channel: str, available: Iterable[str]
    ) -> None:
        self.path = str(path)
        self.channel = channel
        self.available = list(available)
        listed = ", ".join(self.available) or "(none)"
        super().__init__(f"{self.path}: no channel {channel!r}; available: {listed}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PathNotFoundError(_PathError, FileNotFoundError):
    """The input path does not exist."""

    def __init__(self, path: str | PathLike[str], detail: str = "no such file or folder") -> None:
        super().__init__(path, detail)
        self.filename = self.path


class OverwriteError(AfmioError, FileExistsError):
    """The output exists and ``overwrite=True`` was not given."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        super().__init__(f"{self.path} already exists; pass overwrite=True (--overwrite) to replace it")
        self.filename = self.path

    def __str__(self) -> str:
        return str(self.args[0])


class ReadError(_PathError, OSError):
    """The operating system refused to read the input (permissions, I/O error)."""


class WriteError(_PathError, OSError):
    """Writing the output failed; the previous file, if any, is left untouched."""


class MissingDependencyError(AfmioError, ImportError):
    """An optional dependency needed for this format is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional package {package!r}; "
            f"install it with: pip install 'afmio[{extra}]'"
        )


class PluginError(AfmioError):
    """A plugin failed to load or declared something invalid."""

    def __init__(self, plugin: str, detail: str) -> None:
        self.plugin = plugin
        self.detail = detail
        super().__init__(f"plugin {plugin!r}: {detail}")


class OptionError(AfmioError, ValueError):
    """A reader or writer option has a value the driver cannot use, or asks for the impossible.

    Drivers raise it for a bad option value (``compression="zip"``) or a stack the
    chosen output cannot hold (an empty stack for a picture), so the caller sees an
    afmio error about the call, not a driver failure.
    """


class UnknownOptionError(OptionError, TypeError):
    """A driver was given an option it does not take.

    Attributes
    ----------
    driver, role, option : str
        Who was called, for what, and the option it refused.
    options : list of str
        The options that driver's function does take.
    """

    def __init__(self, driver: str, role: str, option: str, options: Iterable[str]) -> None:
        self.driver, self.role, self.option = driver, role, option
        self.options = list(options)
        super().__init__(
            f"driver {driver!r} {role} has no option {option!r}; "
            f"its options: {', '.join(self.options) or '(none)'}"
        )


class ResourceError(_PathError, MemoryError):
    """Reading or writing would need more memory than is available (the file itself may be fine).

    The message names the size and how to read the file lazily instead.
    """


#: What a format library raises on bytes it cannot make sense of. OS errors are not
#: here on purpose: a missing or unreadable file is not a damaged one.
DATA_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # includes UnicodeDecodeError, json.JSONDecodeError
    LookupError,  # KeyError, IndexError
    ArithmeticError,  # OverflowError, ZeroDivisionError from sizes read off the file
    struct.error,
    zlib.error,
    EOFError,
)

#: Operating-system errors that always pass through :class:`reading` unchanged.
_OS_PASS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)

_F = TypeVar("_F", bound=Callable[..., Any])


class reading:
    """Report what a format library raises on a damaged file as :class:`CorruptFileError`.

    Inside the block, an exception of :data:`DATA_ERRORS` (``ValueError``,
    ``KeyError``, ``IndexError``, ``struct.error``, ``zlib.error``, ``EOFError``...) or
    of ``also`` becomes a :class:`CorruptFileError` naming ``path`` and ``what`` was
    being read, chained to the original. An :class:`AfmioError` passes untouched, and so
    do operating-system errors (the registry turns those into
    :class:`PathNotFoundError` or :class:`ReadError`) and anything else (a bug in the
    driver, which the registry reports as one).

    Parameters
    ----------
    path : str or path-like
        The file being read.
    what : str
        What was being read, in words (``"the frame index"``, ``"the HDF5 bundle"``).
    also : tuple of exception types
        The format library's own exception types (``tifffile.TiffFileError``,
        ``zipfile.BadZipFile``, h5py's ``RuntimeError``).

    Examples
    --------
    >>> import struct
    >>> from afmio.errors import CorruptFileError, reading
    >>> try:
    ...     with reading("movie.xyz", "the frame index"):
    ...         struct.unpack("<I", b"\\x00")
    ... except CorruptFileError as exc:
    ...     print(exc)
    movie.xyz: cannot read the frame index (error: unpack requires a buffer of 4 bytes)

    As a decorator, :meth:`wrap` takes the path from the function's first argument:

    >>> @reading.wrap("the header")
    ... def read_header(path):
    ...     return {}["version"]
    >>> try:
    ...     read_header("movie.xyz")
    ... except CorruptFileError as exc:
    ...     print(exc)
    movie.xyz: cannot read the header (KeyError: 'version')
    """

    def __init__(
        self, path: str | PathLike[str], what: str, *, also: tuple[type[BaseException], ...] = ()
    ) -> None:
        self.path = path
        self.what = what
        self.also = also

    def __enter__(self) -> reading:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, (AfmioError, MemoryError, *_OS_PASS)):
            return
        if (isinstance(exc, DATA_ERRORS) and not isinstance(exc, OSError)) or isinstance(exc, self.also):
            raise CorruptFileError(self.path, f"cannot read {self.what} ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def wrap(cls, what: str, *, also: tuple[type[BaseException], ...] = ()) -> Callable[[_F], _F]:
        """A decorator running the whole function inside ``reading(path, what)``.

        ``path`` is the function's first positional argument.
        """

        def decorate(fn: _F) -> _F:
            @functools.wraps(fn)
            def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
                with cls(path, what, also=also):
                    return fn(path, *args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate
