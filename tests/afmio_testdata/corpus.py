"""Seed files for the robustness corpus and the fuzz run: one small valid input per driver.

Each seed is a :class:`Seed`: the bytes of one file (or of one member file of a folder
format), the name to give it, and the offsets where its structure changes (header end,
frame starts), so truncations can aim at every boundary.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import afmio
from afmio.synthetic import synthetic_stack


@dataclass
class Seed:
    """One valid input to damage."""

    driver: str
    name: str  # file name (member name for folder formats)
    data: bytes
    structural: list[int] = field(default_factory=list)
    folder: bool = False  # the file is one member of a folder video
    siblings: dict[str, bytes] = field(default_factory=dict)  # undamaged other members
    text_keys: list[bytes] = field(default_factory=list)  # text-header keys to corrupt
    int_fields: list[int] = field(default_factory=list)  # offsets of 4-byte header fields
    endian: str = "<"  # byte order of those fields


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="afmio-corpus-"))


def _bundle(fmt: str, ext: str) -> Seed:
    stack = synthetic_stack(3, 12, 16)
    stack.processed["raw"] = stack.data.copy()
    stack.processed["step_1_x"] = stack.data + 1
    stack.masks["step_2_m"] = stack.data > 1
    path = _tmp() / f"seed{ext}"
    afmio.save(stack, path, format=fmt)
    return Seed(fmt, path.name, path.read_bytes())


def seed_npz() -> Seed:
    return _bundle("npz", ".npz")


def seed_hdf5() -> Seed:
    return _bundle("hdf5", ".h5")


def seed_ome_tiff() -> Seed:
    seed = _bundle("ome-tiff", ".ome.tif")
    seed.int_fields = _tiff_ifd_fields(seed.data)
    seed.endian = "<" if seed.data[:2] == b"II" else ">"
    return seed


def seed_ome_zarr_zip() -> Seed:
    return _bundle("ome-zarr-zip", ".ome.zarr.zip")


def seed_asd(version: int = 1, channels: tuple[str, ...] = ("TP",)) -> Seed:
    from afmio_testdata.asd_writer import write_asd

    rng = np.random.default_rng(version)
    frames = {kind: rng.integers(0, 4000, (3, 8, 10)).astype(np.int16) for kind in channels}
    path = _tmp() / f"v{version}.asd"
    layout = write_asd(path, frames, version=version)
    structural = [layout.data_start]
    for ch in range(layout.n_channels):
        for i in range(layout.n_frames):
            off = layout.frame_offset(ch, i)
            structural += [off, off + layout.frame_header_size]
    return Seed("asd", path.name, path.read_bytes(), structural,
                int_fields=list(range(0, layout.data_start - 3, 4)))


def seed_jpk() -> Seed:
    from afmio_testdata.jpk_builder import make_jpk_folder

    folder = _tmp() / "jpk"
    paths = make_jpk_folder(folder, 2, shape=(6, 8))
    data = paths[0].read_bytes()
    siblings = {p.name: p.read_bytes() for p in paths[1:]}
    return Seed("jpk", paths[0].name, data, folder=True, siblings=siblings, int_fields=_tiff_ifd_fields(data),
                endian="<" if data[:2] == b"II" else ">")


def seed_h5jpk() -> Seed:
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    raw = np.random.default_rng(2).integers(0, 1000, (3, 6, 8)).astype(np.int32)
    path = write_h5jpk(_tmp() / "m.h5-jpk", [H5JpkChannel("height", data=raw)])
    return Seed("h5-jpk", path.name, path.read_bytes())


def seed_spm(style: str = "v9", dtype: str = "int16") -> Seed:
    from afmio_testdata.spm_builder import SpmImage, build_spm

    raw = np.random.default_rng(3).integers(-3000, 3000, (6, 8)).astype(dtype)
    other = np.random.default_rng(4).integers(-3000, 3000, (6, 8)).astype(dtype)
    data = build_spm([SpmImage(raw)], style=style, header_size=8192)
    sibling = build_spm([SpmImage(other)], style=style, header_size=8192)
    keys = [b"Data offset: ", b"Data length: ", b"Bytes/pixel: ", b"Samps/line: ", b"Number of lines: ",
            b"Scan Size: ", b"Scan Size: ", b"Scan rate: ", b"Scan Rate: ", b"Z scale: ", b"Relative frame time: "]
    structural = [data.find(b"\\*File list end"), 8192, len(data) - raw.nbytes // 2]
    return Seed("spm", "frame.001", data, structural, folder=True, siblings={"frame.002": sibling}, text_keys=keys)


def _rng_image(seed: int, shape: tuple[int, int] = (6, 8), dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1e-9, shape).astype(dtype)


def seed_wsxm() -> Seed:
    from afmio_testdata.wsxm_builder import build_wsxm

    data = build_wsxm(np.random.default_rng(5).integers(-3000, 3000, (6, 8)).astype(np.int16))
    sibling = build_wsxm(np.random.default_rng(6).integers(-3000, 3000, (6, 8)).astype(np.int16))
    keys = [b"Number of rows: ", b"Number of columns: ", b"Image header size: ", b"X Amplitude: ",
            b"Z Amplitude: ", b"Image Data Type: "]
    return Seed("wsxm", "frame_0.stp", data, [data.find(b"[Header end]")], folder=True,
                siblings={"frame_1.stp": sibling}, text_keys=keys)


def seed_nid() -> Seed:
    from afmio_testdata.nid_builder import NidImage, build_nid

    raw = np.random.default_rng(7).integers(-30000, 30000, (6, 8)).astype(np.int16)
    data = build_nid([NidImage("Z-Axis", raw)])
    keys = [b"Points=", b"Lines=", b"SaveBits=", b"Dim0Range=", b"Dim2Range=", b"Dim0Unit="]
    return Seed("nid", "scan.nid", data, [data.find(b"#!")], text_keys=keys)


def seed_park() -> Seed:
    from afmio_testdata.park_builder import build_park

    data = build_park(np.random.default_rng(8).normal(0, 1, (6, 8)).astype(np.float32))
    return Seed("park", "scan.tiff", data, int_fields=_tiff_ifd_fields(data))


def seed_gwy() -> Seed:
    from afmio_testdata.gwy_builder import GwyChannel, write_gwy

    path = write_gwy(_tmp() / "scan.gwy", [GwyChannel(_rng_image(9)), GwyChannel(_rng_image(10), title="Phase")])
    return Seed("gwy", path.name, path.read_bytes())


def seed_ibw() -> Seed:
    from afmio_testdata.ibw_builder import write_ibw

    path = write_ibw(_tmp() / "scan.ibw", {"HeightTrace": _rng_image(11), "Phase": _rng_image(12)})
    return Seed("ibw", path.name, path.read_bytes())


def seed_aris() -> Seed:
    from afmio_testdata.aris_writer import write_aris

    path = write_aris(_tmp() / "movie.aris", {"Height": np.stack([_rng_image(13 + i) for i in range(3)])})
    return Seed("aris", path.name, path.read_bytes())


def seed_nhf() -> Seed:
    from afmio_testdata.nhf_writer import write_nhf

    path = write_nhf(_tmp() / "scan.nhf", {("Forward", "Z-Axis"): _rng_image(16)})
    return Seed("nhf", path.name, path.read_bytes())


def seed_topostats() -> Seed:
    import h5py

    path = _tmp() / "scan.topostats"
    with h5py.File(path, "w") as h5:
        h5["image"] = _rng_image(17)
        h5["image_original"] = _rng_image(18)
        h5["pixel_to_nm_scaling"] = 2.5
        h5["topostats_file_version"] = 0.2
    return Seed("topostats", path.name, path.read_bytes())


def _tiff_ifd_fields(data: bytes) -> list[int]:
    """Offsets of the value fields of every entry of the first IFD of a classic TIFF."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return []
    e = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", data[4:8])
    if ifd + 2 > len(data):
        return []
    (count,) = struct.unpack(e + "H", data[ifd : ifd + 2])
    return [ifd + 2 + 12 * i + 8 for i in range(min(count, 200)) if ifd + 2 + 12 * i + 12 <= len(data)]


SEEDS: dict[str, Callable[[], Seed]] = {
    "npz": seed_npz,
    "hdf5": seed_hdf5,
    "ome-tiff": seed_ome_tiff,
    "ome-zarr-zip": seed_ome_zarr_zip,
    "asd-v0": lambda: seed_asd(0),
    "asd-v1-2ch": lambda: seed_asd(1, ("TP", "PH")),
    "asd-v2": lambda: seed_asd(2),
    "jpk": seed_jpk,
    "h5-jpk": seed_h5jpk,
    "spm-v9": seed_spm,
    "spm-v5-int32": lambda: seed_spm("v5", "int32"),
    "wsxm": seed_wsxm,
    "nid": seed_nid,
    "park": seed_park,
    "gwy": seed_gwy,
    "ibw": seed_ibw,
    "aris": seed_aris,
    "nhf": seed_nhf,
    "topostats": seed_topostats,
}


def place(seed: Seed, data: bytes, folder: Path) -> Path:
    """Write damaged ``data`` where a user would have it; return the path to load."""
    if seed.folder:
        video = folder / "video"
        video.mkdir(parents=True, exist_ok=True)
        for name, content in seed.siblings.items():
            (video / name).write_bytes(content)
        (video / seed.name).write_bytes(data)
        return video
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / seed.name
    path.write_bytes(data)
    return path
