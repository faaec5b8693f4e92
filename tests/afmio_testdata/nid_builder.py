"""Build small Nanosurf ``.nid`` files byte by byte, for tests.

Layout (as Nanosurf software writes it, CRLF lines, latin-1): ``[DataSet]`` with
``GroupCount``, ``Gr<g>-Name``, ``Gr<g>-Count`` and ``Gr<g>-Ch<c>=DataSet-<g>:<c>``;
``[DataSet-Info]`` with ``Date`` (``dd-mm-yyyy``), ``Time``, ``Time/Line``, ``Scan
direction``; one ``[DataSet-<g>:<c>]`` section per image (``Points``, ``Lines``,
``Dim0..2Name/Unit/Range/Min``, ``SaveMode=Binary``, ``SaveBits``, ``SaveSign``,
``SaveOrder``); then a line ``#!`` followed directly by the images in listing order.

Example::

    from afmio_testdata.nid_builder import NidImage, write_nid

    raw = np.arange(12, dtype=np.int32).reshape(3, 4)
    write_nid(tmp_path / "f.nid", [NidImage("Z-Axis", raw, unit="m", z_min=-1e-6, z_range=2e-6)])

API
---
:class:`NidImage`
    One stored image: ``Dim2Name``, raw integers in storage order (dtype picks
    ``SaveBits`` / ``SaveSign``; ``big_endian`` writes ``SaveOrder=Motorola``), unit,
    ``Dim2Min``/``Dim2Range``, group (0 forward, 1 backward), scan extent in metres,
    and ``omit`` to drop section keys.
:func:`build_nid` -> bytes
    The whole file; ``date`` sets ``Date``/``Time``, ``time_per_line`` ``Time/Line``,
    ``truncate`` cuts that many bytes off the end, ``marker=False`` leaves out ``#!``.
:func:`write_nid` -> Path
    ``build_nid`` written to a path.
:func:`expected_values`
    The float64 values afmio should give for an image (sheet formula, rows reversed,
    in the unit's afmio spelling: metres become nm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

__all__ = ["GROUP_NAMES", "NidImage", "build_nid", "expected_values", "write_nid"]

GROUP_NAMES = ("Scan forward", "Scan backward")


@dataclass(frozen=True)
class NidImage:
    """One image of a ``.nid`` file (``raw`` in storage order)."""

    name: str
    raw: np.ndarray
    unit: str = "m"
    z_min: float = -5e-6
    z_range: float = 1e-5
    group: int = 0
    extent_m: tuple[float, float] = (2e-5, 1e-5)
    big_endian: bool = False
    omit: tuple[str, ...] = ()


def _section(image: NidImage) -> str:
    raw = np.asarray(image.raw)
    rows, cols = raw.shape
    keys = {
        "Version": "2",
        "Points": str(cols),
        "Lines": str(rows),
        "Frame": GROUP_NAMES[image.group],
        "Dim0Name": "X*", "Dim0Unit": "m", "Dim0Range": repr(image.extent_m[0]), "Dim0Min": "0",
        "Dim1Name": "Y*", "Dim1Unit": "m", "Dim1Range": repr(image.extent_m[1]), "Dim1Min": "0",
        "Dim2Name": image.name, "Dim2Unit": image.unit, "Dim2Range": repr(image.z_range),
        "Dim2Min": repr(image.z_min),
        "SaveMode": "Binary",
        "SaveBits": str(raw.dtype.itemsize * 8),
        "SaveSign": "Signed" if raw.dtype.kind == "i" else "Unsigned",
        "SaveOrder": "Motorola" if image.big_endian else "Intel",
    }
    return "".join(f"{k}={v}\r\n" for k, v in keys.items() if k not in image.omit)


def build_nid(
    images: Sequence[NidImage],
    *,
    date: datetime | None = datetime(2022, 11, 3, 11, 46, 25),
    time_per_line: str = "500ms",
    scan_direction: str = "Up",
    truncate: int = 0,
    marker: bool = True,
) -> bytes:
    """The bytes of a ``.nid`` file holding ``images`` (grouped by ``image.group``)."""
    groups: dict[int, list[tuple[int, NidImage]]] = {}
    for image in images:
        groups.setdefault(image.group, []).append((len(groups.get(image.group, [])), image))
    head = ["[DataSet]", "Version=2", f"GroupCount={max(groups) + 1 if groups else 0}"]
    for g in range(max(groups) + 1 if groups else 0):
        head += [f"Gr{g}-Name={GROUP_NAMES[g]}", f"Gr{g}-ID=0", f"Gr{g}-Count={len(groups.get(g, []))}"]
    for g in sorted(groups):
        head += [f"Gr{g}-Ch{c}=DataSet-{g}:{c}" for c, _ in groups[g]]
    info = ["", "[DataSet-Info]", "-- Scan --=--------", f"Scan direction={scan_direction}",
            f"Time/Line={time_per_line}", "Head type=DriveAFM", "Software ver.=3.10.2.19"]
    if date is not None:
        info += [f"Date={date:%d-%m-%Y}", f"Time={date:%H:%M:%S}"]
    text = "\r\n".join(head + info) + "\r\n"
    data = b""
    for g in sorted(groups):
        for c, image in groups[g]:
            text += f"\r\n[DataSet-{g}:{c}]\r\n" + _section(image)
            order = ">" if image.big_endian else "<"
            raw = np.asarray(image.raw)
            data += raw.astype(raw.dtype.newbyteorder(order)).tobytes()
    # Two blank lines before the marker, as Nanosurf writes them.
    blob = (text + "\r\n\r\n").encode("latin-1") + (b"#!" if marker else b"") + data
    return blob[: len(blob) - truncate] if truncate else blob


def write_nid(path: Path, images: Sequence[NidImage], **options: object) -> Path:
    """Write :func:`build_nid` to ``path`` and return it."""
    path = Path(path)
    path.write_bytes(build_nid(images, **options))  # type: ignore[arg-type]
    return path


def expected_values(image: NidImage) -> np.ndarray:
    """What afmio should read for ``image``: the full integer range spans ``Dim2Range`` from ``Dim2Min``."""
    raw = np.asarray(image.raw)
    lowest = float(np.iinfo(raw.dtype).min)
    values = image.z_min + (raw.astype(np.float64) - lowest) * image.z_range / 2.0 ** (8 * raw.dtype.itemsize)
    if image.unit == "m":
        values = values * 1e9
    return values[::-1]
