"""The ``nhf`` driver: Nanosurf ``.nhf`` files and folders of them.

Files come from the test-only writer (``afmio_testdata.nhf_writer``). Expected values
are computed here from the raw codes stored in the file with the scaling formula of
Nanosurf's reader (an independent float64 computation, lines reversed), and must
equal the written physical values to within one quantisation step.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import afmio
from afmio import CorruptFileError, UnsupportedFormatError
from afmio_builtins import nhf
from afmio_testdata.nhf_writer import write_nhf


def _topo(lines: int = 6, points: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2e-9, (lines, points))


def _expected_nm(path, dataset: str, version: int, lines: int, points: int) -> np.ndarray:
    """Nanosurf's formula by hand: (raw - tmin) * step + cmin, step = (cmax - cmin) / (tmax - tmin); flipud; nm."""
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        raw = ds[()].astype(np.float64)
        prefix = "signal" if version == 2 else "base"
        cmin, cmax = ds.attrs[f"{prefix}_calibration_min"], ds.attrs[f"{prefix}_calibration_max"]
    tmin, tmax = (-(2.0**31) + 1, 2.0**31 - 1) if version == 2 else (-(2.0**31), 2.0**31 - 1)
    step = (cmax - cmin) / (tmax - tmin)
    values = (raw - tmin) * step + cmin
    return np.flipud(values.reshape(lines, points)) * 1e9


@pytest.mark.parametrize("version", [(1, 1), (2, 0)])
def test_one_file_is_a_one_frame_stack(tmp_path, version):
    topo = _topo()
    path = write_nhf(tmp_path / "scan.nhf", {("Forward", "Topography"): topo, ("Backward", "Topography"): -topo,
                                            ("Forward", "Z-Controller In"): topo * 1e8},
                     version=version, range_m=(8e-8, 3e-8))
    assert afmio.registry.resolve(path).driver.name == "nhf"
    assert afmio.registry.channels(path) == ["Topography_trace", "Z-Controller In_trace", "Topography_retrace"]
    stack = afmio.load(path)
    assert stack.shape == (1, 6, 8) and stack.channel == "Topography_trace" and stack.z_unit == "nm"
    assert stack.pixel_size_nm == pytest.approx(10.0) and stack.pixel_size_y_nm == pytest.approx(5.0)
    expected = _expected_nm(path, "measurement_0/segment_0/dataset_0", version[0], 6, 8)
    assert np.array_equal(stack.data[0], expected.astype(np.float32))
    step = 2 * 1.2 * np.abs(topo).max() / 2**32 * 1e9
    assert np.abs(stack.data[0] - topo * 1e9).max() <= step + 1e-6
    back = afmio.load(path, channel="topography_retrace")
    assert np.allclose(back.data[0], -topo * 1e9, atol=step + 1e-6)
    volts = afmio.load(path, channel="Z-Controller In_trace")
    assert volts.z_unit == "V" and np.allclose(volts.data[0], topo * 1e8, atol=1e-6)
    md = stack.frame_metadata[0]
    assert md["timestamp"] == 0.0 and md["line_rate"] == 2.0 and md["scan_direction"] == "bottomUp"
    assert md["start_epoch_ms"] == 1689693998320  # 2023-07-18T15:26:38.320Z
    assert stack.acquisition["nhf_version"] == f"{version[0]}.{version[1]}"


def test_a_folder_is_a_video_ordered_by_created_time(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    frames = [_topo(seed=i) for i in range(3)]
    stamps = ["2024-01-02T03:04:09.000Z", "2024-01-02T03:04:05.250Z", "2024-01-02T03:04:07.000Z"]
    for i, (frame, stamp) in enumerate(zip(frames, stamps)):
        write_nhf(folder / f"img_{i}.nhf", {("Forward", "Topography"): frame}, created=stamp, range_m=(8e-8, 6e-8))
    stack = afmio.load(folder)
    assert stack.acquisition["files"] == ["img_1.nhf", "img_2.nhf", "img_0.nhf"]
    assert stack.get_frame_times() == [0.0, 1.75, 3.75]
    for got, src in zip(stack.data, (frames[1], frames[2], frames[0])):
        assert np.allclose(got, src * 1e9, atol=1e-6)
    assert afmio.registry.probe(folder).frame_pixel_sizes_nm == pytest.approx([10.0] * 3)


def test_not_measured_pixels_of_version_2_are_nan(tmp_path):
    topo = _topo()
    mask = np.zeros(topo.shape, bool)
    mask[0, :3] = True
    path = write_nhf(tmp_path / "m.nhf", {("Forward", "Topography"): topo}, version=(2, 0),
                     missing={("Forward", "Topography"): mask})
    data = afmio.load(path).data[0]
    assert np.array_equal(np.isnan(data), mask)
    assert np.allclose(data[~mask], topo[~mask] * 1e9, atol=1e-6)


def test_only_the_first_of_several_measurements_is_read(tmp_path):
    path = write_nhf(tmp_path / "two.nhf", {("Forward", "Topography"): _topo()}, measurements=2)
    with pytest.warns(UserWarning, match="2 image measurements; only the first"):
        stack = afmio.load(path)
    assert stack.n_frames == 1 and stack.acquisition["measurements"] == 2


def test_non_image_datasets_are_not_channels(tmp_path):
    path = write_nhf(tmp_path / "s.nhf", {("Forward", "Topography"): _topo()})
    with h5py.File(path, "a") as f:
        seg = f["measurement_0/segment_0"]
        curve = seg.create_dataset("dataset_9", data=np.zeros(150 * 48, np.int16))
        curve.attrs.update({"name": "NMA Deflection", "dataset_element_type": np.uint32(5),
                            "base_calibration_min": -5.0, "base_calibration_max": 5.0, "base_calibration_unit": "V"})
        helper = seg.create_dataset("dataset_10", data=np.zeros(48, np.int32))
        helper.attrs.update({"name": "nma_interaction_min", "dataset_element_type": np.uint32(0)})
    assert afmio.registry.channels(path) == ["Topography_trace"]


def test_created_parsing():
    assert nhf.parse_created("2023-07-18T15:26:38.320Z") == pytest.approx(1689693998.32)
    assert nhf.parse_created("2023-07-18T17:26:38+02:00") == pytest.approx(1689693998.0)
    assert nhf.parse_created("2023-07-18T15:26:38") is None  # no zone: not guessed
    assert nhf.parse_created("soon") is None


def test_other_hdf5_and_damaged_files(tmp_path):
    other = tmp_path / "plain.nhf"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    assert nhf.sniff(other) is False
    with pytest.raises(UnsupportedFormatError, match=r"plain\.nhf.*not a Nanosurf NHF file"):
        nhf.read(other)
    future = write_nhf(tmp_path / "v3.nhf", {("Forward", "Topography"): _topo()})
    with h5py.File(future, "a") as f:
        f.attrs["nsf_file_version_major"] = np.uint32(3)
    with pytest.raises(UnsupportedFormatError, match=r"version 3\.1 is not supported"):
        nhf.read(future)
    bad_type = write_nhf(tmp_path / "type.nhf", {("Forward", "Topography"): _topo()})
    with h5py.File(bad_type, "a") as f:
        f["measurement_0/segment_0/dataset_0"].attrs["dataset_element_type"] = np.uint32(42)
    with pytest.raises(CorruptFileError, match="unknown dataset_element_type"):
        nhf.read(bad_type)
    cut = write_nhf(tmp_path / "cut.nhf", {("Forward", "Topography"): _topo()})
    cut.write_bytes(cut.read_bytes()[: os.path.getsize(cut) // 3])
    with pytest.raises(CorruptFileError, match=r"cut\.nhf"):
        nhf.read(cut)


def test_a_huge_declared_dataset_in_a_small_file_is_refused(tmp_path):
    path = write_nhf(tmp_path / "huge.nhf", {("Forward", "Topography"): _topo()})
    with h5py.File(path, "a") as f:
        m = f["measurement_0"]
        m.attrs["image_points_per_line"] = np.uint32(20000)
        m.attrs["image_number_of_lines"] = np.uint32(20000)
        seg = m["segment_0"]
        attrs = dict(seg["dataset_0"].attrs)
        del seg["dataset_0"]
        ds = seg.create_dataset("dataset_0", shape=(20000 * 20000,), dtype=np.int32)  # 1.6 GB, never written
        ds.attrs.update(attrs)
    assert path.stat().st_size < 100_000
    with pytest.raises(CorruptFileError, match=r"huge\.nhf: 1 frames of 20000 x 20000 would need"):
        afmio.load(path)
    with afmio.load(path, lazy=True) as lazy, \
            pytest.raises(CorruptFileError, match=r"declares .* but stores only 0 bytes"):
        lazy.get_frame(0)
