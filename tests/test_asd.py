"""ASD driver: real samples against the sheet's formula, synthetic v0/v1/v2 round trips,
channels, metadata, lazy reads, truncated and corrupt files, sniffing."""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest

import afmio
import afmio_builtins.asd as asd
from afmio import (
    FRAME_METADATA_KEYS,
    ChannelNotFoundError,
    CorruptFileError,
    ReadError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from afmio.metadata import make_json_safe
from afmio.testing import make_registry
from afmio_builtins.catalog import builtin
from afmio_testdata.asd_writer import levels_to_values, write_asd

SAMPLE0 = "asd/asd_sample_0.asd"
SAMPLE2CH = "asd/202110200146.asd"


@pytest.fixture
def reg():
    """A registry holding only the ASD driver."""
    return make_registry(builtin("asd"))


def _levels(shape, seed=0, top=4096):
    return np.random.default_rng(seed).integers(0, top, shape).astype(np.int16)


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning unless a test expects one
        return asd.read(path, **kw)


# ---------------------------------------------------------------- real files
def _sheet_values(path, index):
    """Float64 values of channel ``index`` straight from the sheet's offsets and formula."""
    b = path.read_bytes()
    assert struct.unpack_from("<i", b, 0)[0] == 1
    header_len, frame_header_len = struct.unpack_from("<ii", b, 4)
    n = struct.unpack_from("<i", b, 36)[0]
    x, y = struct.unpack_from("<ii", b, 48)
    scanner, phase = struct.unpack_from("<ff", b, 105)
    ad_code, bits = struct.unpack_from("<Ii", b, 133)
    z_ext, z_gain = struct.unpack_from("<ff", b, 157)
    kind = b[24 + 4 * index : 26 + 4 * index].decode()
    assert (ad_code, bits) == (3, 12)  # unipolar 9.99 V, 4096 levels in both samples
    k = {"TP": z_gain * z_ext, "ER": -scanner, "PH": -phase}[kind]
    frame = frame_header_len + 2 * x * y
    start = header_len + index * n * frame + frame_header_len
    raw = np.ndarray((n, y, x), "<i2", buffer=b, offset=start, strides=(frame, 2 * x, 2))
    return kind, raw.astype(np.float64) * (-9.99 / 4096) * k


def test_sample0_checked_numbers(sample):
    stack = _load(sample(SAMPLE0))
    d = stack.data
    assert stack.channel == "TP" and d.shape == (32, 200, 200) and d.dtype == np.float32
    assert abs(float(d.min()) - -249.289533) < 1e-4
    assert d.max() == 0 and np.signbit(d.max())  # -0.0, as the negated conversion gives
    assert abs(float(d.mean(dtype=np.float64)) - -196.234232) < 1e-4
    assert abs(float(d[0, 0, 0]) - -219.033881) < 1e-4
    assert d[0, 0, 0] == np.float32(-219.033875)


@pytest.mark.parametrize("name,index", [(SAMPLE0, 0), (SAMPLE2CH, 0), (SAMPLE2CH, 1)])
def test_real_values_equal_sheet_formula(sample, name, index):
    path = sample(name)
    kind, expected = _sheet_values(path, index)
    stack = _load(path, channel=kind)
    assert stack.channel == kind
    assert stack.z_unit == {"TP": "nm", "PH": "deg"}[kind]
    np.testing.assert_allclose(stack.data, expected, rtol=0, atol=1e-4)


def test_two_channel_sample_phase_range_and_molecule_protrudes(sample):
    path = sample(SAMPLE2CH)
    ph = _load(path, channel="PH").data
    assert abs(float(ph.min()) - 3.538938) < 1e-4 and abs(float(ph.max()) - 4.804761) < 1e-4
    tp = _load(path).data
    # The large object in the middle of rows 140-160 stands ~3 nm above the
    # substrate on either side of it in the same lines (the scan tilts along y).
    inside = np.median(tp[:, 140:160, 60:170])
    outside = np.median(np.concatenate([tp[:, 140:160, :5], tp[:, 140:160, 230:]], axis=2))
    assert inside - outside > 2.0


def test_real_metadata(sample):
    stack = _load(sample(SAMPLE0))
    assert stack.pixel_size_nm == 0.5 and stack.pixel_size_y_nm == 0.5
    md = stack.frame_metadata
    assert all(tuple(m) == FRAME_METADATA_KEYS for m in md)
    assert md[0] == {
        "timestamp": 0.0,
        "frame_pixel_size_nm": 0.5,
        "frame_duration_s": 1.0,
        "start_epoch_ms": 1511269927000,  # 2017-11-21 13:12:39 UTC minus 32 x 1 s
        "scan_direction": None,
        "line_rate": 200.0,
    }
    assert md[31]["timestamp"] == 31.0 and md[31]["start_epoch_ms"] == 1511269958000
    acq = stack.acquisition
    assert acq["asd_file_version"] == 1
    assert acq["asd_scan_direction_raw"] == 1
    assert acq["asd_channels"] == ("TP", None)
    assert acq["asd_operator"] == "Anonymous" and acq["asd_comment"] == ""
    assert acq["asd_text_encoding"] == 932
    assert acq["asd_recorded"] == "2017-11-21T13:12:39"
    assert acq["asd_ad_range_code"] == 3 and acq["asd_ad_bits"] == 12
    headers = acq["asd_frame_headers"]
    assert headers["frame_number"] == list(range(1, 33))
    assert headers["max_level"][0] == 3607 and headers["min_level"][0] == 3578
    make_json_safe(acq)  # serialisable as is
    assert _load(sample(SAMPLE2CH), channel="ph").acquisition["asd_channels"] == ("TP", "PH")


def test_real_probe_agrees_with_load(sample, reg):
    for name in (SAMPLE0, SAMPLE2CH):
        path = sample(name)
        info = reg.probe(path)
        stack = reg.load(path)
        assert info.n_frames == stack.n_frames and info.frame_shape == stack.image_shape
        assert info.channels == reg.channels(path) == list(stack.acquisition["asd_channels"][: len(info.channels)])
        assert info.default_channel == stack.channel == "TP"
        assert (info.pixel_size_nm, info.pixel_size_y_nm) == (stack.pixel_size_nm, stack.pixel_size_y_nm)
        assert info.z_unit == stack.z_unit and info.frame_times == stack.get_frame_times()
        for key in ("asd_file_version", "asd_channels", "asd_operator", "asd_recorded"):
            assert info.acquisition[key] == stack.acquisition[key]


def test_real_lazy_equals_eager(sample, reg):
    path = sample(SAMPLE2CH)
    for ch in ("TP", "PH"):
        eager = reg.load(path, channel=ch)
        with reg.load(path, channel=ch, lazy=True) as lazy:
            assert lazy.is_lazy
            np.testing.assert_array_equal(lazy.get_frame(1), eager.data[1])
            assert lazy.acquisition["asd_frame_headers"] == eager.acquisition["asd_frame_headers"]
            np.testing.assert_array_equal(lazy.data, eager.data)


# ---------------------------------------------------------------- synthetic round trips
@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("ad_range", [0x3, 0x1, 0x40000, 0x20000])
@pytest.mark.parametrize("kinds", [("TP",), ("TP", "ER"), ("TP", "PH"), ("ER", "PH")])
def test_round_trip_levels(tmp_path, version, ad_range, kinds):
    shape = (3, 5, 7)
    frames = {k: _levels(shape, seed=i) for i, k in enumerate(kinds)}
    layout = write_asd(tmp_path / "m.asd", frames, version=version, ad_range=ad_range, scan_nm=(70, 40))
    assert asd.channels(layout.path) == list(kinds)
    for kind, raw in frames.items():
        stack = _load(layout.path, channel=kind.lower())
        assert stack.channel == kind
        assert stack.z_unit == ("deg" if kind == "PH" else "nm")
        assert stack.dtype == np.float32 and stack.shape == shape
        np.testing.assert_allclose(stack.data, levels_to_values(raw, kind, ad_range=ad_range), rtol=1e-6, atol=1e-4)
        assert stack.acquisition["asd_file_version"] == version
        assert stack.acquisition["asd_channels"] == (*kinds, None)[:2]
    assert _load(layout.path).channel == ("TP" if "TP" in kinds else kinds[0])


def test_round_trip_physical_values(tmp_path):
    rng = np.random.default_rng(3)
    heights = rng.uniform(-120, 120, (4, 6, 9))  # within the +-5 V range: +-124.8 nm
    phase = rng.uniform(-20, 20, (4, 6, 9))
    layout = write_asd(tmp_path / "p.asd", {"TP": heights, "PH": phase}, ad_range=0x40000, phase_sensitivity=-4.0)
    step_tp = 2 * 5.0 / 4096 * float(np.float32(12.48)) * 2.0
    np.testing.assert_allclose(_load(layout.path).data, heights, atol=step_tp / 2 + 1e-4)
    ph = _load(layout.path, channel="phase")
    assert ph.z_unit == "deg"
    np.testing.assert_allclose(ph.data, phase, atol=2 * 5.0 / 4096 * 4.0 / 2 + 1e-4)


def test_sixteen_bit_dummy_range_uses_two_to_the_bits(tmp_path):
    raw = _levels((2, 4, 4), top=32767)
    layout = write_asd(tmp_path / "d.asd", {"TP": raw}, ad_range=0x800000, ad_bits=16)
    expected = levels_to_values(raw, "TP", ad_range=0x800000, ad_bits=16)
    np.testing.assert_allclose(_load(layout.path).data, expected, rtol=1e-6)


def test_synthetic_metadata(tmp_path):
    layout = write_asd(
        tmp_path / "t.asd",
        _levels((5, 8, 16)),
        scan_nm=(48, 40),
        frame_time_ms=250.0,
        date=(2024, 2, 29, 23, 59, 58),
        scan_direction=8,
    )
    stack = _load(layout.path)
    assert stack.pixel_size_nm == 3.0 and stack.pixel_size_y_nm == 5.0
    base = int((datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone.utc).timestamp() - 5 * 0.25) * 1000)
    for i, md in enumerate(stack.frame_metadata):
        assert md["timestamp"] == pytest.approx(0.25 * i)
        assert md["frame_duration_s"] == 0.25 and md["line_rate"] == 32.0
        assert md["frame_pixel_size_nm"] == 3.0
        assert md["start_epoch_ms"] == base + 250 * i
    assert stack.acquisition["asd_scan_direction_raw"] == 8


def test_invalid_date_and_frame_time_give_none(tmp_path):
    layout = write_asd(tmp_path / "t.asd", _levels((2, 4, 4)), date=(2020, 13, 1, 0, 0, 0), frame_time_ms=0.0)
    md = _load(layout.path).frame_metadata
    assert md[1]["start_epoch_ms"] is None and md[1]["timestamp"] is None and md[1]["line_rate"] is None
    layout = write_asd(tmp_path / "u.asd", _levels((2, 4, 4)), date=(2020, 13, 1, 0, 0, 0))
    md = _load(layout.path).frame_metadata
    assert md[1]["timestamp"] == 1.0 and md[1]["start_epoch_ms"] is None


@pytest.mark.parametrize(
    "code_page,operator,comment",
    [
        (932, "山田 太郎", "リン脂質 @ 25°C"),
        (65001, "Zoë", "ångström\x00"),
        (1200, "Jürgen", "测量"),
        (20127, "abc", "d\x00"),
    ],
)
def test_text_decoded_with_declared_code_page(tmp_path, code_page, operator, comment):
    layout = write_asd(
        tmp_path / "s.asd", _levels((1, 2, 2)), text_encoding=code_page, operator=operator, comment=comment
    )
    acq = _load(layout.path).acquisition
    assert acq["asd_operator"] == operator and acq["asd_comment"] == comment.replace("\x00", "")
    assert acq["asd_text_encoding"] == code_page


def test_frame_headers_exposed(tmp_path):
    headers = {"x_offset": [5, -6, 7], "y_offset": [1, 2, 3], "x_tilt": [0.5, 0.0, -1.5], "stimulated": [0, 1, 0]}
    layout = write_asd(
        tmp_path / "h.asd", {"TP": _levels((3, 4, 4)), "ER": _levels((3, 4, 4), 1)}, frame_headers=headers
    )
    for ch in ("TP", "ER"):
        got = _load(layout.path, channel=ch).acquisition["asd_frame_headers"]
        assert got["x_offset"] == [5, -6, 7] and got["y_offset"] == [1, 2, 3]
        assert got["x_tilt"] == [0.5, 0.0, -1.5] and got["stimulated"] == [False, True, False]
        assert got["frame_number"] == [1, 2, 3]


@pytest.mark.parametrize("header_size", [0, 10, 32, 48])
def test_any_frame_header_size(tmp_path, header_size):
    raw = _levels((3, 5, 6))
    layout = write_asd(tmp_path / "f.asd", {"TP": raw, "PH": raw[::-1]}, frame_header_size=header_size)
    np.testing.assert_allclose(_load(layout.path, channel="PH").data, levels_to_values(raw[::-1], "PH"), atol=1e-4)
    keys = set(_load(layout.path).acquisition["asd_frame_headers"])
    assert ("frame_number" in keys) == (header_size >= 4) and ("stimulated" in keys) == (header_size >= 21)


def test_v0_reads_sequentially_despite_wrong_header_length(tmp_path):
    raw = _levels((2, 3, 4))
    layout = write_asd(
        tmp_path / "v0.asd", raw, version=0, comment="note", comment_offset_size=6, overrides={"header_length": 9999}
    )
    stack = _load(layout.path)
    np.testing.assert_allclose(stack.data, levels_to_values(raw, "TP"), atol=1e-4)
    assert stack.acquisition["asd_comment"] == "note" and stack.acquisition["asd_rounding_degree"] == 5


def test_v2_extension_parsed_and_frames_found_by_header_length(tmp_path):
    raw = _levels((2, 3, 4))
    anchors = {"red": ([0, 9], [1, 8]), "green": ([4], [5]), "blue": ([], [])}
    layout = write_asd(tmp_path / "v2.asd", raw, version=2, color_anchors=anchors)
    ext = _load(layout.path).acquisition["asd_v2_extension"]
    assert ext["parsed"] and ext["is_x_feed_forward"] is True and ext["x_feed_forward_d"] == 0.25
    assert (ext["red_x"], ext["red_y"], ext["green_x"], ext["blue_x"]) == ([0, 9], [1, 8], [4], [])
    # A block that does not parse (AFMReader's layout dispute) still leaves the frames readable.
    bad = write_asd(tmp_path / "v2b.asd", raw, version=2, overrides={"n_red": 10**6})
    stack = _load(bad.path)
    assert stack.acquisition["asd_v2_extension"]["parsed"] is False
    np.testing.assert_allclose(stack.data, levels_to_values(raw, "TP"), atol=1e-4)


def test_two_channels_of_one_kind_get_distinct_names(tmp_path):
    layout = write_asd(tmp_path / "d.asd", {"TP": _levels((1, 2, 2)), 0x5054: _levels((1, 2, 2), 1)})
    assert asd.channels(layout.path) == ["TP", "TP_2"]


def test_zero_frame_file_gives_empty_stack(tmp_path):
    layout = write_asd(tmp_path / "z.asd", np.zeros((0, 4, 5), np.int16))
    stack = _load(layout.path)
    assert stack.shape == (0, 4, 5) and stack.acquisition["asd_frame_headers"]["frame_number"] == []


# ---------------------------------------------------------------- channels
def test_channel_selection(tmp_path, reg):
    layout = write_asd(tmp_path / "c.asd", {"ER": _levels((1, 2, 2)), "TP": _levels((1, 2, 2), 1)})
    assert _load(layout.path).channel == "TP"  # topography is the default even when second
    assert _load(layout.path, channel="height").channel == "TP"
    assert _load(layout.path, channel="Topography").channel == "TP"
    assert _load(layout.path, channel="er").channel == "ER"
    assert _load(layout.path, channel="error").channel == "ER"
    with pytest.raises(ChannelNotFoundError, match="available: ER, TP"):
        reg.load(layout.path, channel="PH")
    only_er = write_asd(tmp_path / "e.asd", {"ER": _levels((1, 2, 2))})
    assert _load(only_er.path).channel == "ER"
    with pytest.raises(ChannelNotFoundError):
        asd.read(only_er.path, channel="height")


def test_unknown_kind_loads_volts_with_warning(tmp_path):
    raw = _levels((2, 3, 3))
    layout = write_asd(tmp_path / "x.asd", {"TP": raw, "XX": raw}, ad_range=0x2)
    assert asd.channels(layout.path) == ["TP", "XX"]
    with pytest.warns(UserWarning, match="no known conversion"):
        stack = asd.read(layout.path, channel="xx")
    assert stack.z_unit == "V" and stack.channel == "XX"
    np.testing.assert_allclose(stack.data, raw * 2.5 / 4096, atol=1e-6)  # the AD input voltage
    bipolar = write_asd(tmp_path / "y.asd", {"QZ": raw}, ad_range=0x10000)
    with pytest.warns(UserWarning, match="no known conversion"):
        volts = asd.read(bipolar.path).data
    np.testing.assert_allclose(volts, 2 * raw * 1.0 / 4096 - 1.0, atol=1e-6)


def test_unreadable_kind_is_named_by_position(tmp_path):
    layout = write_asd(tmp_path / "n.asd", {0x0102: _levels((1, 2, 2))})
    assert asd.channels(layout.path) == ["ch1"]


# ---------------------------------------------------------------- lazy reads
def test_lazy_equals_eager_and_closes(tmp_path, reg):
    raw = _levels((12, 9, 11))
    layout = write_asd(tmp_path / "l.asd", {"TP": raw, "ER": raw[::-1]}, version=2)
    eager = reg.load(layout.path, channel="ER")
    stack = reg.load(layout.path, channel="ER", lazy=True)
    assert stack.is_lazy and stack.shape == (12, 9, 11)
    np.testing.assert_array_equal(stack.get_frame(-1), eager.data[-1])
    np.testing.assert_array_equal(stack[3:7].data, eager.data[3:7])
    np.testing.assert_array_equal(np.stack(list(stack.iter_frames())), eager.data)
    assert stack.acquisition["asd_frame_headers"] == eager.acquisition["asd_frame_headers"]
    assert stack.frame_metadata == eager.frame_metadata
    stack.close()
    with pytest.raises(ReadError, match="the lazy stack was closed"):  # the same for every format
        stack.get_frame(0)


def test_lazy_walk_keeps_memory_constant(tmp_path):
    layout = write_asd(tmp_path / "big.asd", _levels((300, 64, 64)))  # 300 frames of 16 KiB float32
    with asd.read(layout.path, lazy=True) as stack:
        tracemalloc.start()
        try:
            total = sum(float(frame[0, 0]) for frame in stack.iter_frames())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert np.isfinite(total)
    assert peak < 20 * 64 * 64 * 4  # a few frames, far below the 4.9 MB of the whole stack


def test_eager_peak_memory_near_result(tmp_path):
    n, y, x = 64, 128, 128
    layout = write_asd(tmp_path / "m.asd", _levels((n, y, x)))
    tracemalloc.start()
    try:
        stack = asd.read(layout.path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = n * y * x * 4
    assert stack.data.nbytes == result
    assert peak < result + asd.BLOCK_BYTES + (1 << 20)  # no float64 or whole int16 copy


# ---------------------------------------------------------------- truncated and corrupt files
def _cut(layout, size):
    with open(layout.path, "r+b") as fh:
        fh.truncate(size)


def test_truncated_file(tmp_path, reg):
    raw = _levels((6, 4, 5))
    layout = write_asd(tmp_path / "t.asd", raw)
    _cut(layout, layout.frame_offset(0, 4) + 7)  # frames 0-3 complete, frame 4 cut
    with pytest.raises(TruncatedFileError, match=r"4 of 6 TP frames are complete.*allow_truncated") as err:
        reg.load(layout.path)
    assert str(layout.path) in str(err.value)
    for lazy in (False, True):
        with pytest.warns(UserWarning, match="truncated"):
            stack = reg.load(layout.path, allow_truncated=True, lazy=lazy)
        np.testing.assert_allclose(stack.data, levels_to_values(raw[:4], "TP"), atol=1e-4)
        assert len(stack.frame_metadata) == 4 and stack.acquisition["asd_frames_loaded"] == 4
    info = reg.probe(layout.path)  # header only: still answers, and says the file is cut
    assert info.n_frames == 4 and info.acquisition["asd_file_size_ok"] is False
    assert info.acquisition["declared_frames"] == 6
    assert "declares 6 frames but the file ends after 4 complete TP frames" in info.acquisition["truncated"]


def test_truncated_second_channel(tmp_path):
    raw = _levels((3, 4, 4))
    layout = write_asd(tmp_path / "t2.asd", {"TP": raw, "PH": raw})
    _cut(layout, layout.frame_offset(1, 1) + 3)
    with pytest.raises(TruncatedFileError):
        asd.read(layout.path)
    with pytest.warns(UserWarning, match="3 of 3 TP frames"):
        assert asd.read(layout.path, allow_truncated=True).n_frames == 3
    with pytest.warns(UserWarning, match="1 of 3 PH frames"):
        assert asd.read(layout.path, channel="PH", allow_truncated=True).n_frames == 1
    _cut(layout, layout.frame_offset(1, 0) + 3)
    with pytest.raises(TruncatedFileError, match="0 of 3 PH"):
        asd.read(layout.path, channel="PH", allow_truncated=True)


def test_trailing_bytes_warn(tmp_path):
    raw = _levels((2, 3, 3))
    layout = write_asd(tmp_path / "tail.asd", raw)
    with open(layout.path, "ab") as fh:
        fh.write(b"\0" * 10)
    with pytest.warns(UserWarning, match="10 bytes after the last frame"):
        data = asd.read(layout.path).data
    np.testing.assert_allclose(data, levels_to_values(raw, "TP"), atol=1e-4)


def test_huge_frame_count_fails_before_allocating(tmp_path):
    layout = write_asd(tmp_path / "h.asd", _levels((2, 64, 64)), overrides={"num_frames": 2_000_000_000})
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedFileError, match="2000000000"):
            asd.read(layout.path)
        with pytest.warns(UserWarning):  # the frames that are there, but a second channel cannot be
            assert asd.read(layout.path, allow_truncated=True).n_frames == 2
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"file_version": 3}, "version 3 unknown"),
        ({"file_version": 0x3F800000}, "float 1.0"),
        ({"num_frames": -1}, "negative frame count"),
        ({"x_pixels": 0}, "impossible x_pixels"),
        ({"y_pixels": -5}, "impossible y_pixels"),
        ({"x_pixels": 1 << 20}, "impossible x_pixels"),
        ({"frame_header_length": -4}, "frame header length"),
        ({"frame_header_length": 1 << 30}, "frame header length"),
        ({"user_name_size": 1 << 30}, "user_name_size"),
        ({"comment_size": -1}, "comment_size"),
        ({"header_length": 1 << 30}, "header length"),
        ({"header_length": 20}, "header length"),
        ({"analogue_digital_range": 0x7}, "AD range code 0x7 is unknown"),
        ({"z_piezo_gain": float("nan")}, "not finite"),
    ],
)
def test_corrupt_headers(tmp_path, overrides, match):
    layout = write_asd(tmp_path / "bad.asd", _levels((2, 4, 4)), overrides=overrides)
    with pytest.raises(CorruptFileError, match=match) as err:
        asd.read(layout.path)
    assert err.value.path == str(layout.path)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_every_prefix_of_a_file_fails_cleanly(tmp_path, version):
    layout = write_asd(tmp_path / "p.asd", _levels((2, 3, 3)), version=version, operator="op", comment="c")
    full = layout.path.read_bytes()
    cut = tmp_path / "cut.asd"
    for size in range(len(full)):
        cut.write_bytes(full[:size])
        with pytest.raises(CorruptFileError):  # TruncatedFileError for most sizes
            asd.read(cut)
        assert asd.sniff(cut) is not True or size >= 105


def test_corrupt_versions_through_registry(tmp_path, reg):
    layout = write_asd(tmp_path / "bad.asd", _levels((1, 2, 2)), overrides={"file_version": 9})
    with pytest.raises(UnsupportedFormatError, match="content check declined"):
        reg.load(layout.path)  # another program's .asd: not ours
    with pytest.raises(CorruptFileError, match="version 9"):
        reg.load(layout.path, format="asd")
    broken = write_asd(tmp_path / "broken.asd", _levels((1, 2, 2)), overrides={"x_pixels": 0})
    with pytest.raises(CorruptFileError, match="x_pixels"):
        reg.load(broken.path)  # recognised as ASD, so the reader explains


def test_unknown_ad_range_still_probes(tmp_path, reg):
    layout = write_asd(tmp_path / "ad.asd", _levels((2, 3, 3)), overrides={"analogue_digital_range": 0x9})
    info = reg.probe(layout.path)
    assert info.n_frames == 2 and info.acquisition["asd_ad_range"] is None
    with pytest.raises(CorruptFileError, match="AD range"):
        reg.load(layout.path)


# ---------------------------------------------------------------- probe and sniff
@pytest.mark.parametrize("version", [0, 1, 2])
def test_probe_agrees_with_load(tmp_path, reg, version):
    layout = write_asd(
        tmp_path / "p.asd", {"PH": _levels((4, 6, 8)), "ER": _levels((4, 6, 8))}, version=version, scan_nm=(16, 30)
    )
    info = reg.probe(layout.path)
    stack = reg.load(layout.path)
    assert info.channels == ["PH", "ER"] and info.default_channel == stack.channel == "PH"
    assert info.z_unit == stack.z_unit == "deg"
    assert (info.n_frames, info.frame_shape) == (4, (6, 8)) == (stack.n_frames, stack.image_shape)
    assert (info.pixel_size_nm, info.pixel_size_y_nm) == (2.0, 5.0) == (stack.pixel_size_nm, stack.pixel_size_y_nm)
    assert info.frame_times == stack.get_frame_times()
    assert {k: v for k, v in info.acquisition.items() if k != "asd_file_size_ok"}.items() <= stack.acquisition.items()


def test_probe_reads_only_the_header(tmp_path, monkeypatch):
    layout = write_asd(tmp_path / "p.asd", _levels((50, 32, 32)))
    opened = []
    real_open = open

    class Counting:
        def __init__(self, fh):
            self.fh, self.read_bytes = fh, 0

        def read(self, n=-1):
            data = self.fh.read(n)
            self.read_bytes += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def counting_open(*args, **kw):
        handle = Counting(real_open(*args, **kw))
        opened.append(handle)
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    asd.probe(layout.path)
    assert opened and sum(h.read_bytes for h in opened) < 1024 < layout.file_size


def test_sniff(tmp_path, reg):
    for version in (0, 1, 2):
        layout = write_asd(tmp_path / f"v{version}.asd", _levels((1, 2, 2)), version=version)
        assert asd.sniff(layout.path) is True
    other = tmp_path / "other.asd"
    other.write_bytes(struct.pack("<f", 1.0) + b"\0" * 300)  # another program's .asd
    assert asd.sniff(other) is False
    text = tmp_path / "notes.asd"
    text.write_bytes(b"hello world, not a movie" * 10)
    assert asd.sniff(text) is False
    (tmp_path / "empty.asd").write_bytes(b"")
    assert asd.sniff(tmp_path / "empty.asd") is False
    damaged = write_asd(tmp_path / "d.asd", _levels((1, 2, 2)), overrides={"x_pixels": -3})
    assert asd.sniff(damaged.path) is None
    renamed = write_asd(tmp_path / "movie.bin", _levels((1, 2, 2)))
    assert reg.resolve(renamed.path).driver.name == "asd"  # found by content


def test_non_positive_scan_range_warns_and_falls_back(tmp_path):
    layout = write_asd(tmp_path / "s.asd", _levels((1, 4, 8)), scan_nm=(0, 40))
    with pytest.warns(UserWarning, match="scan range 0 x 40 nm is not positive"):
        stack = asd.read(layout.path)
    assert stack.pixel_size_nm == stack.pixel_size_y_nm == 10.0
    assert asd.probe(layout.path).pixel_size_nm is None


@pytest.mark.parametrize("missing", [("preadv",), ("preadv", "pread")])
def test_positioned_reads_without_preadv(tmp_path, monkeypatch, missing):
    raw = _levels((5, 6, 7))
    layout = write_asd(tmp_path / "w.asd", {"TP": raw, "ER": raw[::-1]})
    for name in missing:  # as on platforms without them (Windows has neither)
        monkeypatch.delattr(asd.os, name, raising=False)
    with asd.read(layout.path, channel="ER", lazy=True) as stack:
        np.testing.assert_allclose(stack.get_frame(2), levels_to_values(raw[2], "ER"), atol=1e-4)
        np.testing.assert_allclose(stack.data, levels_to_values(raw[::-1], "ER"), atol=1e-4)


# ---------------------------------------------------------------- dtype
@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("ad_range", [0x3, 0x40000])
def test_float64_keeps_the_full_conversion(tmp_path, reg, lazy, ad_range):
    raw = _levels((3, 5, 7), top=4096)
    layout = write_asd(tmp_path / "f.asd", {"TP": raw, "PH": raw[::-1]}, ad_range=ad_range)
    for kind, levels in (("TP", raw), ("PH", raw[::-1])):
        expected = levels_to_values(levels, kind, ad_range=ad_range)  # the sheet's formula, float64
        with reg.load(layout.path, channel=kind, lazy=lazy, dtype="float64") as stack:
            assert stack.dtype == np.float64 and stack.is_lazy == lazy
            np.testing.assert_allclose(stack.data, expected, rtol=1e-12, atol=1e-9)
            error64 = np.abs(stack.data - expected).max()
        single = reg.load(layout.path, channel=kind)  # the default: float32 arithmetic, ~1 ulp off
        assert single.dtype == np.float32
        np.testing.assert_allclose(single.data, expected, rtol=1e-6, atol=1e-4)
        assert error64 <= np.abs(single.data - expected).max() and error64 < 1e-9


def test_dtype_other_than_float_is_an_option_error(tmp_path):
    layout = write_asd(tmp_path / "f.asd", {"TP": _levels((1, 2, 2))})
    with pytest.raises(afmio.OptionError, match="dtype must be float32 or float64"):
        asd.read(layout.path, dtype="int16")
