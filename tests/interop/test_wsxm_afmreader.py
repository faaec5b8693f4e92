"""afmio's WSxM reader against AFMReader 0.0.7 (``AFMReader.stp`` / ``AFMReader.top``).

Orientation: afmio follows Gwyddion (the stored image turned by 180 degrees), AFMReader
returns the stored order, so ``afmio[::-1, ::-1]`` is compared. Values: ``.stp`` doubles
agree to float32 rounding. For ``.top`` AFMReader shifts the minimum to 0 and, in 0.0.7,
reads only the integer part of ``Z Amplitude`` (``59.7449 nm`` -> 59), so its image is
``(afmio - afmio.min()) * int(Z) / Z``. Skipped when AFMReader is absent.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

import afmio
from afmio_testdata.wsxm_builder import write_wsxm

pytestmark = pytest.mark.interop

afmreader_stp = pytest.importorskip("AFMReader.stp")
afmreader_top = pytest.importorskip("AFMReader.top")


@pytest.fixture(autouse=True)
def _quiet_loguru():
    logging.getLogger("AFMReader").setLevel(logging.WARNING)


def _afmio(path):
    stack = afmio.load(path)  # float32, as users get it
    return stack, np.asarray(stack.data[0], dtype=np.float64)[::-1, ::-1]


def test_stp_sample_matches(sample):
    path = sample("wsxm/sample_0.stp")
    ref, px = afmreader_stp.load_stp(path)
    stack, ours = _afmio(path)
    assert stack.pixel_size_nm == px and stack.pixel_size_y_nm == px
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-5)  # float32 of values near -80 nm
    # numbers for the report
    assert ref.min() == pytest.approx(-80.79984113928448) and ref.max() == pytest.approx(-21.054941139284477)
    assert ref[-1, -1] == pytest.approx(float(stack.data[0, 0, 0]), abs=1e-5)


def test_top_sample_matches_up_to_afmreaders_offset_and_truncated_amplitude(sample):
    path = sample("wsxm/sample_0.top")
    ref, px = afmreader_top.load_top(path)
    stack, ours = _afmio(path)
    assert stack.pixel_size_nm == px and stack.pixel_size_y_nm == px
    z = 59.7449  # the header's Z Amplitude (nm); AFMReader 0.0.7 uses math.floor of it
    np.testing.assert_allclose((ours - ours.min()) * math.floor(z) / z, ref, rtol=0, atol=1e-5)
    assert ref.min() == 0.0 and ref.max() == 59.0


@pytest.mark.parametrize("dtype", ["<f8", "<i2"])
def test_synthetic_files_match(tmp_path, dtype):
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 5, (6, 8)).astype(dtype) if dtype == "<f8" else rng.integers(-900, 900, (6, 8)).astype(dtype)
    path = write_wsxm(tmp_path / ("f.stp" if dtype == "<f8" else "f.top"), raw, x_amplitude="40 nm",
                      y_amplitude="40 nm", z_amplitude="22 nm")
    stack, ours = _afmio(path)
    if dtype == "<f8":
        ref, px = afmreader_stp.load_stp(path)
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    else:
        ref, px = afmreader_top.load_top(path)
        np.testing.assert_allclose(ours - ours.min(), ref, rtol=1e-6, atol=1e-5)
    assert stack.pixel_size_nm == px == 5.0
