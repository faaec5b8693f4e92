"""Choosing a channel by name: case-insensitive, with the ``height`` alias.

Drivers call :func:`select_channel` with the names their file offers so every
format answers ``channel=`` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

from .errors import ChannelNotFoundError

__all__ = ["DEFAULT_CHANNEL_ORDER", "default_channel", "select_channel"]

#: The height-like trace channels, best first. ``channel=None`` picks the first present.
DEFAULT_CHANNEL_ORDER = ("TP", "height_trace", "Height Sensor", "Height")

HEIGHT_ALIAS = "height"


def default_channel(available: Sequence[str], order: Sequence[str] = DEFAULT_CHANNEL_ORDER) -> str | None:
    """Return the file's default channel: the first of ``order`` present, else the first."""
    lowered = {name.lower(): name for name in reversed(available)}
    for wanted in order:
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
    return available[0] if available else None


def select_channel(
    path: str | PathLike[str],
    available: Sequence[str],
    requested: str | None,
    *,
    aliases: Mapping[str, str] | None = None,
    order: Sequence[str] = DEFAULT_CHANNEL_ORDER,
) -> str:
    """Return the channel of ``available`` that ``requested`` names.

    Parameters
    ----------
    path : path-like
        The file, for the error message.
    available : sequence of str
        Channel names as the file spells them.
    requested : str or None
        None or ``"height"`` mean the default channel; other names match without
        regard to case.
    aliases : mapping, optional
        Extra names (lower case) mapped to a name in ``available``.
    order : sequence of str
        Default-channel preference.

    Raises
    ------
    ChannelNotFoundError
        Nothing matches; the error lists the available channels.
    """
    if not available:
        raise ChannelNotFoundError(path, requested or "(default)", [])
    if requested is None or requested.strip().lower() == HEIGHT_ALIAS:
        chosen = default_channel(available, order)
        assert chosen is not None
        if requested is None or chosen.lower() in {o.lower() for o in order}:
            return chosen
        raise ChannelNotFoundError(path, requested, available)
    wanted = requested.strip().lower()
    for name in available:
        if name.lower() == wanted:
            return name
    if aliases:
        target = {k.lower(): v for k, v in aliases.items()}.get(wanted)
        if target is not None and target in available:
            return target
    raise ChannelNotFoundError(path, requested, available)
