"""The afmio error family.

Every error afmio raises on purpose is an :class:`AfmioError`. Each also subclasses
the built-in exception a caller would naturally catch (``ValueError`` for bad
content, ``KeyError`` for a missing channel, ``FileNotFoundError`` for a missing
path...), so code written against plain Python exceptions keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike

__all__ = [
    "AfmioError",
    "ChannelNotFoundError",
    "CorruptFileError",
    "MissingDependencyError",
    "OverwriteError",
    "PathNotFoundError",
    "PluginError",
    "ReadError",
    "ResourceError",
    "TruncatedFileError",
    "UnsupportedFormatError",
    "WriteError",
]


class AfmioError(Exception):
    """Base class of every error afmio raises deliberately."""


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


class CorruptFileError(AfmioError, ValueError):
    """The file exists and was recognised, but its content is wrong.

    Attributes
    ----------
    path : str
        The offending file.
    detail : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | PathLike[str], detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")


class ResourceError(AfmioError, MemoryError):
    """Reading would need more memory than is available (the file itself may be fine).

    The message names the size and how to read the file lazily instead.
    """

    def __init__(self, path: str | PathLike[str], detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")

    def __str__(self) -> str:
        return str(self.args[0])


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


class PathNotFoundError(AfmioError, FileNotFoundError):
    """The input path does not exist."""

    def __init__(self, path: str | PathLike[str], detail: str = "no such file or folder") -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {detail}")
        self.filename = self.path

    def __str__(self) -> str:
        return str(self.args[0])


class OverwriteError(AfmioError, FileExistsError):
    """The output exists and ``overwrite=True`` was not given."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        super().__init__(f"{self.path} already exists; pass overwrite=True (--overwrite) to replace it")
        self.filename = self.path

    def __str__(self) -> str:
        return str(self.args[0])


class ReadError(AfmioError, OSError):
    """The operating system refused to read the input (permissions, I/O error)."""

    def __init__(self, path: str | PathLike[str], detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")

    def __str__(self) -> str:
        return str(self.args[0])


class WriteError(AfmioError, OSError):
    """Writing the output failed; the previous file, if any, is left untouched."""

    def __init__(self, path: str | PathLike[str], detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")

    def __str__(self) -> str:
        return str(self.args[0])


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
