"""Output names for exports, following playNano's rules."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAX_LAYER_NAME", "export_stem", "is_safe_layer_name", "safe_layer_name", "sanitize_output_name"]

#: Longest processed-layer or mask name (characters) every writer can store as a member name.
MAX_LAYER_NAME = 128
# Characters a layer name may not hold: path separators, control characters, and what
# Windows, ZIP, HDF5 and zarr keys give a meaning to.
_LAYER_UNSAFE = set('/\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}


def is_safe_layer_name(name: object) -> bool:
    """True when ``name`` can be a member, group or array name in every format as it is.

    The rule (docs/conventions.md, "Layer names"): a non-empty string of at most
    :data:`MAX_LAYER_NAME` characters, not ``.`` or ``..``, not starting with ``.``,
    without ``/ \\ : * ? " < > |`` or control characters.
    """
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_LAYER_NAME
        and not name.startswith(".")
        and not any(ch in _LAYER_UNSAFE for ch in name)
    )


def safe_layer_name(name: str) -> str:
    """``name`` if safe, else the same name with each unsafe character percent-escaped.

    ``processed__../../evil`` read from a file becomes the layer ``%2E.%2F..%2Fevil``: every
    reader applies this once, so every writer can store what it receives as it is.
    A leading ``.`` is escaped too; an over-long name is cut and given a hash suffix.
    """
    if is_safe_layer_name(name):
        return name
    text = str(name)
    # '%' itself is escaped too, so an escaped name reads back unambiguously
    out = "".join(f"%{ord(ch):02X}" if ch in _LAYER_UNSAFE or ch == "%" else ch for ch in text)
    if out.startswith("."):
        out = "%2E" + out[1:]
    if not out:
        out = "%00"
    if len(out) > MAX_LAYER_NAME:
        import hashlib

        out = out[: MAX_LAYER_NAME - 9] + "~" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:8]
    return out

_BAD_CHARS = set('\\/:*?"<>|')


def sanitize_output_name(name: str | None, default: str) -> str:
    """Return a safe file stem: drops folders and the last extension.

    Raises
    ------
    ValueError
        The name contains one of ``\\ / : * ? " < > |`` after cleaning.
    """
    if not name or not str(name).strip():
        return default
    cleaned = Path(str(name).strip()).with_suffix("").name
    if any(ch in _BAD_CHARS for ch in cleaned):
        raise ValueError(f"Invalid characters in output name: {name!r}")
    return cleaned or default


def export_stem(base_name: str | None, file_path: object, *, filtered: bool) -> str:
    """The stem every exported file shares: ``<base>`` plus ``_filtered`` when processed."""
    default = Path(str(file_path)).stem if file_path else "playnano_export"
    stem = sanitize_output_name(base_name, default)
    return f"{stem}_filtered" if filtered else stem
