"""Asylum Research ``.ibw``: the real sample against its bytes, built waves, folders, damage."""

from __future__ import annotations

import re
import struct
import sys

import numpy as np
import pytest

import afmio
import afmio_builtins.ibw as ibw
from afmio.cli import main
from afmio.errors import CorruptFileError, MissingDependencyError, UnsupportedFormatError
from afmio_testdata.ibw_builder import write_ibw

SAMPLE = "ibw/Example_ibw.ibw"
SAMPLE_CHANNELS = ["HeightTracee", "HeightRetracece", "AmplitudeRetracece", "NapAmplitudeRetrace",
                   "PhaseRetracece", "NapPhaseRetrace"]


def _independent_layers(raw: bytes) -> np.ndarray:
    """The sample's layers read straight from the bytes: float32 after the 384 header bytes."""
    points, lines, layers = struct.unpack_from("<3i", raw, 64 + 68)
    data = np.frombuffer(raw, "<f4", points * lines * layers, 384).reshape(layers, lines, points)
    return data[:, ::-1, :]  # Igor's first line is the bottom one


def test_sample_channels_values_and_scale(sample):
    path = sample(SAMPLE)
    raw = path.read_bytes()
    assert ibw.channels(path) == SAMPLE_CHANNELS
    stack = afmio.load(path)
    assert stack.channel == "HeightTracee" and stack.z_unit == "nm" and stack.shape == (1, 256, 256)
    truth = _independent_layers(raw)
    np.testing.assert_allclose(stack.data[0], truth[0].astype(np.float64) * 1e9, rtol=1e-6)
    fast = float(re.search(rb"\rFastScanSize: ([0-9.e+-]+)", raw).group(1))
    slow = float(re.search(rb"\rSlowScanSize: ([0-9.e+-]+)", raw).group(1))
    assert stack.pixel_size_nm == pytest.approx(fast / 256 * 1e9, rel=1e-15) == 78.125
    assert stack.pixel_size_y_nm == pytest.approx(slow / 256 * 1e9, rel=1e-15)
    md = stack.frame_metadata[0]
    assert md["timestamp"] == 0.0 and md["start_epoch_ms"] is None  # local time, no zone
    assert md["frame_duration_s"] == 511.18 and md["line_rate"] == 1.0016 and md["scan_direction"] == "topDown"
    assert stack.acquisition["date"] == "2009-06-03 22:01:29 (local time, zone not recorded)"
    assert stack.acquisition["imaging_mode"] == "AC Mode"


def test_sample_phase_is_in_degrees(sample):
    path = sample(SAMPLE)
    phase = afmio.load(path, channel="PhaseRetracece")
    assert phase.z_unit == "deg"
    np.testing.assert_allclose(phase.data[0], _independent_layers(path.read_bytes())[4], rtol=1e-6)


def test_built_wave_non_square_with_layers(tmp_path):
    rng = np.random.default_rng(0)
    height = rng.normal(0, 1e-9, (4, 6))
    phase = rng.normal(90, 5, (4, 6))
    volts = rng.normal(0, 1, (4, 6))
    path = write_ibw(tmp_path / "w.ibw", {"ZSensorRetrace": height * 2, "HeightTrace": height,
                                          "PhaseTrace": phase, "UserIn0Trace": volts},
                     note={"FastScanSize": "3e-06", "SlowScanSize": "1e-06"})
    assert ibw.sniff(path) is True
    stack = afmio.load(path, dtype=np.float64)
    assert stack.channel == "HeightTrace"  # height trace before the Z sensor
    np.testing.assert_allclose(stack.data[0], height.astype(np.float32).astype(np.float64) * 1e9, rtol=1e-15)
    assert stack.pixel_size_nm == pytest.approx(500.0) and stack.pixel_size_y_nm == pytest.approx(250.0)
    p = afmio.load(path, channel="phasetrace", dtype=np.float64)
    assert p.z_unit == "deg"
    np.testing.assert_allclose(p.data[0], phase.astype(np.float32), rtol=0)
    assert afmio.load(path, channel="UserIn0Trace").z_unit == "V"


def test_folder_of_waves_is_a_video_timed_by_local_time(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    for name, time in (("s0010.ibw", "10:06:40"), ("s0002.ibw", "10:03:20"), ("s0001.ibw", "10:00:00")):
        write_ibw(folder / name, {"HeightTrace": np.full((3, 3), 1e-9)}, note={"Time": time})
    stack = afmio.load(folder)
    assert stack.acquisition["files"] == ["s0001.ibw", "s0002.ibw", "s0010.ibw"]  # no zone: name order
    assert [md["timestamp"] for md in stack.frame_metadata] == [0.0, 200.0, 400.0]
    assert all(md["start_epoch_ms"] is None for md in stack.frame_metadata)


def test_wrong_version_and_oversized_headers(tmp_path):
    path = write_ibw(tmp_path / "w.ibw", {"HeightTrace": np.zeros((3, 3))})
    raw = bytearray(path.read_bytes())
    bad = tmp_path / "v2.ibw"
    bad.write_bytes(struct.pack("<h", 2) + bytes(raw[2:]))
    assert ibw.sniff(bad) is False
    with pytest.raises(UnsupportedFormatError, match="version"):
        ibw.read(bad)
    raw[64 + 68:64 + 72] = struct.pack("<i", 1 << 28)  # 2^28 points declared
    big = tmp_path / "big.ibw"
    big.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match=re.escape("big.ibw")):
        ibw.read(big)
    cut = tmp_path / "cut.ibw"
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptFileError, match=re.escape("cut.ibw")):
        ibw.read(cut)


def test_missing_igor2_names_the_extra(tmp_path, monkeypatch):
    path = write_ibw(tmp_path / "w.ibw", {"HeightTrace": np.zeros((3, 3))})
    monkeypatch.setitem(sys.modules, "igor2", None)
    with pytest.raises(MissingDependencyError, match=r"afmio\[ibw\]"):
        ibw.read(path)


def test_cli_converts_the_sample_to_hdf5(sample, tmp_path):
    src = sample("ibw/Example_ibw.ibw")
    assert main(["-q", "convert", str(src), str(tmp_path / "out.h5")]) == 0
    back, ours = afmio.load(tmp_path / "out.h5"), afmio.load(src)
    np.testing.assert_array_equal(back.data, ours.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm, back.channel) == (ours.pixel_size_nm, ours.pixel_size_y_nm,
                                                                         ours.channel)
