"""JPK QI ``.jpk-qi-image``: the real sample against tifffile, repeated channel names, zones."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np
import pytest
import tifffile

import afmio
import afmio_builtins.jpk_qi as jpk_qi
from afmio.cli import main
from afmio.errors import CorruptFileError
from afmio_testdata.jpk_builder import ASCII, JpkChannel, write_jpk

SAMPLE = "other/sample_0.jpk-qi-image"
SAMPLE_CHANNELS = ["measuredHeight_trace", "vDeflection_trace", "measuredHeight_trace (2)", "adhesion_trace",
                   "height_trace", "slope_trace"]


def _slot(page, name_code_value):
    """Multiplier and offset of the slot whose name is the page's default slot (read by tifffile)."""
    tags = {t.code: t.value for t in page.tags}
    for base in range(0x8090, 0x8090 + 0x30 * int(tags[0x8080]), 0x30):
        if tags.get(base) == tags[0x8081]:
            return tags.get(base + 0x14, 1.0), tags.get(base + 0x15, 0.0), tags.get(base + 0x12)
    raise AssertionError(name_code_value)


def test_sample_channels_values_and_time_zone(sample):
    path = sample(SAMPLE)
    assert jpk_qi.channels(path) == SAMPLE_CHANNELS
    stack = afmio.load(path, dtype=np.float64)
    assert stack.channel == "height_trace" and stack.z_unit == "nm" and stack.shape == (1, 100, 100)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[5]
        mult, off, unit = _slot(page, "height")
        truth = np.flipud(page.asarray().astype(np.float64) * mult + off) * 1e9
        ulength = float(tf.pages[0].tags[0x8042].value)
    assert unit == "m"
    np.testing.assert_allclose(stack.data[0], truth, rtol=1e-12)
    assert stack.pixel_size_nm == pytest.approx(ulength / 100 * 1e9, rel=1e-15)
    # "2025-05-20 17:48:42.479 CEST" is 15:48:42.479 UTC (the file also names Europe/Paris)
    expected = datetime(2025, 5, 20, 15, 48, 42, 479000, tzinfo=timezone.utc)
    assert stack.frame_metadata[0]["start_epoch_ms"] == int(expected.timestamp() * 1000)
    assert stack.acquisition["time_zone"] == "CEST"


def test_repeated_name_is_the_second_page(sample):
    path = sample(SAMPLE)
    second = afmio.load(path, channel="measuredHeight_trace (2)", dtype=np.float64)
    with tifffile.TiffFile(path) as tf:
        mult, off, _ = _slot(tf.pages[3], "measuredHeight")
        truth = np.flipud(tf.pages[3].asarray().astype(np.float64) * mult + off) * 1e9
    np.testing.assert_allclose(second.data[0], truth, rtol=1e-12)
    assert second.acquisition["fancy_name"] == "Height (measured)"


@pytest.mark.parametrize(
    ("label", "hint", "utc_hour", "zone"),
    [
        ("CEST", None, 10, "CEST"),
        ("CET", None, 11, "CET"),
        # no label: the file's own zone (summer, +2)
        ("", "Europe/Paris", 10, "Europe/Paris (from metadata.user.timezone)"),
        ("XYZT", None, 12, "XYZT (assumed UTC)"),
    ],
)
def test_zone_labels_and_the_files_time_zone(tmp_path, label, hint, utc_hour, zone):
    extra = [(0x8065, ASCII, 0, f"metadata.user.name : u\nmetadata.user.timezone : {hint}\n", True)] if hint else []
    path = write_jpk(tmp_path / "a.jpk-qi-image", [JpkChannel("height", data=np.zeros((2, 3), np.int32))],
                     start=f"2025-06-01 12:00:00.000 {label}".strip(), end=f"2025-06-01 12:00:00.000 {label}".strip(),
                     extra_global_tags=extra)
    stack = afmio.load(path)
    expected = datetime(2025, 6, 1, utc_hour, tzinfo=timezone.utc)
    assert stack.frame_metadata[0]["start_epoch_ms"] == int(expected.timestamp() * 1000)
    assert stack.acquisition["time_zone"] == zone


def test_non_square_and_volts(tmp_path):
    raw = np.arange(12, dtype=np.int32).reshape(3, 4)
    path = write_jpk(tmp_path / "b.jpk-qi-image", [
        JpkChannel("measuredHeight", data=raw), JpkChannel("measuredHeight", data=raw * 2),
        JpkChannel("vDeflection", data=raw, unit="V", multiplier=0.5)], ulength=8e-8, vlength=3e-8)
    stack = afmio.load(path, channel="vDeflection_trace")
    assert stack.z_unit == "V" and stack.pixel_size_nm == pytest.approx(20.0)
    assert stack.pixel_size_y_nm == pytest.approx(10.0)
    np.testing.assert_array_equal(stack.data[0], np.flipud(raw * 0.5))
    assert jpk_qi.channels(path) == ["measuredHeight_trace", "measuredHeight_trace (2)", "vDeflection_trace"]


def test_page_beyond_the_file(tmp_path):
    path = write_jpk(tmp_path / "c.jpk-qi-image", [JpkChannel("height", data=np.zeros((20, 20), np.int32))])
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CorruptFileError, match=re.escape("c.jpk-qi-image")):
        jpk_qi.read(path)


def test_cli_converts_the_sample_to_hdf5(sample, tmp_path):
    src = sample("other/sample_0.jpk-qi-image")
    assert main(["-q", "convert", str(src), str(tmp_path / "out.h5")]) == 0
    back, ours = afmio.load(tmp_path / "out.h5"), afmio.load(src)
    np.testing.assert_array_equal(back.data, ours.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm, back.channel) == (ours.pixel_size_nm, ours.pixel_size_y_nm,
                                                                         ours.channel)
