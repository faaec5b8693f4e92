"""SI unit spellings as instrument files write them, shared by the header parsers.

One table of prefixes and base units serves NanoScope (``~m`` for micrometre, ``º``
for degrees, ``KHz``) and JPK (``m``, ``µm``, ``nm``...): :func:`si_factor` splits a
unit into a factor and its base, :func:`preferred` expresses a value in afmio's
vocabulary (lengths in nm, voltages in V, degrees) and :func:`nm_per_unit` says
whether a unit is a length and how many nanometres it is.
"""

from __future__ import annotations

__all__ = ["nm_per_unit", "preferred", "si_factor"]

_PREFIXES = {
    "y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9,
    "u": 1e-6, "~": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1,
    "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}
_BASES = {"m", "V", "A", "Hz", "s", "N", "Pa", "W", "F", "deg", "Ohm"}
_DEGREE_SPELLINGS = {"º", "°", "deg", "degree", "degrees"}
_TO_PREFERRED = {"m": (1e9, "nm"), "V": (1.0, "V"), "deg": (1.0, "deg")}


def si_factor(unit: str) -> tuple[float, str]:
    """Split a unit into ``(factor, base)`` so that ``1 unit == factor base``.

    NanoScope spells micro as ``~`` (``~m``) and degrees as ``º``; ``µ`` (micro sign)
    and ``μ`` (Greek mu) are both micro. Units that are not a known SI base with an
    optional prefix come back unchanged with factor 1.

    >>> si_factor("mV")
    (0.001, 'V')
    >>> si_factor("~m")
    (1e-06, 'm')
    >>> si_factor("º")
    (1.0, 'deg')
    """
    u = unit.strip()
    if u in _DEGREE_SPELLINGS:
        return 1.0, "deg"
    if u in _BASES:
        return 1.0, u
    if len(u) > 1 and u[0] in _PREFIXES and u[1:] in _BASES:
        return _PREFIXES[u[0]], u[1:]
    if u.lower() == "khz":  # NanoScope writes KHz as well as kHz
        return 1e3, "Hz"
    return 1.0, u


def preferred(value: float, unit: str) -> tuple[float, str]:
    """Express ``value unit`` in afmio's vocabulary: lengths in nm, voltages in V, degrees.

    Other units are returned as written.
    """
    factor, base = si_factor(unit)
    if base in _TO_PREFERRED:
        scale, name = _TO_PREFERRED[base]
        return value * factor * scale, name
    return value, unit.strip()


def nm_per_unit(unit: str) -> float | None:
    """Nanometres in one ``unit`` (``"um"`` -> 1000.0), or None when it is not a length."""
    factor, base = si_factor(unit)
    return factor * 1e9 if base == "m" else None
