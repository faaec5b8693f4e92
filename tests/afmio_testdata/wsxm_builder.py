"""Build small WSxM image files (``.stp`` / ``.top``) byte by byte, for tests.

Layout (as WSxM writes it, CRLF lines, latin-1): ``WSxM file copyright UAM`` /
``SxM Image file`` / ``Image header size: N`` / sections ``[Name]`` of
``    Key: value`` lines / ``[Header end]``, then the raw little-endian image in
storage order, starting at byte N.

Example::

    from afmio_testdata.wsxm_builder import write_wsxm

    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    write_wsxm(tmp_path / "f.top", raw, z_amplitude="22 nm")

API
---
:func:`build_wsxm` -> bytes
    The whole file. ``values``' dtype picks ``Image Data Type`` (int16 ``short``,
    float32 ``float``, float64 ``double``) unless ``data_type`` names one;
    ``x_amplitude`` / ``y_amplitude`` / ``z_amplitude`` are header texts (``None``
    leaves the key out), ``acquisition_time`` a datetime or text, ``omit`` drops
    ``"Section::Key"`` entries, ``extra`` adds them, ``header_size_delta`` miscounts the
    declared size, ``end_marker=False`` leaves out ``[Header end]``.
:func:`write_wsxm` -> Path
    ``build_wsxm`` written to a path.
:func:`wsxm_time`
    ``"18/06/2021, 14:12:26.398"`` spelling of a datetime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np

__all__ = ["build_wsxm", "write_wsxm", "wsxm_time"]

_TYPE_NAMES = {np.dtype("<i2"): "short", np.dtype("<f4"): "float", np.dtype("<f8"): "double"}


def wsxm_time(when: datetime) -> str:
    """WSxM's ``Acquisition time`` spelling."""
    return when.strftime("%d/%m/%Y, %H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def build_wsxm(
    values: np.ndarray,
    *,
    data_type: str | None = None,
    x_amplitude: str | None = "500 nm",
    y_amplitude: str | None = "500 nm",
    z_amplitude: str | None = "59.7449 nm",
    channel: str | None = "Topography",
    acquisition_time: datetime | str | None = datetime(2021, 6, 18, 14, 12, 26, 398000),
    omit: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
    header_size_delta: int = 0,
    end_marker: bool = True,
    copyright_line: str = "WSxM file copyright UAM",
) -> bytes:
    """The bytes of a WSxM image file holding ``values`` (2-D, storage order)."""
    stored = np.asarray(values)
    dtype = stored.dtype.newbyteorder("<")
    type_name = data_type or _TYPE_NAMES[np.dtype(dtype)]
    rows, cols = stored.shape
    when = wsxm_time(acquisition_time) if isinstance(acquisition_time, datetime) else acquisition_time
    entries: dict[str, dict[str, str | None]] = {
        "Control": {"X Amplitude": x_amplitude, "Y Amplitude": y_amplitude, "X-Frequency": "1.085 Hz"},
        "General Info": {
            "Acquisition channel": channel,
            "Acquisition time": when,
            "Image Data Type": type_name,
            "Number of columns": str(cols),
            "Number of rows": str(rows),
            "Y scanning direction": "Up",
            "Z Amplitude": z_amplitude,
        },
        "Miscellaneous": {"Saved with version": "5.0 Develop 10.0", "Version": "1.0 (April 2000)"},
    }
    for key, value in (extra or {}).items():
        section, _, name = key.partition("::")
        entries.setdefault(section, {})[name] = value
    for key in omit:
        section, _, name = key.partition("::")
        entries.get(section, {}).pop(name, None)
    body = []
    for section, keys in entries.items():
        body.append(f"[{section}]\r\n\r\n")
        body.extend(f"    {k}: {v}\r\n" for k, v in keys.items() if v is not None)
        body.append("\r\n")
    if end_marker:
        body.append("[Header end]\r\n")
    text = "".join(body)
    prefix = f"{copyright_line}\r\nSxM Image file\r\nImage header size: "
    fixed = len(prefix) + 2 + len(text.encode("latin-1"))
    size = fixed + 1
    while size != fixed + len(str(size)):  # the size line counts its own digits
        size = fixed + len(str(size))
    header = f"{prefix}{size + header_size_delta}\r\n{text}".encode("latin-1")
    return header + stored.astype(dtype).tobytes()


def write_wsxm(path: Path, values: np.ndarray, **options: object) -> Path:
    """Write :func:`build_wsxm` to ``path`` and return it."""
    path = Path(path)
    path.write_bytes(build_wsxm(values, **options))  # type: ignore[arg-type]
    return path
