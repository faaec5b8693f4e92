"""Output names for exports, following playNano's rules."""

from __future__ import annotations

from pathlib import Path

__all__ = ["export_stem", "sanitize_output_name"]

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
