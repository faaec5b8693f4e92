"""Park Systems TIFF (``park``) driver: the sample read independently, told apart from other TIFFs by content."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import tifffile

import afmio
from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.synthetic import synthetic_stack
from afmio.testing import Expected, check_reader, make_registry
from afmio_builtins import park
from afmio_testdata.park_builder import build_park, expected_values, write_park

SAMPLE = "park/example_ps.tiff"


# --------------------------------------------------------------------------- independent reference
def _reference(path: Path) -> tuple[np.ndarray, dict]:
    """Values by Gwyddion's psia rule, with tifffile reading the private tags (not the driver's parser)."""
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        header = bytes(tags[50435].value)
        data = bytes(tags[50434].value)
    xres, yres = struct.unpack_from("<II", header, 100)
    gain, z_scale, z_offset = struct.unpack_from("<ddd", header, 220)
    unit = header[244:260].decode("utf-16-le").rstrip("\x00")
    data_type = struct.unpack_from("<I", header, 348)[0]
    raw = np.frombuffer(data, {0: "<i2", 1: "<i4", 2: "<f4"}[data_type], xres * yres).reshape(yres, xres)
    factor = {"um": 1000.0, "µm": 1000.0, "nm": 1.0}[unit]
    values = factor * gain * (raw.astype(np.float64) * (z_scale or 1.0) + z_offset)
    info = {"xres": xres, "yres": yres, "xreal": struct.unpack_from("<dd", header, 140), "unit": unit,
            "name": header[4:68].decode("utf-16-le").split("\x00")[0]}
    return values[::-1], info


def test_sample_matches_an_independent_reading(sample):
    path = sample(SAMPLE)
    expected, info = _reference(path)
    stack = afmio.load(path, dtype="float64")
    assert afmio.registry.resolve(path).driver.name == "park"
    assert stack.channel == info["name"] == "Z Height" and stack.z_unit == "nm"
    assert stack.data.shape == (1, info["yres"], info["xres"])
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, atol=1e-12)
    assert stack.pixel_size_nm == pytest.approx(info["xreal"][0] * 1000 / info["xres"])
    assert stack.pixel_size_y_nm == pytest.approx(info["xreal"][1] * 1000 / info["yres"])


def test_sample_timing_and_acquisition(sample):
    stack = afmio.load(sample(SAMPLE))
    md = stack.frame_metadata[0]
    assert md["start_epoch_ms"] == pytest.approx(datetime(2022, 10, 15, 17, 7, 6, tzinfo=timezone.utc).timestamp()
                                                 * 1000)
    assert md["line_rate"] > 0 and md["scan_direction"] in ("topDown", "bottomUp")
    assert stack.acquisition["instrument"] == "Park Systems"
    assert stack.acquisition["file_version"] == "0x01000002"


def test_sample_passes_the_reader_kit(sample):
    check_reader(make_registry("afmio"), sample(SAMPLE), "park", Expected(
        n_frames=1, frame_shape=(512, 512), channel="Z Height", channels=["Z Height"],
        pixel_size_nm=1.953125, pixel_size_y_nm=1.953125, z_unit="nm"))


# --------------------------------------------------------------------------- Park or not: content decides
def test_other_tiffs_still_go_to_ome_tiff(tmp_path):
    stack = synthetic_stack(2, 6, 8, pixel_size_nm=0.5)
    for name in ("s.ome.tif", "s.tif", "s.tiff"):
        afmio.save(stack, tmp_path / name, format="ome-tiff")
        assert afmio.registry.resolve(tmp_path / name).driver.name == "ome-tiff"
        np.testing.assert_allclose(afmio.load(tmp_path / name).data, stack.data)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.arange(24, dtype=np.float32).reshape(4, 6))
    res = afmio.registry.resolve(plain)
    assert res.driver.name == "ome-tiff"
    assert any(name == "park" and "declined" in why for name, why in res.rejected)
    assert park.sniff(plain) is False
    with pytest.raises(UnsupportedFormatError, match="not a Park"):
        afmio.load(plain, format="park")


def test_park_files_go_to_park_whatever_the_tiff_extension(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    for name in ("p.tif", "p.tiff", "p.TIFF", "p.dat"):
        path = write_park(tmp_path / name, values)
        assert afmio.registry.resolve(path).driver.name == "park"
        np.testing.assert_allclose(afmio.load(path, dtype="float64").data[0], expected_values(values))
    # The same bytes with another magic number are just a TIFF.
    other = write_park(tmp_path / "m.tif", values, magic=0x12345678)
    assert park.sniff(other) is False
    assert afmio.registry.resolve(other).driver.name == "ome-tiff"


def test_folder_of_park_files_is_a_video_ordered_by_date(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    for name, second, level in (("a", 40, 3), ("b", 20, 2), ("c", 0, 1)):
        write_park(folder / f"{name}.tiff", np.full((3, 4), float(level), np.float32),
                   date=f"2022:10:15 17:07:{second:02d}")
    stack = afmio.load(folder, dtype="float64")
    assert afmio.registry.resolve(folder).driver.name == "park"
    assert stack.get_frame_times() == pytest.approx([0.0, 20.0, 40.0])
    np.testing.assert_allclose(stack.data[:, 0, 0], [1000.0, 2000.0, 3000.0])
    plain = tmp_path / "plain"
    plain.mkdir()
    tifffile.imwrite(plain / "x.tif", np.zeros((2, 2), np.float32))
    with pytest.raises(UnsupportedFormatError):
        afmio.registry.resolve(plain)


# --------------------------------------------------------------------------- built files
@pytest.mark.parametrize("dtype", ["<i2", "<i4", "<f4"])
def test_data_types_gain_scale_offset(tmp_path, dtype):
    values = (np.arange(-6, 6).reshape(3, 4) * 7).astype(dtype)
    opts = {"data_gain": 0.25, "z_scale": 2.0, "z_offset": 3.0, "z_unit": "nm"}
    got = afmio.load(write_park(tmp_path / "p.tiff", values, **opts), dtype="float64").data[0]
    np.testing.assert_allclose(got, expected_values(values, **opts))


def test_version_1_is_int16_and_zero_z_scale_means_one(tmp_path):
    values = np.arange(12, dtype=np.int16).reshape(3, 4)
    got = afmio.load(write_park(tmp_path / "p.tiff", values, version=1, z_scale=0.0), dtype="float64")
    np.testing.assert_allclose(got.data[0], expected_values(values))
    assert got.acquisition["file_version"] == "0x01000001"


def test_units_and_rectangular_pixels(tmp_path):
    values = np.ones((2, 5), np.float32)
    volts = afmio.load(write_park(tmp_path / "v.tiff", values, z_unit="V", scan_um=(1.0, 4.0)))
    assert volts.z_unit == "V"
    assert volts.pixel_size_nm == pytest.approx(200.0) and volts.pixel_size_y_nm == pytest.approx(2000.0)


def test_truncated_and_damaged(tmp_path):
    blob = build_park(np.arange(12, dtype=np.float32).reshape(3, 4))
    cut = tmp_path / "cut.tiff"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(TruncatedFileError, match=r"cut\.tiff"):
        afmio.load(cut, format="park")
    short = write_park(tmp_path / "short.tiff", np.zeros((3, 4), np.float32), header_bytes=200)
    with pytest.raises(CorruptFileError, match="header"):
        afmio.load(short)


def test_unknown_data_type_and_oversized_image(tmp_path):
    blob = bytearray(build_park(np.zeros((3, 4), np.float32)))
    at = blob.index("Z Height".encode("utf-16-le")) - 4  # start of the binary header
    bad_type = bytearray(blob)
    struct.pack_into("<I", bad_type, at + 348, 9)
    (tmp_path / "t.tiff").write_bytes(bad_type)
    with pytest.raises(CorruptFileError, match="data type"):
        afmio.load(tmp_path / "t.tiff")
    huge = bytearray(blob)
    struct.pack_into("<II", huge, at + 100, 60000, 60000)
    (tmp_path / "h.tiff").write_bytes(huge)
    with pytest.raises(CorruptFileError, match="60000"):
        afmio.registry.probe(tmp_path / "h.tiff")


def test_cut_directory_and_empty_file(tmp_path):
    blob = build_park(np.zeros((3, 4), np.float32))
    (tmp_path / "d.tiff").write_bytes(blob[:-1])  # the directory is last: its next-offset field is cut
    with pytest.raises(TruncatedFileError):
        afmio.load(tmp_path / "d.tiff", format="park")
    (tmp_path / "e.tiff").write_bytes(b"II")
    with pytest.raises(TruncatedFileError):
        afmio.load(tmp_path / "e.tiff", format="park")
