"""afmio's NID, Park TIFF, NanoScope ``.di`` and WSxM readers against SurfaceTopography.

SurfaceTopography's ``heights()`` are indexed ``[x, y]`` and oriented so that
``heights().T`` is Gwyddion's picture, which is afmio's ``data[0]``. Values agree to
float32 rounding after converting SurfaceTopography's unit to nm, and pixel sizes are
equal. SurfaceTopography reads only height-like (length) channels. Skipped when
SurfaceTopography is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

import afmio
from afmio_testdata.nid_builder import NidImage, write_nid
from afmio_testdata.park_builder import write_park

pytestmark = pytest.mark.interop

st = pytest.importorskip("SurfaceTopography")

NM = {"m": 1e9, "µm": 1e3, "um": 1e3, "nm": 1.0}


def _peer(path, index):
    reader = st.open_topography(str(path))
    channel = reader.channels[index]
    topo = reader.topography(channel_index=index)
    rows_cols = (channel.nb_grid_pts[1], channel.nb_grid_pts[0])
    factor = NM[topo.unit]
    sizes = [s * factor / n for s, n in zip(topo.physical_sizes, channel.nb_grid_pts)]
    return channel.name, topo.heights().T * factor, sizes, rows_cols


def _compare(path, channel, index):
    name, ref, (px, py), shape = _peer(path, index)
    stack = afmio.load(path, channel=channel)  # float32, as users get it
    assert stack.data.shape[1:] == shape
    assert stack.pixel_size_nm == pytest.approx(px, rel=1e-12)
    assert stack.pixel_size_y_nm == pytest.approx(py, rel=1e-12)
    ours = np.asarray(stack.data[0], dtype=np.float64)
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(ours, ref, rtol=0, atol=scale * 2**-23)
    return name


# SurfaceTopography's channel index -> afmio's channel name
NID = {0: "Z-Axis (Scan forward)", 1: "Z-AxisSensor (Scan forward)", 2: "Z-Axis (Scan backward)",
       3: "Z-AxisSensor (Scan backward)"}


@pytest.mark.parametrize("index", sorted(NID))
def test_nid_sample(sample, index):
    name = _compare(sample("nid/nid-1.nid"), NID[index], index)
    frame, _, dim2 = NID[index].partition(" (")
    assert name == f"{dim2[:-1]} ({frame})"  # SurfaceTopography writes "Scan forward (Z-Axis)"


def test_park_sample(sample):
    assert _compare(sample("park/example_ps.tiff"), "Z Height", 0) == "Z Height"


@pytest.mark.parametrize(("relative", "channel", "index"), [
    ("spm_single_versions/di-1.di", "Height", 0),
    ("spm_single_versions/di-4.di", "Height Sensor", 0),
    ("spm_single_versions/di-4.di", "Amplitude Error", 1),
])
def test_nanoscope_di_samples(sample, relative, channel, index):
    _compare(sample(relative), channel, index)


@pytest.mark.parametrize("relative", ["wsxm/sample_0.stp", "wsxm/sample_0.top"])
def test_wsxm_samples(sample, relative):
    _compare(sample(relative), "Topography", 0)


def test_synthetic_nid_and_park(tmp_path):
    rng = np.random.default_rng(11)
    raw = rng.integers(-(2**31), 2**31 - 1, (6, 8)).astype(np.int32)
    nid_path = write_nid(tmp_path / "f.nid", [NidImage("Z-Axis", raw, z_min=-3e-6, z_range=6e-6,
                                                       extent_m=(4e-6, 3e-6))])
    _compare(nid_path, "Z-Axis (Scan forward)", 0)
    values = rng.normal(size=(6, 8)).astype(np.float32)
    park_path = write_park(tmp_path / "p.tiff", values, data_gain=0.5, z_offset=0.25, scan_um=(4.0, 3.0))
    _compare(park_path, "Z Height", 0)
