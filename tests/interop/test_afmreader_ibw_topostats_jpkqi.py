"""afmio's IBW, TopoStats and JPK QI readers against AFMReader 0.0.7 on the real samples.

Values must agree to float32 rounding and pixel sizes exactly. Skipped when AFMReader
is absent (``nox -s interop`` installs it).
"""

from __future__ import annotations

import numpy as np
import pytest

import afmio

pytestmark = pytest.mark.interop

pytest.importorskip("AFMReader")

IBW = "ibw/Example_ibw.ibw"
QI = "other/sample_0.jpk-qi-image"


def _close(ours: np.ndarray, theirs: np.ndarray) -> None:
    theirs = np.asarray(theirs, np.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(theirs))))


@pytest.mark.parametrize("channel", ["HeightTracee", "HeightRetracece", "AmplitudeRetracece", "NapAmplitudeRetrace"])
def test_ibw_lengths_match(sample, channel):
    from AFMReader.ibw import load_ibw

    path = sample(IBW)
    image, px = load_ibw(path, channel)
    stack = afmio.load(path, channel=channel)
    assert stack.z_unit == "nm" and stack.pixel_size_nm == px == stack.pixel_size_y_nm
    _close(stack.data[0], image)


@pytest.mark.parametrize("channel", ["PhaseRetracece", "NapPhaseRetrace"])
def test_ibw_phase_matches_without_afmreaders_length_factor(sample, channel):
    """AFMReader multiplies every layer by 1e9; afmio keeps phase in degrees."""
    from AFMReader.ibw import load_ibw

    path = sample(IBW)
    image, _ = load_ibw(path, channel)
    stack = afmio.load(path, channel=channel)
    assert stack.z_unit == "deg"
    _close(stack.data[0], np.asarray(image, np.float64) / 1e9)


@pytest.mark.parametrize("name", ["sample_0_1", "sample_0_2"])
def test_topostats_matches(sample, name):
    from AFMReader.topostats import load_topostats

    path = sample(f"topostats/{name}.topostats")
    theirs = load_topostats(path)
    for channel in [c for c in ("image", "image_original") if c in theirs]:
        stack = afmio.load(path, channel=channel, dtype=np.float64)
        np.testing.assert_array_equal(stack.data[0], theirs[channel])
        assert stack.pixel_size_nm == theirs["pixel_to_nm_scaling"]


QI_CHANNELS = [("height_trace", "height_trace"), ("measuredHeight_trace (2)", "measuredHeight_trace"),
               ("adhesion_trace", "adhesion_trace"), ("vDeflection_trace", "vDeflection_trace"),
               ("slope_trace", "slope_trace")]


@pytest.mark.parametrize(("ours", "theirs"), QI_CHANNELS)
def test_jpk_qi_matches(sample, ours, theirs):
    """AFMReader returns the last page of a repeated name: afmio's ``(2)`` channel."""
    from AFMReader.jpk import load_jpk

    path = sample(QI)
    image, px = load_jpk(path, theirs)
    stack = afmio.load(path, channel=ours, dtype=np.float64)
    assert stack.pixel_size_nm == px
    values = np.asarray(image, np.float64)
    if stack.z_unit == "nm" and theirs.split("_")[0] not in ("height", "measuredHeight", "amplitude"):
        values = values * 1e9  # a length AFMReader leaves in metres (it scales only these three names)
    _close(stack.data[0], values)
