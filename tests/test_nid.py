"""Nanosurf NID (``nid``) driver: the real sample read independently, built files for the rest."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.errors import ChannelNotFoundError, CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.testing import Expected, check_reader, make_registry
from afmio_builtins import nid
from afmio_testdata.nid_builder import NidImage, build_nid, expected_values, write_nid

SAMPLE = "nid/nid-1.nid"
SAMPLE_CHANNELS = [
    f"{name} ({frame})"
    for frame in ("Scan forward", "Scan backward")
    for name in ("Deflection", "Z-Axis", "Friction force", "Z-AxisSensor")
]


# --------------------------------------------------------------------------- independent reference
def _reference(path: Path, index: int) -> tuple[np.ndarray, str]:
    """Image ``index`` (file order) by the documented rule, read with regexes apart from the driver."""
    blob = path.read_bytes()
    start = blob.index(b"\r\n#!") + 4
    text = blob[:start].decode("latin-1")
    sections = re.findall(r"\[DataSet-\d+:\d+\]\r\n(.*?)\r\n\r\n", text, flags=re.S)
    offset = start
    for i, body in enumerate(sections):
        keys = dict(line.split("=", 1) for line in body.split("\r\n"))
        rows, cols, bits = int(keys["Lines"]), int(keys["Points"]), int(keys["SaveBits"])
        assert keys["SaveSign"] == "Signed" and keys["SaveOrder"] == "Intel" and bits == 32
        if i == index:
            raw = np.frombuffer(blob, "<i4", rows * cols, offset).reshape(rows, cols).astype(np.float64)
            values = float(keys["Dim2Min"]) + (raw + 2.0**31) * float(keys["Dim2Range"]) / 2.0**32
            unit = keys["Dim2Unit"]
            if unit == "m":
                values, unit = values * 1e9, "nm"
            return values[::-1], unit
        offset += rows * cols * bits // 8
    raise AssertionError(index)


def test_sample_channels_and_default(sample):
    path = sample(SAMPLE)
    assert afmio.registry.channels(path) == SAMPLE_CHANNELS
    stack = afmio.load(path)
    assert stack.channel == "Z-Axis (Scan forward)" and stack.z_unit == "nm"
    assert stack.data.shape == (1, 256, 256)
    assert stack.pixel_size_nm == pytest.approx(78.125) and stack.pixel_size_y_nm == pytest.approx(78.125)


@pytest.mark.parametrize("index", range(8))
def test_every_sample_channel_matches_an_independent_reading(sample, index):
    path = sample(SAMPLE)
    expected, unit = _reference(path, index)
    stack = afmio.load(path, channel=SAMPLE_CHANNELS[index], dtype="float64")
    assert stack.z_unit == unit
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, atol=1e-15)


def test_sample_timing_and_acquisition(sample):
    stack = afmio.load(sample(SAMPLE))
    md = stack.frame_metadata[0]
    assert md["start_epoch_ms"] == pytest.approx(datetime(2022, 11, 3, 11, 46, 25, tzinfo=timezone.utc).timestamp()
                                                 * 1000)
    assert md["line_rate"] == pytest.approx(2.0) and md["frame_duration_s"] == pytest.approx(128.0)
    assert md["scan_direction"] == "bottomUp"
    acq = stack.acquisition
    assert acq["software_version"] == "3.10.2.19" and acq["operating_mode"] == "Lateral Force"
    assert acq["section"] == "DataSet-0:1"


def test_sample_directions_differ_and_units(sample):
    path = sample(SAMPLE)
    fwd = afmio.load(path, channel="Z-Axis (Scan forward)").data[0]
    bwd = afmio.load(path, channel="z-axis (scan backward)").data[0]
    assert not np.array_equal(fwd, bwd)
    assert afmio.load(path, channel="Deflection (Scan forward)").z_unit == "N"
    assert afmio.load(path, channel="Friction force (Scan forward)").z_unit == "V"
    with pytest.raises(ChannelNotFoundError, match="Z-AxisSensor"):
        afmio.load(path, channel="Topography")


def test_sample_passes_the_reader_kit(sample):
    check_reader(make_registry("afmio"), sample(SAMPLE), "nid", Expected(
        n_frames=1, frame_shape=(256, 256), channel="Z-Axis (Scan forward)", channels=SAMPLE_CHANNELS,
        pixel_size_nm=78.125, pixel_size_y_nm=78.125, z_unit="nm"))


def test_sample_recognised_by_content(sample, tmp_path):
    copy = tmp_path / "renamed.bin"
    copy.write_bytes(sample(SAMPLE).read_bytes())
    assert afmio.registry.resolve(copy).driver.name == "nid"


# --------------------------------------------------------------------------- built files
RNG = np.random.default_rng(7)
RAW32 = RNG.integers(-(2**31), 2**31 - 1, (3, 5), dtype=np.int64).astype(np.int32)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16, np.uint32])
def test_sample_types_and_byte_orders(tmp_path, dtype):
    info = np.iinfo(dtype)
    raw = RNG.integers(info.min, info.max, (4, 6), endpoint=True).astype(dtype)
    for big in (False, True):
        image = NidImage("Z-Axis", raw, z_min=-2e-6, z_range=3e-6, big_endian=big)
        path = write_nid(tmp_path / f"f{big}.nid", [image])
        got = afmio.load(path, dtype="float64").data[0]
        np.testing.assert_allclose(got, expected_values(image), rtol=1e-12)


def test_off_centre_range_uses_dim2_min(tmp_path):
    image = NidImage("Z-Axis", RAW32, z_min=1e-6, z_range=4e-6)
    got = afmio.load(write_nid(tmp_path / "f.nid", [image]), dtype="float64").data[0]
    np.testing.assert_allclose(got, expected_values(image), rtol=1e-12)
    assert got.min() >= 1000.0 and got.max() <= 5000.0


def test_two_groups_and_channel_gaps(tmp_path):
    images = [NidImage("Z-Axis", RAW32, group=0), NidImage("Phase", RAW32 // 2, unit="°", z_range=360, z_min=-180),
              NidImage("Z-Axis", RAW32 // 3, group=1)]
    path = write_nid(tmp_path / "f.nid", images)
    assert afmio.registry.channels(path) == ["Z-Axis (Scan forward)", "Phase (Scan forward)", "Z-Axis (Scan backward)"]
    back = afmio.load(path, channel="Z-Axis (Scan backward)", dtype="float64")
    np.testing.assert_allclose(back.data[0], expected_values(images[2]), rtol=1e-12)
    phase = afmio.load(path, channel="phase (scan forward)")
    assert phase.z_unit == "deg"
    # A gap in the channel numbers (Gr0-Ch1 missing) is skipped, not an error.
    blob = path.read_bytes().replace(b"Gr0-Count=2", b"Gr0-Count=3")
    blob = blob.replace(b"Gr0-Ch1=DataSet-0:1", b"Gr0-Ch2=DataSet-0:1")
    gap = tmp_path / "gap.nid"
    gap.write_bytes(blob)
    assert afmio.registry.channels(gap) == afmio.registry.channels(path)


def test_rectangular_pixels(tmp_path):
    stack = afmio.load(write_nid(tmp_path / "f.nid", [NidImage("Z-Axis", RAW32, extent_m=(5e-6, 3e-6))]))
    assert stack.pixel_size_nm == pytest.approx(1000.0) and stack.pixel_size_y_nm == pytest.approx(1000.0)
    stack = afmio.load(write_nid(tmp_path / "g.nid", [NidImage("Z-Axis", RAW32, extent_m=(5e-6, 6e-6))]))
    assert stack.pixel_size_nm == pytest.approx(1000.0) and stack.pixel_size_y_nm == pytest.approx(2000.0)


def test_truncated(tmp_path):
    path = tmp_path / "cut.nid"
    path.write_bytes(build_nid([NidImage("Z-Axis", RAW32)], truncate=5))
    with pytest.raises(TruncatedFileError, match=r"cut\.nid"):
        afmio.load(path)


def test_missing_data_marker(tmp_path):
    path = tmp_path / "f.nid"
    path.write_bytes(build_nid([NidImage("Z-Axis", RAW32)], marker=False))
    with pytest.raises(CorruptFileError, match="#!"):
        afmio.load(path)


@pytest.mark.parametrize(("omit", "match"), [("Points", "Points"), ("Lines", "Lines"), ("Dim2Range", "Dim2Range"),
                                             ("Dim0Range", "Dim0Range"), ("SaveBits", "SaveBits")])
def test_missing_image_keys(tmp_path, omit, match):
    path = write_nid(tmp_path / "f.nid", [NidImage("Z-Axis", RAW32, omit=(omit,))])
    with pytest.raises(CorruptFileError, match=match):
        afmio.load(path)


def test_listed_section_missing_and_no_images(tmp_path):
    blob = build_nid([NidImage("Z-Axis", RAW32)]).replace(b"[DataSet-0:0]", b"[Other]")
    path = tmp_path / "f.nid"
    path.write_bytes(blob)
    with pytest.raises(CorruptFileError, match="DataSet-0:0"):
        afmio.load(path)
    empty = tmp_path / "e.nid"
    empty.write_bytes(build_nid([]))
    with pytest.raises(CorruptFileError, match="no images"):
        afmio.load(empty)


def test_huge_declared_image_is_refused(tmp_path):
    blob = build_nid([NidImage("Z-Axis", RAW32)]).replace(b"Lines=3", b"Lines=300000000")
    path = tmp_path / "f.nid"
    path.write_bytes(blob)
    with pytest.raises(TruncatedFileError):
        afmio.registry.probe(path)


def test_folder_ordered_by_header_time(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    base = datetime(2024, 5, 6, 7, 8, 0)
    for name, minute, level in (("a", 2, 3), ("b", 1, 2), ("c", 0, 1)):
        raw = np.full((3, 5), level * 1000, np.int32)
        write_nid(folder / f"{name}.nid", [NidImage("Z-Axis", raw)], date=base.replace(minute=8 + minute))
    stack = afmio.load(folder, dtype="float64")
    assert stack.n_frames == 3 and stack.acquisition["frame_order"] == "header date"
    assert stack.get_frame_times() == pytest.approx([0.0, 60.0, 120.0])
    assert list(np.argsort(stack.data[:, 0, 0])) == [0, 1, 2]
    with afmio.load(folder, lazy=True, dtype="float64") as lazy:
        np.testing.assert_array_equal(np.asarray(lazy.data), stack.data)


def test_sniff(tmp_path):
    assert nid.sniff(write_nid(tmp_path / "f.nid", [NidImage("Z-Axis", RAW32)])) is True
    other = tmp_path / "o.nid"
    other.write_bytes(b"[Other]\r\n")
    assert nid.sniff(other) is False
    with pytest.raises(UnsupportedFormatError):
        afmio.load(other, format="nid")
    assert nid.parse_header("[A]\r\nk=v=w\r\n[B]\r\nx=1\r\n") == {"A": {"k": "v=w"}, "B": {"x": "1"}}


def test_empty_file_is_truncated(tmp_path):
    (tmp_path / "e.nid").write_bytes(b"")
    with pytest.raises(TruncatedFileError, match=r"e\.nid"):
        afmio.load(tmp_path / "e.nid", format="nid")


def test_two_images_with_one_name_stay_apart(tmp_path):
    images = [NidImage("Z-Axis", RAW32), NidImage("Z-Axis", RAW32 // 7)]
    path = write_nid(tmp_path / "f.nid", images)
    names = afmio.registry.channels(path)
    assert names == ["Z-Axis (Scan forward)", "Z-Axis (Scan forward) [DataSet-0:1]"]
    second = afmio.load(path, channel=names[1], dtype="float64")
    np.testing.assert_allclose(second.data[0], expected_values(images[1]), rtol=1e-12)
