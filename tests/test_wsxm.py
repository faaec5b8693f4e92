"""WSxM (``wsxm``) driver: the two real samples read independently, built files for the rest."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.errors import CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio.testing import Expected, check_reader, make_registry
from afmio_builtins import wsxm
from afmio_testdata.wsxm_builder import build_wsxm, write_wsxm

STP = "wsxm/sample_0.stp"
TOP = "wsxm/sample_0.top"
SAMPLE_TIME = datetime(2021, 6, 18, 14, 12, 26, 398000, tzinfo=timezone.utc).timestamp()


# --------------------------------------------------------------------------- independent reference
def _reference(path: Path) -> np.ndarray:
    """Values by the documented rule, read with regexes and the declared header size only."""
    blob = path.read_bytes()
    size = int(re.search(rb"Image header size: (\d+)", blob[:200]).group(1))
    text = blob[:size].decode("latin-1")
    rows = int(re.search(r"Number of rows: (\d+)", text).group(1))
    cols = int(re.search(r"Number of columns: (\d+)", text).group(1))
    kind = re.search(r"Image Data Type: (\w+)", text).group(1)
    z_amp = float(re.search(r"Z Amplitude: ([\d.]+) nm", text).group(1))
    dtype = {"double": "<f8", "short": "<i2"}[kind]
    raw = np.frombuffer(blob, dtype, rows * cols, offset=size).reshape(rows, cols).astype(np.float64)
    if kind == "short":
        raw = raw * z_amp / (raw.max() - raw.min())
    return raw[::-1, ::-1]


@pytest.mark.parametrize("name", [STP, TOP])
def test_sample_values_match_an_independent_reading(sample, name):
    path = sample(name)
    stack = afmio.load(path, dtype="float64")
    expected = _reference(path)
    assert stack.data.shape == (1, 512, 512)
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, atol=1e-12)
    assert stack.channel == "Topography" and stack.z_unit == "nm"
    assert stack.pixel_size_nm == pytest.approx(500 / 512) and stack.pixel_size_y_nm == pytest.approx(500 / 512)
    assert stack.frame_metadata[0]["start_epoch_ms"] == pytest.approx(SAMPLE_TIME * 1000)
    assert stack.frame_metadata[0]["line_rate"] == pytest.approx(1.085)
    assert stack.frame_metadata[0]["scan_direction"] == "bottomUp"
    assert stack.acquisition["instrument"] == "WSxM"


def test_sample_numbers(sample):
    """The numbers the report quotes (float64 loads), checked against the independent reading."""
    stp = afmio.load(sample(STP), dtype="float64").data[0]
    top = afmio.load(sample(TOP), dtype="float64").data[0]
    # The header's own statistics: Minimum -80.7998, Maximum -21.0549 nm (stp).
    assert stp.min() == pytest.approx(-80.7998, abs=1e-4) and stp.max() == pytest.approx(-21.0549, abs=1e-4)
    # The .top (int16) and .stp (double) hold the same scan: Gwyddion's int rule gives the same heights.
    np.testing.assert_allclose(top, stp, atol=0.003)
    assert top.max() - top.min() == pytest.approx(59.7449, rel=1e-12)


def test_samples_are_recognised_by_content(sample, tmp_path):
    for name in (STP, TOP):
        copy = tmp_path / (Path(name).stem + ".dat")
        copy.write_bytes(sample(name).read_bytes())
        assert afmio.registry.resolve(copy).driver.name == "wsxm"
        assert afmio.registry.resolve(sample(name)).driver.name == "wsxm"


def test_samples_pass_the_reader_kit(sample):
    for name in (STP, TOP):
        check_reader(make_registry("afmio"), sample(name), "wsxm", Expected(
            n_frames=1, frame_shape=(512, 512), channel="Topography", channels=["Topography"],
            pixel_size_nm=500 / 512, pixel_size_y_nm=500 / 512, z_unit="nm"))


# --------------------------------------------------------------------------- built files
RAW = np.arange(-6, 6, dtype=np.int16).reshape(3, 4) * 100


@pytest.mark.parametrize(("dtype", "type_name"), [("<f4", None), ("<f8", None), ("<i2", None), ("<i2", "integer")])
def test_data_types(tmp_path, dtype, type_name):
    raw = RAW.astype(dtype)
    path = write_wsxm(tmp_path / "f.stp", raw, data_type=type_name, z_amplitude="2.2 µm")
    got = afmio.load(path, dtype="float64").data[0]
    if np.dtype(dtype).kind == "f":
        expected = raw.astype(np.float64) * 1000.0  # stored µm values in nm
    else:
        expected = raw.astype(np.float64) * 2200.0 / (raw.max() - raw.min())
    np.testing.assert_allclose(got, expected[::-1, ::-1], rtol=1e-6)


def test_unknown_data_type(tmp_path):
    path = write_wsxm(tmp_path / "f.stp", RAW, data_type="complex")
    with pytest.raises(CorruptFileError, match="unknown Image Data Type"):
        afmio.load(path)


def test_z_units(tmp_path):
    phase = afmio.load(write_wsxm(tmp_path / "p.top", RAW, z_amplitude="0.5 Pi"), dtype="float64")
    assert phase.z_unit == "deg" and phase.data.max() - phase.data.min() == pytest.approx(90.0)
    volts = afmio.load(write_wsxm(tmp_path / "v.top", RAW, z_amplitude="3 mV"), dtype="float64")
    assert volts.z_unit == "V" and volts.data.max() - volts.data.min() == pytest.approx(0.003)
    au = afmio.load(write_wsxm(tmp_path / "a.top", RAW, z_amplitude="7 a.u."), dtype="float64")
    assert au.z_unit == "a.u."


def test_missing_z_amplitude_keeps_stored_values_with_a_note(tmp_path):
    stack = afmio.load(write_wsxm(tmp_path / "f.top", RAW, z_amplitude=None), dtype="float64")
    np.testing.assert_array_equal(stack.data[0], RAW[::-1, ::-1])
    assert "Z Amplitude" in stack.acquisition["z_scale_note"]


def test_rectangular_pixels_and_missing_y_amplitude(tmp_path):
    stack = afmio.load(write_wsxm(tmp_path / "f.top", RAW, x_amplitude="2 µm", y_amplitude="300 nm"))
    assert stack.pixel_size_nm == pytest.approx(500.0) and stack.pixel_size_y_nm == pytest.approx(100.0)
    square = afmio.load(write_wsxm(tmp_path / "g.top", RAW, x_amplitude="40 nm", y_amplitude=None))
    assert square.pixel_size_nm == pytest.approx(10.0) and square.pixel_size_y_nm == pytest.approx(40 / 3)


@pytest.mark.parametrize(("omit", "match"), [
    ("Control::X Amplitude", "X Amplitude"),
    ("General Info::Number of rows", "Number of rows"),
    ("General Info::Number of columns", "Number of columns"),
])
def test_missing_keys(tmp_path, omit, match):
    path = write_wsxm(tmp_path / "f.top", RAW, omit=[omit])
    with pytest.raises(CorruptFileError, match=match) as info:
        afmio.load(path)
    assert str(path) in str(info.value)


def test_missing_channel_name_is_topography(tmp_path):
    assert afmio.load(write_wsxm(tmp_path / "f.top", RAW, channel=None)).channel == "Topography"
    named = afmio.load(write_wsxm(tmp_path / "g.top", RAW, channel="Phase"))
    assert named.channel == "Phase"


def test_truncated_data_and_header(tmp_path):
    blob = build_wsxm(RAW)
    cut = tmp_path / "cut.top"
    cut.write_bytes(blob[:-3])
    with pytest.raises(TruncatedFileError, match=r"cut\.top"):
        afmio.load(cut)
    head_only = tmp_path / "head.top"
    head_only.write_bytes(blob[:100])
    with pytest.raises(TruncatedFileError):
        afmio.load(head_only)


def test_header_without_end_marker(tmp_path):
    path = write_wsxm(tmp_path / "f.top", RAW, end_marker=False)
    with pytest.raises(CorruptFileError, match="Header end"):
        afmio.load(path)


def test_miscounted_header_size_uses_the_end_marker(tmp_path):
    path = write_wsxm(tmp_path / "f.top", RAW, header_size_delta=-7)
    np.testing.assert_array_equal(afmio.load(path, dtype="float64").data.shape, (1, 3, 4))
    expected = RAW * 59.7449 / (RAW.max() - RAW.min())
    np.testing.assert_allclose(afmio.load(path, dtype="float64").data[0], expected[::-1, ::-1])


def test_huge_declared_image_is_refused_without_allocating(tmp_path):
    path = write_wsxm(tmp_path / "f.top", RAW, extra={"General Info::Number of rows": "100000000"})
    with pytest.raises(TruncatedFileError, match="100000000"):
        afmio.registry.probe(path)


def test_folder_ordered_by_acquisition_time(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    base = datetime(2024, 1, 2, 3, 4, 5)
    # Names sort against time: c is first in time, a last.
    for name, seconds, level in (("a", 20, 3), ("b", 10, 2), ("c", 0, 1)):
        when = base.replace(second=5 + seconds)
        write_wsxm(folder / f"{name}.stp", np.full((3, 4), float(level)), acquisition_time=when)
    stack = afmio.load(folder)
    assert stack.n_frames == 3
    assert stack.get_frame_times() == pytest.approx([0.0, 10.0, 20.0])
    np.testing.assert_array_equal(stack.data[:, 0, 0], [1.0, 2.0, 3.0])
    assert stack.acquisition["frame_order"] == "header date"
    with afmio.load(folder, lazy=True) as lazy:
        np.testing.assert_array_equal(np.asarray(lazy.data), stack.data)


def test_folder_without_times_is_in_natural_name_order(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    for i in (10, 2, 1):
        write_wsxm(folder / f"f{i}.stp", np.full((2, 2), float(i)), acquisition_time=None)
    stack = afmio.load(folder)
    np.testing.assert_array_equal(stack.data[:, 0, 0], [1.0, 2.0, 10.0])
    assert stack.get_frame_times() == [0, 1, 2]  # unknown: frame indices


def test_sniff_and_not_mine(tmp_path):
    good = write_wsxm(tmp_path / "f.top", RAW)
    assert wsxm.sniff(good) is True
    other = tmp_path / "other.top"
    other.write_bytes(b"WSxM file copyright UAM\r\nIV curve file\r\n")
    assert wsxm.sniff(other) is False
    with pytest.raises(UnsupportedFormatError):
        afmio.load(other, format="wsxm")
    assert wsxm.parse_header("junk\r\n[A]\r\n  k: v\r\n") == {"A::k": "v"}


def test_empty_member_is_an_error_not_skipped(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    write_wsxm(folder / "a.top", RAW)
    (folder / "b.top").write_bytes(b"")
    with pytest.raises(TruncatedFileError, match=r"b\.top"):
        afmio.load(folder)
