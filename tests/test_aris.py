"""The ``aris`` driver: Asylum Research / Cypher VRS ``.aris`` movies.

Files come from the test-only writer (``afmio_testdata.aris_writer``); expected values
are the arrays written, converted by hand (metres * 1e9), and the times and pixel
sizes computed here from the attributes written.
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest

import afmio
from afmio import ChannelNotFoundError, CorruptFileError
from afmio_builtins import aris
from afmio_testdata.aris_writer import write_aris


def _heights(n: int = 4, rows: int = 6, cols: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 3e-9, (n, rows, cols))


def test_values_in_nm_and_channels(tmp_path):
    h = _heights()
    phase = np.random.default_rng(1).uniform(-90, 90, h.shape)
    path = write_aris(tmp_path / "m.aris", {"HeightTrace": h, "PhaseTrace": phase}, fast_scan_size_m=4e-8)
    assert afmio.registry.resolve(path).driver.name == "aris"
    assert afmio.registry.channels(path) == ["HeightTrace", "PhaseTrace"]
    stack = afmio.load(path)
    assert stack.channel == "HeightTrace" and stack.z_unit == "nm"
    assert np.array_equal(stack.data, (h * 1e9).astype(np.float32))
    assert stack.pixel_size_nm == pytest.approx(5.0) and stack.pixel_size_y_nm == pytest.approx(5.0)
    assert stack.acquisition["value_unit_source"].startswith("assumed")
    ph = afmio.load(path, channel="phasetrace")
    assert ph.channel == "PhaseTrace" and ph.z_unit == "deg"
    assert np.array_equal(ph.data, phase.astype(np.float32))
    with pytest.raises(ChannelNotFoundError):
        afmio.load(path, channel="AmplitudeTrace")


@pytest.mark.parametrize(("unit", "factor", "z_unit"), [("nm", 1.0, "nm"), ("um", 1e3, "nm"), ("V", 1.0, "V")])
def test_a_unit_attribute_decides(tmp_path, unit, factor, z_unit):
    values = np.random.default_rng(2).uniform(-1, 1, (2, 4, 5))
    path = write_aris(tmp_path / "u.aris", {"Height": values}, units={"Height": unit})
    stack = afmio.load(path)
    assert stack.z_unit == z_unit and stack.acquisition["file_unit"] == unit
    assert np.array_equal(stack.data, (values * factor).astype(np.float32))


def test_frames_sorted_numerically_and_times_relative_to_frame_0(tmp_path):
    n = 12
    h = _heights(n)
    numbers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    times = [5.0 + 0.2 * i for i in range(n)]
    # Written in a shuffled order; HDF5 lists "Frame 10" before "Frame 2".
    order = np.random.default_rng(3).permutation(n)
    path = write_aris(tmp_path / "s.aris", {"HeightTrace": h[order]}, frame_numbers=[numbers[i] for i in order],
                      times_s=times, start_time="2024-05-06 07:08:09.123456789 +0200", scan_rate_hz=50.0)
    stack = afmio.load(path)
    assert np.array_equal(stack.data, (h * 1e9).astype(np.float32))
    assert stack.get_frame_times() == [t - times[0] for t in times]
    start = datetime(2024, 5, 6, 5, 8, 9, tzinfo=timezone.utc).timestamp() + 0.123456789
    for i, md in enumerate(stack.frame_metadata):
        assert md["start_epoch_ms"] == round((start + times[i]) * 1000)
        assert md["line_rate"] == 50.0 and md["scan_direction"] is None
    assert stack.frame_metadata[0]["frame_duration_s"] == pytest.approx(0.2)
    assert stack.frame_metadata[-1]["frame_duration_s"] is None


def test_start_time_parsing():
    assert aris.parse_start_time("2024-03-01 12:00:00.500000001 +0100")[0] == pytest.approx(1709290800.500000001)
    assert aris.parse_start_time("2024-03-01 12:00:00 -0230")[0] == 1709303400.0
    assert aris.parse_start_time("2024-03-01 12:00:00.5")[0] is None  # no zone: not guessed
    assert aris.parse_start_time("yesterday")[0] is None
    assert aris.parse_start_time("2024-02-30 12:00:00 +0000")[0] is None


def test_per_frame_pixel_sizes_are_kept_and_reported(tmp_path, capsys):
    h = _heights(5)
    overrides = {2: {"FastScanSize": 8e-8}, 3: {"FastScanSize": 8e-8, "ScanPoints": 16}, 4: {"ScanRate": 25.0}}
    path = write_aris(tmp_path / "px.aris", {"HeightTrace": h}, fast_scan_size_m=4e-8, frame_scan=overrides)
    with pytest.warns(UserWarning, match=r"pixel size varies between frames \(5\.\.10 nm; 1 of 5 frames differ"):
        stack = afmio.load(path)
    assert stack.pixel_size_nm == 5.0
    assert [m["frame_pixel_size_nm"] for m in stack.frame_metadata] == [5.0, 5.0, 10.0, 5.0, 5.0]
    assert [m["line_rate"] for m in stack.frame_metadata] == [100.0, 100.0, 100.0, 100.0, 25.0]
    assert stack.acquisition["frames_with_other_pixel_size"] == 1
    assert stack.acquisition["pixel_size_range_nm"] == [5.0, 10.0]
    assert afmio.registry.probe(path).frame_pixel_sizes_nm == [5.0, 5.0, 10.0, 5.0, 5.0]

    from afmio.cli import main

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"pixel size varies\s+5\.\.10 nm \(1 of 5 frames differ from frame 0\)", out)


def test_no_variation_line_when_every_frame_agrees(tmp_path, capsys):
    from afmio.cli import main

    path = write_aris(tmp_path / "same.aris", {"HeightTrace": _heights(3)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        afmio.load(path)
    assert main(["info", str(path)]) == 0
    assert "pixel size varies" not in capsys.readouterr().out


def test_lazy_reads_frames_on_demand(tmp_path):
    h = _heights(6)
    path = write_aris(tmp_path / "lazy.aris", {"HeightTrace": h}, compression="gzip")
    with afmio.load(path, lazy=True) as stack:
        assert stack.is_lazy
        assert np.array_equal(stack.get_frame(4), (h[4] * 1e9).astype(np.float32))
        assert np.array_equal(stack[1:3].data, (h[1:3] * 1e9).astype(np.float32))


def test_missing_times_give_unknown_timestamps(tmp_path):
    path = write_aris(tmp_path / "t.aris", {"HeightTrace": _heights(3)}, times_s=[], start_time=None)
    with pytest.warns(UserWarning, match="Series/Time"):
        stack = afmio.load(path)
    assert [m["timestamp"] for m in stack.frame_metadata] == [None, None, None]
    assert stack.acquisition["start_time_note"] == "no StartTime"


def test_wrong_time_count_is_an_error(tmp_path):
    path = write_aris(tmp_path / "t.aris", {"HeightTrace": _heights(3)}, times_s=[0.0, 1.0])
    with pytest.raises(CorruptFileError, match=r"t\.aris.*Series/Time holds 2"):
        afmio.load(path)


def test_frames_of_another_shape_are_refused(tmp_path):
    path = write_aris(tmp_path / "shape.aris", {"HeightTrace": _heights(2)})
    with h5py.File(path, "a") as f:
        del f["DataSet/Resolution 0/Frame 1/HeightTrace/Image"]
        f["DataSet/Resolution 0/Frame 1/HeightTrace"].create_dataset("Image", data=np.zeros((3, 3)))
    with pytest.raises(CorruptFileError, match=r"Frame 1/HeightTrace/Image is \(3, 3\) but frame 0 is \(6, 8\)"):
        afmio.load(path)


def test_a_huge_declared_image_in_a_small_file_is_refused_before_allocating(tmp_path):
    path = write_aris(tmp_path / "huge.aris", {"HeightTrace": _heights(1)})
    with h5py.File(path, "a") as f:
        group = f["DataSet/Resolution 0/Frame 0/HeightTrace"]
        del group["Image"]
        group.create_dataset("Image", shape=(20000, 20000), dtype=np.float64)  # 3.2 GB, never written
    assert path.stat().st_size < 100_000
    with pytest.raises(CorruptFileError, match=r"declares .* but stores only 0 bytes"):
        afmio.load(path)
    with pytest.raises(CorruptFileError):
        afmio.registry.probe(path)


def test_not_aris_and_damaged_files(tmp_path):
    other = tmp_path / "other.aris"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    assert aris.sniff(other) is False
    with pytest.raises(CorruptFileError, match=r"other\.aris.*no /DataSet/Resolution 0"):
        aris.read(other)
    junk = tmp_path / "junk.aris"
    junk.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(CorruptFileError, match=r"junk\.aris"):
        aris.read(junk)
    good = write_aris(tmp_path / "cut.aris", {"HeightTrace": _heights(2)})
    good.write_bytes(good.read_bytes()[:1500])
    with pytest.raises(CorruptFileError, match=r"cut\.aris"):
        aris.read(good)


def test_missing_scan_size_is_named(tmp_path):
    path = write_aris(tmp_path / "noscan.aris", {"HeightTrace": _heights(2)})
    with h5py.File(path, "a") as f:
        del f["DataSetInfo/Global/Parameters/Scan"].attrs["FastScanSize"]
    with pytest.raises(CorruptFileError, match="Global FastScanSize must be a positive number"):
        afmio.load(path)


def test_small_unwritten_images_cannot_add_up_to_a_large_allocation(tmp_path):
    path = write_aris(tmp_path / "many.aris", {"HeightTrace": _heights(40)})
    with h5py.File(path, "a") as f:
        for i in range(40):
            group = f[f"DataSet/Resolution 0/Frame {i}/HeightTrace"]
            del group["Image"]
            group.create_dataset("Image", shape=(360, 360), dtype=np.float64)  # 1 MB each, never written
    with pytest.raises(CorruptFileError, match=r"the 40 HeightTrace images declare \d+ bytes but store only 0"):
        afmio.load(path)
