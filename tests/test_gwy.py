"""Gwyddion ``.gwy``: the real sample, files from an independent test writer, afmio's own
files read back exactly, Gwyddion itself opening what afmio writes, and damage."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import afmio
import afmio_builtins.gwy as gwy
from afmio.cli import main
from afmio.errors import CorruptFileError, UnsupportedFormatError, WriteError
from afmio.synthetic import synthetic_stack
from afmio_testdata.gwy_builder import GwyChannel, write_gwy

THUMBNAILER = shutil.which("gwyddion-thumbnailer")
needs_gwyddion = pytest.mark.skipif(THUMBNAILER is None, reason="gwyddion-thumbnailer not installed")


def _data_array(raw: bytes) -> np.ndarray:
    """The first ``data`` double array of a GWY file, found by its bytes (an independent reading)."""
    at = raw.index(b"data\0D") + len(b"data\0D")
    (count,) = struct.unpack_from("<I", raw, at)
    return np.frombuffer(raw, "<f8", count, at + 4)


# ---------------------------------------------------------------------- the real sample
def test_sample_values_match_the_bytes(sample):
    path = sample("gwy/test.gwy")
    stack = afmio.load(path, dtype=np.float64)
    assert stack.shape == (1, 128, 128)
    assert stack.channel == "Test" and gwy.channels(path) == ["Test"]
    assert stack.z_unit == "unknown"  # the sample's units are empty
    assert stack.pixel_size_nm == stack.pixel_size_y_nm == 1.0  # xreal 128 over 128 pixels, no unit
    np.testing.assert_array_equal(stack.data[0], _data_array(path.read_bytes()).reshape(128, 128))
    assert stack.frame_metadata[0]["timestamp"] is None  # Gwyddion records no time
    assert stack.acquisition["lateral_unit"] == ""


# ---------------------------------------------------------------------- independent writer
def test_non_square_volts_and_metadata(tmp_path):
    rng = np.random.default_rng(4)
    height = rng.normal(0, 2e-9, (6, 10))
    volts = rng.normal(0, 0.3, (6, 10))
    path = write_gwy(tmp_path / "two.gwy", [
        GwyChannel(height, "Height", xreal=2e-6, yreal=0.6e-6, meta={"Date": "2024-01-02", "Op": "x"}, xoff=1e-6),
        GwyChannel(volts, "Amplitude", xreal=2e-6, yreal=0.6e-6, z_unit="V"),
    ])
    assert gwy.sniff(path) is True
    assert gwy.channels(path) == ["Height", "Amplitude"]
    h = afmio.load(path, dtype=np.float64)
    assert h.channel == "Height" and h.z_unit == "nm"
    assert h.pixel_size_nm == pytest.approx(200.0) and h.pixel_size_y_nm == pytest.approx(100.0)
    np.testing.assert_allclose(h.data[0], height * 1e9, rtol=1e-15)
    assert h.acquisition["channel_meta"] == {"Date": "2024-01-02", "Op": "x"}
    assert h.acquisition["x_offset_nm"] == pytest.approx(1000.0)
    assert h.frame_metadata[0]["timestamp"] is None  # no afmio metadata: time unknown
    v = afmio.load(path, channel="amplitude", dtype=np.float64)
    assert v.z_unit == "V"
    np.testing.assert_array_equal(v.data[0], volts)


def test_prefixed_lateral_unit_and_untitled_channels(tmp_path):
    data = np.arange(12.0).reshape(3, 4)
    path = write_gwy(tmp_path / "u.gwy", [GwyChannel(data, None, xreal=4.0, yreal=6.0, xy_unit="um", z_unit="deg"),
                                          GwyChannel(data, None, xreal=4.0, yreal=6.0, xy_unit="um", z_unit="deg")])
    stack = afmio.load(path)
    assert gwy.channels(path) == ["Channel 0", "Channel 1"]
    assert stack.pixel_size_nm == pytest.approx(1000.0) and stack.pixel_size_y_nm == pytest.approx(2000.0)
    assert stack.z_unit == "deg"


def test_folder_of_foreign_files_loads_in_name_order(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for i in (10, 2, 1):
        write_gwy(folder / f"scan{i}.gwy", [GwyChannel(np.full((2, 3), i * 1e-9))])
    stack = afmio.load(folder)
    assert [float(f[0, 0]) for f in stack.data] == [1.0, 2.0, 10.0]
    assert stack.acquisition["frame_order"] == "natural name order"


# ---------------------------------------------------------------------- afmio's own files
def _one_frame(dtype=np.float32) -> afmio.AFMImageStack:
    stack = synthetic_stack(1, 7, 11, pixel_size_nm=0.3, frame_time_s=0.5)
    stack.pixel_size_y_nm = 0.9
    stack.data = np.asarray(stack.data, dtype) * 3.7
    return stack


def test_single_file_round_trip_float32_is_exact(tmp_path):
    stack = _one_frame()
    afmio.save(stack, tmp_path / "one.gwy")
    back = afmio.load(tmp_path / "one.gwy")
    np.testing.assert_array_equal(back.data, stack.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm) == (0.3, 0.9)
    assert back.channel == stack.channel and back.z_unit == "nm"
    assert back.frame_metadata == stack.frame_metadata


def test_float64_round_trip_within_one_ulp_and_volts_exact(tmp_path):
    stack = _one_frame(np.float64)
    stack.data = np.random.default_rng(0).normal(0, 50, stack.shape)
    afmio.save(stack, tmp_path / "nm.gwy")
    back = afmio.load(tmp_path / "nm.gwy", dtype=np.float64)
    # metres cannot hold every nm double: nm -> m -> nm is within one unit in the last place
    np.testing.assert_array_max_ulp(back.data, stack.data, maxulp=1)
    stack.z_unit = "V"
    afmio.save(stack, tmp_path / "v.gwy")
    np.testing.assert_array_equal(afmio.load(tmp_path / "v.gwy", dtype=np.float64).data, stack.data)


def test_folder_round_trip_keeps_timing(tmp_path):
    stack = synthetic_stack(4, 5, 6, pixel_size_nm=0.75, frame_time_s=0.125)
    for i, md in enumerate(stack.frame_metadata):
        md.update(start_epoch_ms=1_700_000_000_000 + 125 * i, scan_direction="bottomUp", line_rate=40.0)
    afmio.save(stack, tmp_path / "video", format="gwy")
    files = sorted(p.name for p in (tmp_path / "video").iterdir())
    assert files == [f"video_{i:05d}.gwy" for i in range(4)]
    back = afmio.load(tmp_path / "video")
    np.testing.assert_array_equal(back.data, stack.data)
    assert back.frame_metadata == stack.frame_metadata
    assert back.acquisition["timing_source"] == "afmio metadata"


def test_many_frames_to_one_file_is_refused(tmp_path):
    with pytest.raises(WriteError, match="holds one frame"):
        afmio.save(synthetic_stack(2, 3, 3), tmp_path / "two.gwy")
    assert not (tmp_path / "two.gwy").exists()


def test_gwyddion_layout_of_a_written_file(tmp_path):
    """The bytes follow Gwyddion's layout: a container, the field in SI units, doubles row by row."""
    stack = _one_frame(np.float64)
    afmio.save(stack, tmp_path / "one.gwy")
    raw = (tmp_path / "one.gwy").read_bytes()
    assert raw.startswith(b"GWYPGwyContainer\0")
    assert b"/0/data\0oGwyDataField\0" in raw and b"unitstr\0sm\0" in raw
    np.testing.assert_allclose(_data_array(raw).reshape(7, 11), stack.data[0] * 1e-9, rtol=1e-15)


# ---------------------------------------------------------------------- Gwyddion itself
def _thumbnail(src: Path, png: Path) -> np.ndarray:
    from PIL import Image

    subprocess.run([THUMBNAILER, "gnome2", "64", str(src), str(png)], check=True, timeout=120,
                   capture_output=True)
    with Image.open(png) as im:
        return np.asarray(im.convert("L"), dtype=float)


@needs_gwyddion
def test_gwyddion_renders_afmio_output_the_right_way_up(tmp_path):
    data = np.zeros((40, 60))
    data[:20, :30] = 10.0  # bright top-left quarter
    stack = afmio.AFMImageStack(data[np.newaxis], 1.0, "height_trace", "synthetic")
    afmio.save(stack, tmp_path / "quarter.gwy")
    grey = _thumbnail(tmp_path / "quarter.gwy", tmp_path / "q.png")
    h, w = grey.shape
    top_left, rest = grey[: h // 2 - 2, : w // 2 - 2].mean(), grey[h // 2 + 2 :, w // 2 + 2 :].mean()
    assert top_left > rest + 50, (top_left, rest)


@needs_gwyddion
def test_convert_asd_video_to_a_folder_gwyddion_opens(sample, tmp_path):
    src = sample("asd/asd_sample_0.asd")
    assert main(["-q", "convert", str(src), str(tmp_path / "movie"), "--format", "gwy"]) == 0
    files = sorted((tmp_path / "movie").glob("*.gwy"))
    assert len(files) == 32
    grey = _thumbnail(files[0], tmp_path / "m.png")
    assert grey.std() > 5  # an image, not a blank
    back = afmio.load(tmp_path / "movie")
    np.testing.assert_array_equal(back.data, afmio.load(src).data)


# ---------------------------------------------------------------------- damage
def test_not_gwy_and_gwyddion_1(tmp_path):
    (tmp_path / "a.gwy").write_bytes(b"GWYO" + b"\0" * 20)
    with pytest.raises(UnsupportedFormatError, match="Gwyddion 1"):
        gwy.read(tmp_path / "a.gwy")
    (tmp_path / "b.gwy").write_bytes(b"hello")
    assert gwy.sniff(tmp_path / "b.gwy") is False


def test_array_longer_than_the_file_is_refused_without_allocating(tmp_path):
    path = write_gwy(tmp_path / "huge.gwy", [GwyChannel(np.zeros((4, 4)))])
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data\0D") + len(b"data\0D")
    raw[at:at + 4] = struct.pack("<I", 0xFFFFFFF0)  # 32 GiB of doubles declared
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match=re.escape("huge.gwy")):
        gwy.read(path)


def test_data_count_must_match_the_size(tmp_path):
    path = write_gwy(tmp_path / "odd.gwy", [GwyChannel(np.zeros((3, 3)))])
    raw = bytearray(path.read_bytes())
    at = raw.index(b"xres\0i") + len(b"xres\0i")
    raw[at:at + 4] = struct.pack("<i", 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="xres"):
        gwy.read(path)


def test_truncated_file_names_the_file(tmp_path):
    path = write_gwy(tmp_path / "cut.gwy", [GwyChannel(np.zeros((8, 8)))])
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match=re.escape("cut.gwy")):
        gwy.read(path)


def test_cli_converts_the_sample_to_hdf5(sample, tmp_path):
    src = sample("gwy/test.gwy")
    assert main(["-q", "convert", str(src), str(tmp_path / "out.h5")]) == 0
    back, ours = afmio.load(tmp_path / "out.h5"), afmio.load(src)
    np.testing.assert_array_equal(back.data, ours.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm, back.channel) == (ours.pixel_size_nm, ours.pixel_size_y_nm,
                                                                         ours.channel)


@needs_gwyddion
@pytest.mark.parametrize("relative", ["ibw/Example_ibw.ibw", "other/sample_0.jpk-qi-image"])
def test_gwyddion_shows_afmio_conversions_like_the_originals(sample, tmp_path, relative):
    """Gwyddion reads .ibw and JPK QI itself: its picture of the original (first channel) and of
    afmio's .gwy of that channel must be the same, which checks values and orientation."""
    src = sample(relative)
    first = afmio.load(src, channel=afmio.Registry(discover=True).channels(src)[0])
    afmio.save(first, tmp_path / "conv.gwy")
    ours, theirs = _thumbnail(tmp_path / "conv.gwy", tmp_path / "a.png"), _thumbnail(src, tmp_path / "b.png")
    assert ours.shape == theirs.shape
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99
