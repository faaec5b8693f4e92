"""The ``jpk`` driver: folders of .jpk frames and single .jpk files.

Real samples are checked against an independent float64 computation from the
sheet's formula (tifffile decodes the page, the default slot's multiplier and
offset are applied, lengths x1e9, rows reversed) and against the sheet's numbers.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio import ChannelNotFoundError, CorruptFileError, TruncatedFileError, UnsupportedFormatError
from afmio_builtins._jpk_common import settings_value, value_scale
from afmio_testdata.jpk_builder import JpkChannel, Slot, frame_raw, make_jpk_folder, write_jpk

NANORACER = "jpk_folder_streptavidin_nanoracer"
TEN_CHANNELS = "jpk_folder_afmreader_sample0/sample_0.jpk"


# ---------------------------------------------------------------------- independent reference
def reference(path: Path, key: str) -> tuple[np.ndarray, str]:
    """float64 values of one channel page from the sheet's formula, afmio row order."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        reflect = bool(tf.pages[0].tags[0x8045].value)
        for page in list(tf.pages)[1:]:
            tags = {t.code: t.value for t in page.tags.values()}
            name = f"{tags[0x8050]}_{'retrace' if tags[0x8051] else 'trace'}"
            if name != key:
                continue
            default = tags[0x8081]
            slot = next(k for k in range(tags[0x8080]) if tags[0x8090 + 0x30 * k] == default)
            base = 0x8090 + 0x30 * slot
            raw = page.asarray().astype(np.float64)
            linear = tags[base + 0x13] == "LinearScaling"
            values = raw * tags[base + 0x14] + tags[base + 0x15] if linear else raw
            unit = tags.get(base + 0x12)
            if unit == "m":
                values, unit = values * 1e9, "nm"
            return (values if reflect else values[::-1]), unit
    raise KeyError(key)


def assert_float32_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32
    scale = max(float(np.abs(expected).max()), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=scale * 2.0**-23)


# ---------------------------------------------------------------------- real samples
def test_ten_channel_sample_height(sample):
    path = sample(TEN_CHANNELS)
    stack = afmio.load(path)
    assert stack.channel == "height_trace"
    assert stack.shape == (1, 256, 256)
    assert stack.z_unit == "nm"
    # afmio order (Gwyddion/AFMReader rows): the sheet's stored-order [0,0,0] is the last row's first.
    assert stack.data[0, 0, 0] == pytest.approx(3304.327633, abs=3e-4)
    assert stack.data[0, -1, 0] == pytest.approx(3334.485151, abs=3e-4)
    assert float(stack.data.min()) == pytest.approx(3302.591820, abs=3e-4)
    assert float(stack.data.max()) == pytest.approx(3360.950042, abs=3e-4)
    assert stack.pixel_size_nm == pytest.approx(1.2770176335964876, rel=1e-15)
    assert stack.pixel_size_y_nm == pytest.approx(3.2691651420070083e-07 / 256 * 1e9, rel=1e-15)
    md = stack.frame_metadata[0]
    assert md["timestamp"] == 0.0
    assert md["frame_duration_s"] == pytest.approx(63.93)
    assert md["start_epoch_ms"] == 1484582432334
    assert md["scan_direction"] == "bottomUp"
    assert md["line_rate"] == 4.0
    assert stack.acquisition["bidirectional"] is False
    assert stack.acquisition["interlace"] is None
    assert stack.acquisition["rows_reversed"] is True


@pytest.mark.parametrize(
    "key, unit",
    [
        ("height_trace", "nm"),
        ("height_retrace", "nm"),
        ("measuredHeight_trace", "nm"),
        ("measuredHeight_retrace", "nm"),
        ("amplitude_trace", "nm"),
        ("amplitude_retrace", "nm"),
        ("phase_trace", "deg"),
        ("phase_retrace", "deg"),
        ("error_trace", "V"),  # this file's error slot is voltsamplitude: volts stay volts
        ("error_retrace", "V"),
    ],
)
def test_ten_channel_sample_every_channel(sample, key, unit):
    path = sample(TEN_CHANNELS)
    expected, ref_unit = reference(path, key)
    assert ref_unit == unit
    stack = afmio.load(path, channel=key.upper())  # any case
    assert stack.channel == key
    assert stack.z_unit == unit
    assert_float32_close(stack.data[0], expected)


def test_nanoracer_folder(sample):
    folder = sample(NANORACER)
    stack = afmio.load(folder)
    assert stack.shape == (4, 512, 512)
    assert stack.channel == "height_trace"
    assert stack.pixel_size_nm == pytest.approx(0.166015625, rel=1e-12)
    assert stack.pixel_size_y_nm == pytest.approx(0.166015625, rel=1e-12)
    assert stack.get_frame_times() == pytest.approx([0.0, 2.59, 5.18, 7.77])
    files = sorted(folder.glob("*.jpk"))
    for i, md in enumerate(stack.frame_metadata):
        assert md["frame_duration_s"] == pytest.approx(2.585)
        assert md["line_rate"] == 100.0
        assert md["scan_direction"] == "topDown"
        assert md["frame_pixel_size_nm"] == pytest.approx(0.166015625)
        expected, _ = reference(files[i], "height_trace")
        assert_float32_close(stack.data[i], expected)
    assert stack.frame_metadata[0]["start_epoch_ms"] == 1676549326436
    assert stack.acquisition["bidirectional"] is True
    assert stack.acquisition["interlace"] is True
    assert stack.acquisition["timing"] == "recorded"
    assert stack.acquisition["channels"] == ["height_retrace", "measuredHeight_trace", "height_trace"]
    measured = afmio.load(folder, channel="measuredheight_trace")
    assert measured.channel == "measuredHeight_trace"
    assert_float32_close(measured.data[3], reference(files[3], "measuredHeight_trace")[0])


def test_nanoracer_lazy_probe_and_channels(sample):
    folder = sample(NANORACER)
    eager = afmio.load(folder)
    with afmio.load(folder, lazy=True) as lazy:
        assert lazy.is_lazy
        np.testing.assert_array_equal(lazy.get_frame(2), eager.data[2])
        np.testing.assert_array_equal(lazy[1:3].data, eager.data[1:3])
        np.testing.assert_array_equal(lazy.data, eager.data)
    info = afmio.registry.probe(folder)
    assert info.n_frames == eager.n_frames
    assert info.frame_shape == eager.image_shape
    assert info.default_channel == eager.channel
    assert info.pixel_size_nm == eager.pixel_size_nm
    assert info.pixel_size_y_nm == eager.pixel_size_y_nm
    assert info.z_unit == eager.z_unit
    assert info.frame_times == eager.get_frame_times()
    assert info.acquisition == eager.acquisition
    assert afmio.registry.channels(folder) == ["height_retrace", "measuredHeight_trace", "height_trace"]


def test_single_file_and_wrong_channel(sample):
    path = sample(TEN_CHANNELS)
    res = afmio.registry.resolve(path)
    assert res.driver.name == "jpk"
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(path, channel="friction_trace")
    assert "height_trace" in err.value.available and "measuredHeight_retrace" in err.value.available
    assert "friction_trace" in str(err.value)


# ---------------------------------------------------------------------- hand-built edge cases
def test_builder_folder_values_order_and_timing(tmp_path):
    paths = make_jpk_folder(tmp_path / "m", 3, shape=(5, 7), interlace=True)
    stack = afmio.load(tmp_path / "m")
    assert stack.shape == (3, 5, 7)
    for i in range(3):
        np.testing.assert_array_equal(
            stack.data[i], (frame_raw(i, "height_trace", (5, 7)) * 1e-12 * 1e9)[::-1].astype(np.float32)
        )
    assert stack.get_frame_times() == pytest.approx([0.0, 2.59, 5.18])
    assert [m["frame_duration_s"] for m in stack.frame_metadata] == pytest.approx([2.585] * 3)
    assert stack.frame_metadata[0]["start_epoch_ms"] == 1676549326436
    assert stack.acquisition["bidirectional"] is True
    assert stack.file_path == str(tmp_path / "m")
    assert len(paths) == 3


def test_frames_ordered_by_start_date_not_name(tmp_path):
    # names sort the other way round from the dates
    make_jpk_folder(tmp_path / "m", 3, names=["c.JPK", "b.jpk", "a.jpk"])
    stack = afmio.load(tmp_path / "m")
    assert stack.get_frame_times() == pytest.approx([0.0, 2.59, 5.18])
    for i in range(3):
        assert stack.data[i, -1, 0] == pytest.approx(frame_raw(i, "height_trace", (6, 8))[0, 0] * 1e-3)


@pytest.mark.parametrize("interlace, interval", [(None, 6 / 100.0), (False, 6 / 100.0), (True, 6 / 100.0 / 2)])
def test_missing_dates_fall_back_to_name_order_and_scan_rate(tmp_path, interlace, interval):
    make_jpk_folder(tmp_path / "m", 12, dates=False, interlace=interlace,
                    names=[f"frame{i}.jpk" for i in range(12)])
    stack = afmio.load(tmp_path / "m")
    # natural name order: frame2 before frame10
    assert [round(float(stack.data[i, -1, 0])) for i in range(12)] == [
        round(frame_raw(i, "height_trace", (6, 8))[0, 0] * 1e-3) for i in range(12)
    ]
    assert stack.get_frame_times() == pytest.approx([i * interval for i in range(12)])
    assert all(m["start_epoch_ms"] is None for m in stack.frame_metadata)
    assert all(m["frame_duration_s"] == pytest.approx(interval) for m in stack.frame_metadata)
    assert stack.acquisition["timing"] == "scan-rate"
    assert stack.acquisition["bidirectional"] is bool(interlace)


def test_one_file_without_date_uses_name_order_for_all(tmp_path):
    make_jpk_folder(tmp_path / "m", 3, names=["f1.jpk", "f2.jpk", "f3.jpk"], per_frame={1: {"start": None}})
    stack = afmio.load(tmp_path / "m")
    assert stack.acquisition["timing"] == "scan-rate"
    assert stack.get_frame_times() == pytest.approx([0.0, 0.06, 0.12])


def test_no_dates_and_no_scan_rate_gives_unknown_times(tmp_path):
    make_jpk_folder(tmp_path / "m", 2, dates=False, scan_rate=None)
    with pytest.warns(UserWarning, match="frame times are unknown"):
        stack = afmio.load(tmp_path / "m")
    assert [m["timestamp"] for m in stack.frame_metadata] == [None, None]
    assert stack.get_frame_times() == [0.0, 1.0]


def test_bidirectional_from_durations_without_flag(tmp_path):
    # 6 lines at 100 Hz = 0.06 s; frames lasting 0.03 s were scanned both ways
    make_jpk_folder(tmp_path / "m", 3, interval_s=0.031, duration_s=0.03)
    stack = afmio.load(tmp_path / "m")
    assert stack.acquisition["interlace"] is None
    assert stack.acquisition["bidirectional"] is True


def test_time_zone_label_is_honoured(tmp_path):
    raw = frame_raw(0, "height_trace", (4, 4))
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw)],
              start="2025-05-28 14:41:58.548 +0100", end="2025-05-28 14:42:01.810 +0100")
    stack = afmio.load(tmp_path / "a.jpk")
    assert stack.frame_metadata[0]["start_epoch_ms"] == 1748439718548
    assert stack.frame_metadata[0]["frame_duration_s"] == pytest.approx(3.262)


@pytest.mark.parametrize(
    "label, epoch_ms",
    [
        ("GMT", 1748443318548),
        ("UTC", 1748443318548),
        ("+0100", 1748439718548),
        ("-05:30", 1748463118548),
        ("Europe/London", 1748439718548),  # BST in May
        ("XYZT", 1748443318548),  # unknown label: taken as UTC (as playNano does)
    ],
)
def test_zone_labels(tmp_path, label, epoch_ms):
    raw = frame_raw(0, "height_trace", (2, 2))
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw)],
              start=f"2025-05-28 14:41:58.548 {label}", end=f"2025-05-28 14:42:00.548 {label}")
    stack = afmio.load(tmp_path / "a.jpk")
    assert stack.frame_metadata[0]["start_epoch_ms"] == epoch_ms
    assert stack.frame_metadata[0]["frame_duration_s"] == pytest.approx(2.0)
    assert stack.acquisition["time_zone"] == (label if label != "XYZT" else "XYZT (assumed UTC)")


def test_settings_value_reads_one_key():
    text = "a.b : 1\nfast-imaging.x : 12\\:30\nx.fast-imaging.x : no\nfast-imaging.x.y : z\n"
    assert settings_value(text, "fast-imaging.x") == "12:30"
    assert settings_value(text, "fast-imaging.x.y") == "z"
    assert settings_value(text, "missing") is None
    assert settings_value(None, "a.b") is None


def test_reflect_tag_keeps_stored_row_order(tmp_path):
    raw = frame_raw(0, "height_trace", (4, 6))
    write_jpk(tmp_path / "r.jpk", [JpkChannel("height", data=raw)], reflect=True)
    write_jpk(tmp_path / "n.jpk", [JpkChannel("height", data=raw)], reflect=False)
    expected = (raw * 1e-12 * 1e9).astype(np.float32)
    kept = afmio.load(tmp_path / "r.jpk")
    np.testing.assert_array_equal(kept.data[0], expected)
    assert kept.acquisition["rows_reversed"] is False
    np.testing.assert_array_equal(afmio.load(tmp_path / "n.jpk").data[0], expected[::-1])


def test_non_square_pixels_and_frames(tmp_path):
    raw = frame_raw(0, "height_trace", (4, 10))
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw)], ulength=2e-7, vlength=1e-7)
    stack = afmio.load(tmp_path / "a.jpk")
    assert stack.shape == (1, 4, 10)
    assert stack.pixel_size_nm == pytest.approx(20.0)
    assert stack.pixel_size_y_nm == pytest.approx(25.0)
    assert stack.frame_metadata[0]["frame_pixel_size_nm"] == pytest.approx(20.0)


def test_units_from_the_declared_slot(tmp_path):
    raw = frame_raw(0, "x", (3, 3))
    chans = [
        JpkChannel("error", data=raw, multiplier=2e-12, offset=1e-9, unit="m", default_slot="distanceamplitude"),
        JpkChannel("error", retrace=True, data=raw, default_slot="volts"),  # volts slot of the builder: 3e-10 V
        JpkChannel("phase", data=raw, multiplier=1e-7, offset=0.5, unit="deg", default_slot="degrees"),
        JpkChannel("amplitude", data=raw, multiplier=1e-6, unit="um", default_slot="x"),
    ]
    write_jpk(tmp_path / "u.jpk", chans)
    flipped = raw[::-1].astype(np.float64)
    cases = {
        "error_trace": ("nm", (flipped * 2e-12 + 1e-9) * 1e9),
        "error_retrace": ("V", flipped * 3e-10),
        "phase_trace": ("deg", flipped * 1e-7 + 0.5),
        "amplitude_trace": ("nm", flipped * 1e-6 * 1e3),
    }
    for key, (unit, expected) in cases.items():
        stack = afmio.load(tmp_path / "u.jpk", channel=key)
        assert stack.z_unit == unit, key
        assert_float32_close(stack.data[0], expected)


def test_bad_calibration_is_a_clear_error(tmp_path):
    raw = frame_raw(0, "h", (3, 3))
    odd = [Slot("raw", None, "NullScaling"), Slot("calibrated", "m", "ExpScaling", 1.0, 0.0, "raw")]
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw, slots=odd)])
    with pytest.raises(CorruptFileError, match="ExpScaling"):
        afmio.load(tmp_path / "a.jpk")
    write_jpk(tmp_path / "b.jpk", [JpkChannel("height", data=raw, default_slot="nowhere", slots=odd[:1])])
    with pytest.raises(CorruptFileError, match="nowhere"):
        afmio.load(tmp_path / "b.jpk")


def test_raw_default_slot_keeps_counts(tmp_path):
    raw = frame_raw(0, "h", (3, 3))
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw, default_slot="raw")])
    stack = afmio.load(tmp_path / "a.jpk")
    assert stack.z_unit == "unknown"
    np.testing.assert_array_equal(stack.data[0], raw[::-1].astype(np.float32))


def test_mismatched_shape_names_the_odd_file(tmp_path):
    paths = make_jpk_folder(tmp_path / "m", 4, per_frame={2: {"shape": (5, 8)}})
    with pytest.raises(CorruptFileError) as err:
        afmio.load(tmp_path / "m")
    assert err.value.path == str(paths[2])
    assert "5 x 8" in str(err.value) and "6 x 8" in str(err.value)


def test_mismatched_channels_names_the_odd_file(tmp_path):
    paths = make_jpk_folder(tmp_path / "m", 3, per_frame={0: {"channels": ("height_trace",)}})
    with pytest.raises(CorruptFileError) as err:
        afmio.load(tmp_path / "m")
    assert err.value.path == str(paths[0])
    assert "channels" in str(err.value)


def test_wrong_channel_lists_what_exists(tmp_path):
    make_jpk_folder(tmp_path / "m", 2, channels=("height_trace", "measuredHeight_retrace"))
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(tmp_path / "m", channel="phase_trace")
    assert err.value.available == ["height_trace", "measuredHeight_retrace"]
    assert afmio.load(tmp_path / "m", channel="MEASUREDHEIGHT_RETRACE").channel == "measuredHeight_retrace"


def test_default_is_first_channel_without_height(tmp_path):
    make_jpk_folder(tmp_path / "m", 1, channels=("phase_trace", "error_trace"))
    assert afmio.load(tmp_path / "m").channel == "phase_trace"


@pytest.mark.parametrize(
    "kwargs, dtype",
    [({"compression": "zlib"}, np.int32), ({"rowsperstrip": 2}, np.int32), ({"byteorder": "<"}, np.int32),
     ({}, np.int16), ({"byteorder": "<"}, np.uint16)],
)
def test_other_page_layouts_read_the_same(tmp_path, kwargs, dtype):
    raw = frame_raw(0, "height_trace", (6, 8)) % 30000
    write_jpk(tmp_path / "plain.jpk", [JpkChannel("height", data=raw)])
    write_jpk(tmp_path / "odd.jpk", [JpkChannel("height", data=raw.astype(dtype))], **kwargs)
    np.testing.assert_array_equal(afmio.load(tmp_path / "odd.jpk").data, afmio.load(tmp_path / "plain.jpk").data)


def test_compressed_page_with_a_lying_size_is_refused_before_decoding(tmp_path):
    import struct

    import tifffile

    path = write_jpk(tmp_path / "z.jpk", [JpkChannel("height", data=frame_raw(0, "height_trace", (6, 8)))],
                     compression="zlib")
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages[1].tags
        fields = [(tags[name].valueoffset, tags[name].dtype) for name in ("ImageWidth", "ImageLength")]
    with open(path, "r+b") as fh:
        for offset, dtype in fields:  # 60000 x 60000 int32: 14 GB from a few hundred bytes
            fh.seek(offset)
            fh.write(struct.pack(">H" if dtype == 3 else ">I", 60000))
    with pytest.raises(CorruptFileError, match="declares 14400000000 bytes"):
        afmio.load(path, lazy=True)


def test_truncated_page_data(tmp_path):
    raw = frame_raw(0, "height_trace", (16, 16))
    path = write_jpk(tmp_path / "t.jpk", [JpkChannel("height", data=raw)])
    import tifffile

    with tifffile.TiffFile(path) as tf:
        end = tf.pages[1].dataoffsets[0] + 100
    with open(path, "r+b") as fh:
        fh.truncate(end)
    with pytest.raises(TruncatedFileError):
        afmio.load(path)


def test_not_a_jpk(tmp_path):
    (tmp_path / "x.jpk").write_bytes(b"hello, not a tiff at all")
    with pytest.raises(UnsupportedFormatError):
        afmio.load(tmp_path / "x.jpk")
    import tifffile

    tifffile.imwrite(tmp_path / "plain.jpk", np.zeros((4, 4), np.uint8))
    # a TIFF without JPK tags: the jpk driver's content check declines it (another
    # TIFF driver may take it)
    import afmio_builtins.jpk as driver

    assert driver.sniff(tmp_path / "plain.jpk") is False
    try:
        chosen = afmio.registry.resolve(tmp_path / "plain.jpk").driver.name
    except UnsupportedFormatError:
        chosen = None
    assert chosen != "jpk"
    with pytest.raises(CorruptFileError):
        afmio.load(tmp_path / "plain.jpk", format="jpk")


def test_progress_bar_is_optional(tmp_path, capfd):
    make_jpk_folder(tmp_path / "m", 24, shape=(4, 4))
    afmio.load(tmp_path / "m", progress=True)
    assert "/24 [" in capfd.readouterr().err  # tqdm's "n/24 [elapsed...]"
    afmio.load(tmp_path / "m", progress=False)
    assert capfd.readouterr().err == ""


def test_probe_agrees_with_load_on_built_folder(tmp_path):
    make_jpk_folder(tmp_path / "m", 3, channels=("phase_trace", "height_trace"))
    stack = afmio.load(tmp_path / "m")
    info = afmio.registry.probe(tmp_path / "m")
    assert (info.n_frames, info.frame_shape, info.default_channel) == (3, (6, 8), "height_trace")
    assert info.channels == ["phase_trace", "height_trace"]
    assert info.frame_times == stack.get_frame_times()
    assert info.z_unit == stack.z_unit == "nm"


def test_module_import_stays_light():
    code = (
        "import sys, afmio_builtins.jpk, afmio_builtins.h5jpk;"
        "print('tifffile' in sys.modules, 'h5py' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_no_warnings_on_clean_folder(tmp_path):
    make_jpk_folder(tmp_path / "m", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        afmio.registry.load(tmp_path / "m")


def test_conformance_kit_on_the_real_image(sample, tmp_path):
    from afmio.testing import Expected, check_reader, make_registry
    from afmio_builtins.catalog import builtin

    path = sample(TEN_CHANNELS)
    check_reader(
        make_registry(builtin("jpk")),
        path,
        "jpk",
        Expected(n_frames=1, frame_shape=(256, 256), channel="height_trace", z_unit="nm",
                 pixels={(0, 0, 0): 3304.327633, (0, 255, 0): 3334.485151}),
        tmp_dir=tmp_path,
    )


def test_conformance_kit_on_a_built_folder(tmp_path):
    from afmio.testing import Expected, check_reader, make_registry
    from afmio_builtins.catalog import builtin

    make_jpk_folder(tmp_path / "m", 3, channels=("height_trace", "phase_retrace"))
    check_reader(make_registry(builtin("jpk")), tmp_path / "m", "jpk",
                 Expected(n_frames=3, frame_shape=(6, 8), channels=["height_trace", "phase_retrace"],
                          frame_times=[0.0, 2.59, 5.18]),
                 tmp_dir=tmp_path / "damage")


@pytest.mark.parametrize(
    ("unit", "factor", "z_unit"),
    [("m", 1e9, "nm"), ("µm", 1e3, "nm"), ("μm", 1e3, "nm"), ("um", 1e3, "nm"), ("cm", 1e7, "nm"),
     ("pm", 1e-3, "nm"), ("nm", 1.0, "nm"), ("V", 1.0, "V"), ("mV", 1.0, "mV"), ("deg", 1.0, "deg")],
)
def test_value_scale_units(unit, factor, z_unit):
    # Lengths fold into the affine map as nm; other units are kept as written, unscaled.
    scale = value_scale(2.0, -3.0, unit)
    assert scale.multiplier == pytest.approx(2.0 * factor, rel=1e-15)
    assert scale.offset == pytest.approx(-3.0 * factor, rel=1e-15)
    assert (scale.z_unit, scale.file_unit) == (z_unit, unit)


def test_each_header_is_parsed_once(tmp_path, monkeypatch):
    import tifffile

    make_jpk_folder(tmp_path / "m", 3)
    opened = []
    real = tifffile.TiffFile

    class Counting(real):
        def __init__(self, arg, *args, **kwargs):
            opened.append(Path(arg).name)
            super().__init__(arg, *args, **kwargs)

    monkeypatch.setattr(tifffile, "TiffFile", Counting)
    stack = afmio.load(tmp_path / "m", channel="height_retrace")
    assert stack.channel == "height_retrace" and stack.n_frames == 3
    assert sorted(opened) == sorted(p.name for p in (tmp_path / "m").iterdir())
    opened.clear()
    one = next((tmp_path / "m").iterdir())
    assert afmio.registry.probe(one).n_frames == 1
    assert opened == [one.name]


@pytest.mark.parametrize(
    "label, epoch_ms",
    [
        ("CEST", 1748436118548),  # 14:41:58.548 at UTC+2
        ("Europe/Paris", 1748436118548),
        ("CET", 1748439718548),
    ],
)
def test_zone_abbreviations_and_names_are_read_in_their_zone(tmp_path, label, epoch_ms):
    """A file stating CEST / Europe/Paris is read in that zone, not "assumed UTC"."""
    raw = frame_raw(0, "height_trace", (2, 2))
    write_jpk(tmp_path / "a.jpk", [JpkChannel("height", data=raw)],
              start=f"2025-05-28 14:41:58.548 {label}", end=f"2025-05-28 14:42:00.548 {label}")
    stack = afmio.load(tmp_path / "a.jpk")
    assert stack.frame_metadata[0]["start_epoch_ms"] == epoch_ms
    assert stack.acquisition["time_zone"] == label


def test_a_stated_zone_id_resolves_its_abbreviation():
    """The shared date parser: the file's IANA zone (QI header properties) backs its abbreviation."""
    from datetime import timedelta

    from afmio_builtins._jpk_common import parse_jpk_date

    when, known = parse_jpk_date("2025-05-20 17:48:42.479 CEST", zone_id="Europe/Paris")
    assert known and when.utcoffset() == timedelta(hours=2) and str(when.tzinfo) == "Europe/Paris"
    # An abbreviation that names no single zone is resolved only through the stated zone.
    when, known = parse_jpk_date("2025-01-20 17:48:42.479 CST", zone_id="America/Chicago")
    assert known and when.utcoffset() == timedelta(hours=-6)
    assert parse_jpk_date("2025-01-20 17:48:42.479 CST")[1] is False
    # A stated zone that does not use the label is not trusted over the label.
    when, known = parse_jpk_date("2025-05-20 17:48:42.479 CEST", zone_id="Europe/London")
    assert known and when.utcoffset() == timedelta(hours=2)


def test_raw_page_declaring_more_rows_than_it_stores_is_refused_before_allocating(tmp_path):
    # issue 22: ImageLength 16777216 on a 6x8 raw page sized a 512 MiB np.empty
    from afmio_testdata.adversarial import jpk_tall_page

    folder = jpk_tall_page(tmp_path)
    tall = sorted(folder.glob("*.jpk"))[1]
    for fn in (afmio.load, afmio.registry.probe):
        with pytest.raises(CorruptFileError, match=r"page 1 \(16777216x8 pixels\) declares 536870912 bytes"):
            fn(tall)


def test_folder_with_one_cut_frame_names_it_and_skip_damaged_loads_the_rest(tmp_path, capsys):
    # issue 20: a cut JPK frame printed tifffile's own log lines, then an error without a way out
    from afmio.cli import main

    paths = make_jpk_folder(tmp_path / "movie", 3, shape=(6, 8))
    whole = afmio.load(tmp_path / "movie")
    cut = paths[1].read_bytes()
    paths[1].write_bytes(cut[: len(cut) // 2])
    with pytest.raises(CorruptFileError, match=rf"{paths[1].name}: .*frame file 2 of 3; pass skip_damaged=True"):
        afmio.load(tmp_path / "movie")
    with pytest.warns(UserWarning, match=f"skipped 1 damaged frame file.*{paths[1].name}"):
        stack = afmio.load(tmp_path / "movie", skip_damaged=True)
    np.testing.assert_array_equal(stack.data, whole.data[[0, 2]])
    assert stack.acquisition["damaged_files"] == [paths[1].name]
    assert main(["info", str(tmp_path / "movie")]) == 1
    err = capsys.readouterr().err
    assert "--skip-damaged" in err and len(err.strip().splitlines()) == 1  # tifffile's lines folded in


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("shape", [(7, 5, 3), (5, 3)])
def test_scaling_through_a_small_work_buffer_equals_the_float64_formula(monkeypatch, flip, shape):
    """Frames are scaled a few at a time (here 2 per slab, with a shorter last slab)."""
    from afmio_builtins import _jpk_common

    monkeypatch.setattr(_jpk_common, "SCALE_WORK_BYTES", 2 * 5 * 3 * 8 if len(shape) == 3 else 8)
    raw = np.random.default_rng(1).integers(-(1 << 30), 1 << 30, shape, dtype=np.int32)
    scale = value_scale(3.0517578125e-05 / 7, 1.25e-7, "m")
    out = np.empty(shape, np.float32)
    _jpk_common.scale_into(raw, scale, out, flip=flip)
    want = (raw.astype(np.float64) * scale.multiplier + scale.offset).astype(np.float32)
    assert np.array_equal(out, want[..., ::-1, :] if flip else want)
