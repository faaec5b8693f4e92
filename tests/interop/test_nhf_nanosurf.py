"""afmio's NHF reader against Nanosurf's own (``nanosurf.utils.io.nhf_reader``) on the same files.

Files: the test-only writer's (versions 1.1 and 2.0) and the real example file
``SBS-PS_example_data.nhf`` that ships inside ``nanosurf-apps`` (a 1.1 WaveMode NMA
image, read in place from the installed package). Values must equal Nanosurf's
``read_channel(..., as_matrix=True)`` times 1e9 for lengths (cast to float32), the
pixel size its ``dataset_range / dataset_size``, the frame time its measurement's
``created`` attribute, and every Forward/Backward image channel must be listed as
``<name>_trace`` / ``<name>_retrace``. Skipped without the ``nanosurf`` package.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio_testdata.nhf_writer import write_nhf

pytestmark = pytest.mark.interop

nhf_reader = pytest.importorskip("nanosurf.utils.io.nhf_reader")

SUFFIX = {"Forward": "_trace", "Backward": "_retrace"}


def _example_file() -> Path | None:
    try:
        import nanosurf.apps as apps
    except ImportError:
        return None
    found = list(Path(next(iter(apps.__path__))).glob("wavemode_nma_analysis/example_data/*.nhf"))
    return found[0] if found else None


def _image_channels(measurement) -> list[tuple[str, str]]:
    """(segment, channel) of every calibrated image-sized channel, in Nanosurf's order."""
    pixels = measurement.dataset_size_x * measurement.dataset_size_y
    out = []
    for segment in measurement.segments:
        for ch in segment.channels:
            calibrated = "signal_calibration_unit" in ch.attribute or "base_calibration_unit" in ch.h5_dataset.attrs
            if ch.h5_dataset.size == pixels and calibrated:
                out.append((segment.name, ch.name))
    return out


def _compare(path: Path) -> int:
    """Check every image channel of ``path``; return how many were compared."""
    with nhf_reader.NHFFileReader(path) as reader:
        measurement = reader.measurements[0]
        pairs = _image_channels(measurement)
        names = [name + SUFFIX[segment] for segment, name in pairs]
        assert afmio.registry.channels(path) == names
        created = datetime.fromisoformat(measurement.attribute["created"].replace("Z", "+00:00")).timestamp()
        for (segment, name), ours_name in zip(pairs, names):
            ns = measurement.segment[segment].read_channel(name, as_matrix=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = afmio.load(path, channel=ours_name)
            factor = 1e9 if ns.unit == "m" else 1.0
            assert ours.z_unit == ("nm" if ns.unit == "m" else ns.unit)
            theirs = np.asarray(ns.dataset, np.float64)
            nan_fill = np.finfo(np.float64).min  # Nanosurf's stand-in for "not measured"
            missing = theirs == nan_fill
            assert np.array_equal(np.isnan(ours.data[0]), missing), ours_name
            want = np.where(missing, np.nan, theirs)
            want = (want * factor).astype(np.float32)
            assert np.array_equal(ours.data[0], want, equal_nan=True), ours_name
            assert ours.pixel_size_nm == pytest.approx(ns.dataset_range_x / ns.dataset_size_x * 1e9, rel=1e-12)
            assert ours.pixel_size_y_nm == pytest.approx(ns.dataset_range_y / ns.dataset_size_y * 1e9, rel=1e-12)
            assert ours.frame_metadata[0]["start_epoch_ms"] == round(created * 1000)
        return len(pairs)


@pytest.mark.parametrize("version", [(1, 1), (2, 0)])
@pytest.mark.parametrize("element_type", ["int32", "int16", "uint16"])
def test_written_files_match_nanosurf(tmp_path, version, element_type):
    rng = np.random.default_rng(11)
    topo = rng.normal(0.0, 3e-9, (10, 14))
    missing = None
    if version[0] == 2:
        gaps = np.zeros(topo.shape, bool)
        gaps[-2:, :5] = True  # an aborted last line pair
        missing = {("Forward", "Topography"): gaps}
    path = write_nhf(tmp_path / "scan.nhf", {
        ("Forward", "Topography"): topo, ("Backward", "Topography"): topo[:, ::-1],
        ("Forward", "Z-Controller In"): rng.uniform(-1, 1, topo.shape),
        ("Backward", "Z-Controller In"): rng.uniform(-1, 1, topo.shape),
    }, version=version, element_type=element_type, range_m=(1.4e-7, 5e-8), missing=missing,
        created="2024-06-07T08:09:10.250Z")
    assert _compare(path) == 4


def test_the_example_file_shipped_with_nanosurf_matches(tmp_path):
    example = _example_file()
    if example is None:
        pytest.skip("nanosurf-apps (with its example .nhf) is not installed")
    assert _compare(example) == 8
    stack = afmio.load(example)
    assert stack.channel == "Topography_trace" and stack.shape == (1, 100, 100)
    assert stack.pixel_size_nm == pytest.approx(100.0)


def test_a_folder_is_ordered_by_nanosurfs_created_times(tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    stamps = ["2024-06-07T08:09:14.000Z", "2024-06-07T08:09:10.500Z", "2024-06-07T08:09:12.000Z"]
    frames = [np.random.default_rng(i).normal(0, 2e-9, (6, 8)) for i in range(3)]
    for i, (stamp, frame) in enumerate(zip(stamps, frames)):
        write_nhf(folder / f"f{i}.nhf", {("Forward", "Topography"): frame}, created=stamp)
    stack = afmio.load(folder)
    created = []
    for name in stack.acquisition["files"]:
        with nhf_reader.NHFFileReader(folder / name) as reader:
            m = reader.measurements[0]
            created.append(datetime.fromisoformat(m.attribute["created"].replace("Z", "+00:00")).timestamp())
            ns = m.segment["Forward"].read_channel("Topography", as_matrix=True)
            index = stack.acquisition["files"].index(name)
            assert np.array_equal(stack.data[index], (np.asarray(ns.dataset) * 1e9).astype(np.float32))
    assert created == sorted(created)
    assert stack.get_frame_times() == pytest.approx([t - created[0] for t in created])
