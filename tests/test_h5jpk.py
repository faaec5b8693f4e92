"""The ``h5-jpk`` driver: JPK HDF5 movies.

Real-sample values are checked against the sheet's numbers and an independent
float64 computation (h5py column -> net-encoder map -> x1e9 for metres -> reshape
-> rows reversed).
"""

from __future__ import annotations

import shutil
import warnings

import h5py
import numpy as np
import pytest

import afmio
from afmio import ChannelNotFoundError, CorruptFileError, UnsupportedFormatError
from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

SAMPLE = "h5jpk/sample_0.h5-jpk"
ALL_CHANNELS = [
    "error_trace",
    "height_trace",
    "phase_retrace",
    "height_retrace",
    "measuredHeight_trace",
    "error_retrace",
    "amplitude_trace",
    "amplitude_retrace",
    "phase_trace",
]


def reference(path, key: str) -> tuple[np.ndarray, str]:
    """float64 frames of one channel from the sheet's formula, afmio row order."""
    with h5py.File(path, "r") as f:
        m = f["Measurement_000"]
        il = int(m.attrs["position-pattern.grid.ilength"])
        jl = int(m.attrs["position-pattern.grid.jlength"])
        for gname in sorted(k for k in m if k.startswith("Channel_")):
            g = m[gname]
            name = g.attrs["channel.name"].decode()
            retrace = g.attrs["retrace"].decode().lower() == "true"
            if f"{name}_{'retrace' if retrace else 'trace'}" != key:
                continue
            dname = next(k for k in g if k != "thumbnail")
            raw = g[dname][()].astype(np.float64)
            values = raw * g.attrs["net-encoder.scaling.multiplier"] + g.attrs["net-encoder.scaling.offset"]
            unit = g.attrs["net-encoder.scaling.unit.unit"].decode()
            if unit == "m":
                values, unit = values * 1e9, "nm"
            frames = values.T.reshape(-1, jl, il)
            return frames[:, ::-1], unit
    raise KeyError(key)


def assert_float32_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32
    scale = max(float(np.abs(expected).max()), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=scale * 2.0**-23)


# ---------------------------------------------------------------------- real sample
def test_sample_height_trace_matches_the_sheet(sample):
    path = sample(SAMPLE)
    stack = afmio.load(path)
    assert stack.channel == "height_trace"
    assert stack.shape == (4, 128, 128)
    assert stack.pixel_size_nm == 1.171875
    assert stack.pixel_size_y_nm == 1.171875
    assert stack.z_unit == "nm"
    assert float(stack.data.min()) == pytest.approx(722.573372, abs=1e-4)
    assert float(stack.data.max()) == pytest.approx(752.191243, abs=1e-4)
    assert float(stack.data.mean(dtype=np.float64)) == pytest.approx(740.441636, abs=1e-4)
    assert stack.data[0, 0, 0] == pytest.approx(740.408950, abs=1e-4)
    assert stack.get_frame_times() == pytest.approx([0.0, 3.275, 6.55, 9.825])
    assert [m["frame_duration_s"] for m in stack.frame_metadata] == pytest.approx([3.262, 3.262, 3.262, 3.39])
    assert stack.frame_metadata[0]["start_epoch_ms"] == 1748439718548
    assert {m["line_rate"] for m in stack.frame_metadata} == {40.0}
    assert {m["scan_direction"] for m in stack.frame_metadata} == {"topDown"}
    assert stack.acquisition["bidirectional"] is False
    assert stack.acquisition["scaling"] == "net-encoder"
    assert stack.acquisition["channels"] == ALL_CHANNELS


@pytest.mark.parametrize("key", ALL_CHANNELS)
def test_sample_every_channel_against_the_formula(sample, key):
    path = sample(SAMPLE)
    expected, unit = reference(path, key)
    stack = afmio.load(path, channel=key.lower())
    assert stack.channel == key
    assert stack.z_unit == ("deg" if key.startswith("phase") else "nm")
    assert unit == stack.z_unit
    assert_float32_close(stack.data, expected)


def test_sample_checked_ranges_of_other_channels(sample):
    path = sample(SAMPLE)
    phase = afmio.load(path, channel="phase_trace").data
    assert (float(phase.min()), float(phase.max())) == pytest.approx((17.431337, 32.233119), abs=1e-5)
    error = afmio.load(path, channel="error_trace").data
    assert (float(error.min()), float(error.max())) == pytest.approx((-0.327132, 0.391645), abs=1e-6)


def test_sample_lazy_equals_eager_and_probe_agrees(sample):
    path = sample(SAMPLE)
    eager = afmio.load(path, channel="measuredheight_trace")
    with afmio.load(path, channel="measuredheight_trace", lazy=True) as lazy:
        assert lazy.is_lazy
        assert lazy.provenance["source"]["lazy"] is True
        np.testing.assert_array_equal(lazy.get_frame(3), eager.data[3])
        np.testing.assert_array_equal(lazy[1:3].data, eager.data[1:3])
        blocks = list(lazy.iter_frames(block=3))
        np.testing.assert_array_equal(np.concatenate(blocks), eager.data)
    with pytest.raises(afmio.ReadError, match="closed"):
        lazy.get_frame(0)
    info = afmio.registry.probe(path)
    assert info.n_frames == 4
    assert info.frame_shape == (128, 128)
    assert info.channels == ALL_CHANNELS
    assert info.default_channel == "height_trace"
    assert info.pixel_size_nm == info.pixel_size_y_nm == 1.171875
    assert info.z_unit == "nm"
    assert info.frame_times == pytest.approx([0.0, 3.275, 6.55, 9.825])
    assert info.acquisition == afmio.load(path).acquisition
    assert afmio.registry.channels(path) == ALL_CHANNELS


def test_sample_composed_chain_equals_net_encoder(sample, tmp_path):
    copy = tmp_path / "chain.h5-jpk"
    shutil.copyfile(sample(SAMPLE), copy)
    with h5py.File(copy, "r+") as f:
        m = f["Measurement_000"]
        for gname in m:
            if gname.startswith("Channel_"):
                for attr in [a for a in m[gname].attrs if a.startswith("net-encoder.")]:
                    del m[gname].attrs[attr]
    for key in ("height_trace", "measuredHeight_trace", "error_retrace", "phase_trace"):
        composed = afmio.load(copy, channel=key)
        assert composed.acquisition["scaling"] == "composed-chain"
        expected, unit = reference(sample(SAMPLE), key)
        assert composed.z_unit == unit
        assert_float32_close(composed.data, expected)


def test_sample_wrong_channel(sample):
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(sample(SAMPLE), channel="friction_trace")
    assert err.value.available == ALL_CHANNELS


# ---------------------------------------------------------------------- hand-built
def _frames(n: int, jl: int, il: int) -> np.ndarray:
    k, y, x = np.mgrid[0:n, 0:jl, 0:il]
    return (100_000 * k + 1000 * y + x).astype(np.int32)


def test_non_square_frames_and_pixels(tmp_path):
    data = _frames(3, 4, 6)
    ch = H5JpkChannel("height", data=data)
    path = write_h5jpk(tmp_path / "a.h5-jpk", [ch], ulength=6e-8, vlength=2e-8)
    stack = afmio.load(path)
    assert stack.shape == (3, 4, 6)
    assert stack.pixel_size_nm == pytest.approx(10.0)
    assert stack.pixel_size_y_nm == pytest.approx(5.0)
    m, o, _ = ch.composed()
    assert_float32_close(stack.data, (data * m + o)[:, ::-1] * 1e9)


def test_reflect_keeps_stored_line_order(tmp_path):
    data = _frames(2, 3, 5)
    ch = H5JpkChannel("height", data=data, encoder=(1e-9, 0.0, "m"), conversions=[], base="absolute")
    stack = afmio.load(write_h5jpk(tmp_path / "r.h5-jpk", [ch], reflect=True))
    assert stack.acquisition["rows_reversed"] is False
    assert_float32_close(stack.data, data.astype(np.float64))


def test_missing_times_fall_back_to_scan_rate(tmp_path):
    data = _frames(3, 8, 8)
    path = write_h5jpk(tmp_path / "t.h5-jpk", [H5JpkChannel(data=data)], start_times_ms=[], interlace=True)
    with pytest.warns(UserWarning, match="no per-frame start times"):
        stack = afmio.load(path)
    assert stack.get_frame_times() == pytest.approx([0.0, 0.1, 0.2])  # 8 lines / 40 Hz / 2
    assert all(m["start_epoch_ms"] is None for m in stack.frame_metadata)
    assert stack.acquisition["timing"] == "scan-rate"
    assert stack.acquisition["bidirectional"] is True


def test_times_of_wrong_length_fall_back(tmp_path):
    data = _frames(3, 8, 8)
    path = write_h5jpk(tmp_path / "t.h5-jpk", [H5JpkChannel(data=data)], start_times_ms=[1, 2],
                       end_times_ms=[3, 4], interlace=False)
    with pytest.warns(UserWarning):
        stack = afmio.load(path)
    assert stack.get_frame_times() == pytest.approx([0.0, 0.2, 0.4])


def test_units_volts_and_degrees_stay(tmp_path):
    data = _frames(1, 2, 2)
    chans = [
        H5JpkChannel("error", data=data, encoder=(2e-9, 0.5, "V"), conversions=[]),
        H5JpkChannel("phase", data=data, encoder=(1e-7, 0.0, "deg"), conversions=[], base="degrees"),
        H5JpkChannel("amplitude", data=data, encoder=(1e-9, 0.0, "V"),
                     conversions=[("distanceamplitude", "volts", 1e-8, 0.0, "m")]),
    ]
    path = write_h5jpk(tmp_path / "u.h5-jpk", chans)
    flipped = data[:, ::-1].astype(np.float64)
    err = afmio.load(path, channel="error_trace")
    assert err.z_unit == "V"
    assert_float32_close(err.data, flipped * 2e-9 + 0.5)
    phase = afmio.load(path, channel="phase_trace")
    assert phase.z_unit == "deg"
    amp = afmio.load(path, channel="amplitude_trace")
    assert amp.z_unit == "nm"
    assert_float32_close(amp.data, flipped * 1e-9 * 1e-8 * 1e9)


def test_net_encoder_wins_over_the_chain(tmp_path):
    data = _frames(1, 2, 2)
    ch = H5JpkChannel(data=data, net_override=(1e-12, 2e-9, "m"))
    stack = afmio.load(write_h5jpk(tmp_path / "n.h5-jpk", [ch]))
    assert_float32_close(stack.data, (data[:, ::-1] * 1e-12 + 2e-9) * 1e9)


def test_chain_without_net_encoder(tmp_path):
    data = _frames(2, 3, 3)
    ch = H5JpkChannel(data=data, net=False)
    stack = afmio.load(write_h5jpk(tmp_path / "c.h5-jpk", [ch]))
    m, o, _ = ch.composed()
    assert stack.acquisition["scaling"] == "composed-chain"
    assert_float32_close(stack.data, (data[:, ::-1] * m + o) * 1e9)


def test_chain_loop_is_an_error(tmp_path):
    data = _frames(1, 2, 2)
    ch = H5JpkChannel(data=data, net=False, conversions=[("a", "b", 1.0, 0.0, "m"), ("b", "a", 1.0, 0.0, "m")])
    with pytest.raises(CorruptFileError, match="loop"):
        afmio.load(write_h5jpk(tmp_path / "l.h5-jpk", [ch]))


def test_channel_names_as_spelt_and_first_wins(tmp_path):
    a, b = _frames(1, 2, 2), _frames(1, 2, 2) + 7
    chans = [
        H5JpkChannel("measuredHeight", data=a, dataset_name="MeasuredHeight"),
        H5JpkChannel("height", retrace=True, data=a),
        H5JpkChannel("height", retrace=True, data=b),
    ]
    path = write_h5jpk(tmp_path / "c.h5-jpk", chans)
    assert afmio.registry.channels(path) == ["measuredHeight_trace", "height_retrace"]
    stack = afmio.load(path)  # no height_trace: the first channel
    assert stack.channel == "measuredHeight_trace"
    first = afmio.load(path, channel="HEIGHT_RETRACE")
    m, o, _ = chans[1].composed()
    assert_float32_close(first.data, (a[:, ::-1] * m + o) * 1e9)
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(path, channel="height_trace")
    assert err.value.available == ["measuredHeight_trace", "height_retrace"]


def test_missing_grid_attribute(tmp_path):
    path = write_h5jpk(tmp_path / "g.h5-jpk", [H5JpkChannel(data=_frames(1, 2, 2))],
                       drop_attrs=["position-pattern.grid.ulength"])
    with pytest.raises(CorruptFileError, match="ulength"):
        afmio.load(path)


def test_grid_disagreeing_with_dataset(tmp_path):
    path = write_h5jpk(tmp_path / "g.h5-jpk", [H5JpkChannel(data=_frames(2, 4, 4))])
    with h5py.File(path, "r+") as f:
        f["Measurement_000"].attrs["position-pattern.grid.jlength"] = np.int32(5)
    with pytest.raises(CorruptFileError, match="expected"):
        afmio.load(path)


def test_several_measurements_warn(tmp_path):
    path = write_h5jpk(tmp_path / "m.h5-jpk", [H5JpkChannel(data=_frames(2, 2, 2))], measurements=2)
    with pytest.warns(UserWarning, match="Measurement"):
        stack = afmio.load(path)
    assert stack.acquisition["measurements"] == 2
    assert stack.n_frames == 2


def test_sniff_refuses_other_hdf5(tmp_path):
    import afmio_builtins.h5jpk as driver

    path = write_h5jpk(tmp_path / "o.h5-jpk", [H5JpkChannel(data=_frames(1, 2, 2))], format_info=b"OTHER")
    assert driver.sniff(path) is False
    try:
        chosen = afmio.registry.resolve(path).driver.name
    except UnsupportedFormatError:
        chosen = None
    assert chosen != "h5-jpk"  # another HDF5 driver may recognise it; this one must not
    (tmp_path / "t.h5-jpk").write_bytes(b"not hdf5 at all")
    with pytest.raises(UnsupportedFormatError):
        afmio.load(tmp_path / "t.h5-jpk")
    good = write_h5jpk(tmp_path / "g.h5-jpk", [H5JpkChannel(data=_frames(1, 2, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert afmio.registry.resolve(good).driver.name == "h5-jpk"


def test_conformance_kit_on_the_sample(sample, tmp_path):
    from afmio.testing import Expected, check_reader, make_registry
    from afmio_builtins.catalog import builtin

    check_reader(
        make_registry(builtin("h5-jpk")),
        sample(SAMPLE),
        "h5-jpk",
        Expected(n_frames=4, frame_shape=(128, 128), channel="height_trace", channels=ALL_CHANNELS,
                 pixel_size_nm=1.171875, z_unit="nm", frame_times=[0.0, 3.275, 6.55, 9.825],
                 pixels={(0, 0, 0): 740.408950}),
        tmp_dir=tmp_path,
    )


@pytest.mark.parametrize("lazy", [False, True])
def test_sample_float64_equals_the_sheet_exactly(sample, lazy):
    path = sample(SAMPLE)
    expected, _ = reference(path, "height_trace")
    with afmio.load(path, lazy=lazy, dtype="float64") as stack:
        assert stack.dtype == np.float64 and stack.is_lazy == lazy
        np.testing.assert_allclose(stack.data, expected, rtol=1e-15, atol=0)
    assert "note" not in stack.provenance["source"]  # the driver did it, not a cast afterwards
