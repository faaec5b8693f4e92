"""afmio's ARIS reader against playNano 0.5.0's ``load_afm_stack`` on the same files.

Files come from the test-only writer. playNano returns the stored values unconverted
(metres, labelled nm); afmio converts them to nm, so the values must equal playNano's
times 1e9 (cast to float32). Per-frame pixel sizes, timestamps, line rates and the
channel must be equal; start epochs may differ by 1 ms (playNano truncates the start
to whole ms after keeping six fractional digits). Skipped without playNano.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import afmio
from afmio.compat import playnano as compat
from afmio_testdata.aris_writer import write_aris

pytestmark = pytest.mark.interop

playnano = pytest.importorskip("playnano")
if getattr(playnano, "__version__", "0.5.0") != "0.5.0":  # the layout is pinned to 0.5.0
    pytest.skip(f"interop targets playNano 0.5.0, found {playnano.__version__}", allow_module_level=True)

from playnano.io.loader import load_afm_stack  # noqa: E402


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _files(tmp_path):
    rng = np.random.default_rng(17)
    n = 13  # "Frame 10".."Frame 12" sort before "Frame 2" by name
    heights = rng.normal(0.0, 4e-9, (n, 12, 16))
    phase = rng.uniform(-60.0, 60.0, (n, 12, 16))
    times = np.cumsum(rng.uniform(0.05, 0.15, n)) + 3.0
    yield "plain", write_aris(tmp_path / "plain.aris", {"HeightTrace": heights, "PhaseTrace": phase},
                              fast_scan_size_m=1.6e-7, times_s=list(times),
                              start_time="2025-02-03 04:05:06.987654321 -0500"), "HeightTrace"
    overrides = {4: {"FastScanSize": 3.2e-7}, 7: {"FastScanSize": 2.0e-7, "ScanPoints": 20}, 9: {"ScanRate": 50.0}}
    yield "varying", write_aris(tmp_path / "varying.aris", {"Height": heights.astype(np.float32)},
                                fast_scan_size_m=1.6e-7, frame_scan=overrides, channel_names_as_bytes=False,
                                compression="gzip"), "Height"
    order = rng.permutation(n)
    yield "shuffled", write_aris(tmp_path / "shuffled.aris", {"ZSensorTrace": heights[order]},
                                 frame_numbers=[int(i) for i in order], times_s=list(times[order])), "ZSensorTrace"


def test_values_pixel_sizes_and_times_match_playnano(tmp_path):
    checked = 0
    for label, path, channel in _files(tmp_path):
        pn = _quiet(load_afm_stack, path, channel=channel)
        ours = _quiet(afmio.load, path, channel=channel)
        assert ours.channel == pn.channel == channel, label
        assert ours.z_unit == "nm"
        assert np.array_equal(ours.data, (np.asarray(pn.data, np.float64) * 1e9).astype(np.float32)), label
        assert ours.pixel_size_nm == pn.pixel_size_nm, label
        assert len(ours.frame_metadata) == len(pn.frame_metadata)
        for i, (a, b) in enumerate(zip(ours.frame_metadata, pn.frame_metadata)):
            assert a["frame_pixel_size_nm"] == b["frame_pixel_size_nm"], (label, i)
            assert a["timestamp"] == b["timestamp"], (label, i)
            # playNano always gives the global ScanRate; afmio honours a frame's own (frame 9 of "varying").
            want_rate = 50.0 if (label, i) == ("varying", 9) else b["line_rate"]
            assert a["line_rate"] == want_rate, (label, i)
            if b["start_epoch_ms"] is None:
                assert a["start_epoch_ms"] is None
            else:
                assert abs(a["start_epoch_ms"] - b["start_epoch_ms"]) <= 1, (label, i)
        via_compat = _quiet(compat.load_afm_stack, path, channel=channel)
        assert np.array_equal(via_compat.data, ours.data)
        assert via_compat.frame_metadata == ours.frame_metadata and via_compat.channel == pn.channel
        checked += 1
    assert checked == 3


def test_varying_pixel_sizes_are_those_playnano_reports(tmp_path):
    _, path, channel = list(_files(tmp_path))[1]
    pn = _quiet(load_afm_stack, path, channel=channel)
    sizes = [m["frame_pixel_size_nm"] for m in pn.frame_metadata]
    assert sizes[4] == 20.0 and sizes[7] == 10.0 and set(sizes) == {10.0, 20.0}
    with pytest.warns(UserWarning, match="pixel size varies"):
        ours = afmio.load(path)
    assert [m["frame_pixel_size_nm"] for m in ours.frame_metadata] == sizes
    assert ours.acquisition["frames_with_other_pixel_size"] == sum(s != sizes[0] for s in sizes)


def test_compat_default_channel_loads_the_height_channel(tmp_path):
    _, path, _ = next(iter(_files(tmp_path)))
    # playNano's default "height_trace" names no channel of an ARIS file and fails ...
    with pytest.raises(ValueError, match="not available"):
        _quiet(load_afm_stack, path)
    # ... afmio's compat loader falls back to the file's height channel.
    stack = _quiet(compat.load_afm_stack, path)
    assert stack.channel == "HeightTrace"


def test_a_frame_overriding_only_scan_points(tmp_path):
    """A documented difference: playNano reads a frame's ScanPoints only with its FastScanSize; afmio always."""
    heights = np.random.default_rng(3).normal(0.0, 4e-9, (3, 8, 16))
    path = write_aris(tmp_path / "points.aris", {"HeightTrace": heights}, fast_scan_size_m=1.6e-7,
                      frame_scan={1: {"ScanPoints": 32}})
    pn = _quiet(load_afm_stack, path, channel="HeightTrace")
    ours = _quiet(afmio.load, path)
    assert [m["frame_pixel_size_nm"] for m in pn.frame_metadata] == [10.0, 10.0, 10.0]
    assert [m["frame_pixel_size_nm"] for m in ours.frame_metadata] == [10.0, 5.0, 10.0]
