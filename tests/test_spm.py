"""NanoScope (``spm``) driver: real folders against the sheet, hand-built files for the rest."""

from __future__ import annotations

import re
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import afmio
from afmio.errors import (
    ChannelNotFoundError,
    CorruptFileError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from afmio.testing import Expected, check_declaration, check_reader, make_registry
from afmio_builtins import spm
from afmio_builtins._nanoscope_header import parse_date, read_header, si_factor
from afmio_builtins.catalog import builtin
from afmio_testdata.spm_builder import (
    SpmImage,
    build_header,
    build_spm,
    expected_values,
    write_series,
    write_spm,
)

FASTSCAN = "spm_folder_fastscan_nanolocz"
OLD = "spm_folder_old_bruker"


# --------------------------------------------------------------------------- independent reference
def _reference(path: Path, channel: str) -> tuple[np.ndarray, float]:
    """Float64 values of ``channel`` by the sheet's formula, written apart from the driver.

    Regexes over the raw header find the image section, its offset, the Z scale hard
    value with unit and the named sensitivity; result in nm (or deg when unitless).
    """
    blob = path.read_bytes()
    text = blob[: blob.index(b"\\*File list end")].decode("latin-1")
    first_image = text.index("\\*Ciao image list")
    sections = text.split("\\*Ciao image list")[1:]
    for sec in sections:
        m = re.search(r'\\@2:Image Data: S \[[^\]]*\] "([^"]*)"', sec)
        if m and m.group(1) == channel:
            break
    else:
        raise AssertionError(f"{channel} not in {path}")
    offset = int(re.search(r"\\Data offset: (\d+)", sec).group(1))
    rows = int(re.search(r"\\Valid data len Y: (\d+)", sec).group(1))
    cols = int(re.search(r"\\Valid data len X: (\d+)", sec).group(1))
    soft, hard, hard_unit = re.search(r"\\@2:Z scale: V \[([^\]]+)\] \([^)]*\) ([-\d.]+) (\S+)", sec).groups()
    sens_line = re.findall(rf"\\@{re.escape(soft)}: V ([-\d.]+) ?(\S*)", text[:first_image])[-1]
    sens, sens_unit = float(sens_line[0]), sens_line[1]
    hard_v = float(hard) * {"V": 1.0, "mV": 1e-3}.get(hard_unit, 1.0)
    raw = np.frombuffer(blob, "<i2", rows * cols, offset).reshape(rows, cols).astype(np.float64)
    factor = hard_v / 65536 * sens * (1.0 if sens_unit in ("nm/V", "") else np.nan)
    scan_rate = float(re.search(r"\\Scan [Rr]ate: ([\d.]+)", text).group(1))
    return raw[::-1] * factor, scan_rate


def _epoch_ms(text: str) -> int:
    return int(datetime.strptime(text, "%I:%M:%S %p %a %b %d %Y").replace(tzinfo=timezone.utc).timestamp() * 1000)


# --------------------------------------------------------------------------- real FastScan folder
def test_fastscan_folder_height_sensor(sample):
    folder = sample(FASTSCAN)
    stack = afmio.load(folder)
    assert stack.provenance["source"]["driver"] == "spm"
    assert stack.shape == (3, 486, 768)
    assert stack.dtype == np.float32
    assert stack.channel == "Height Sensor"
    assert stack.z_unit == "nm"
    # Gwyddion's rule: 100 nm over 768 samples and over 486 lines.
    assert stack.pixel_size_nm == pytest.approx(100 / 768, rel=1e-12)
    assert stack.pixel_size_y_nm == pytest.approx(100 / 486, rel=1e-12)
    assert stack.pixel_size_nm == pytest.approx(0.130208, abs=1e-6)
    assert stack.pixel_size_y_nm == pytest.approx(0.205761, abs=1e-6)

    files = ["09261606.001", "09261609.001", "09261616.001"]
    assert stack.acquisition["files"] == files
    for i, name in enumerate(files):
        ref, _ = _reference(folder / name, "Height Sensor")
        np.testing.assert_allclose(stack.data[i], ref, rtol=0, atol=1e-4)

    # Checked numbers from the sheet (playNano / AFMReader on the same files).
    data = stack.data.astype(np.float64)
    assert data.min() == pytest.approx(494.654749, abs=1e-4)
    assert data.max() == pytest.approx(594.515801, abs=1e-4)
    assert data.mean() == pytest.approx(538.938944, abs=1e-4)
    assert data[0, 0, 0] == pytest.approx(495.054793, abs=1e-4)


def test_fastscan_folder_metadata(sample):
    stack = afmio.load(sample(FASTSCAN))
    md = stack.frame_metadata
    assert [m["timestamp"] for m in md] == pytest.approx([0.0, 209.88, 629.04], abs=1e-9)
    assert md[0]["frame_duration_s"] == pytest.approx(209.88, abs=1e-9)
    assert md[1]["frame_duration_s"] == pytest.approx(419.16, abs=1e-9)
    assert md[2]["frame_duration_s"] is None
    assert md[0]["start_epoch_ms"] == 1569513985000
    assert md[1]["start_epoch_ms"] == _epoch_ms("04:09:54 PM Thu Sep 26 2019")
    assert md[2]["start_epoch_ms"] == _epoch_ms("04:16:54 PM Thu Sep 26 2019")
    assert all(m["scan_direction"] == "topDown" for m in md)
    assert all(m["line_rate"] == 2.32515 for m in md)
    assert all(m["frame_pixel_size_nm"] == pytest.approx(100 / 768) for m in md)
    acq = stack.acquisition
    assert acq["line_direction"] == "Retrace"  # the only direction stored, and said so
    assert "Retrace" in acq["line_direction_note"]
    assert acq["timing_source"] == "relative frame time"
    assert acq["frame_order"] == "header date"
    assert acq["nanoscope_version"] == "0x09010201"


def test_fastscan_amplitude_honours_the_millivolt_prefix(sample):
    folder = sample(FASTSCAN)
    stack = afmio.load(folder, channel="amplitude", dtype="float64")
    assert stack.channel == "Amplitude"
    assert stack.z_unit == "nm"
    raw = np.frombuffer((folder / "09261606.001").read_bytes(), "<i2", 486 * 768, 787456).reshape(486, 768)
    # 999.9847 mV * 20 nm/V per 65536 LSB, rows flipped
    expected = raw[::-1].astype(np.float64) * (0.9999847 * 20.0 / 65536)
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, atol=0)
    afmreader_style = raw[::-1].astype(np.float64) * (999.9847 * 20.0 / 65536)
    np.testing.assert_allclose(stack.data[0] * 1000, afmreader_style, rtol=1e-12)
    ref, _ = _reference(folder / "09261606.001", "Amplitude")
    np.testing.assert_allclose(stack.data[0], ref, rtol=1e-12)


def test_fastscan_phase_stays_in_degrees(sample):
    folder = sample(FASTSCAN)
    stack = afmio.load(folder, channel="PHASE", dtype=np.float64)
    assert stack.channel == "Phase"
    assert stack.z_unit == "deg"  # "Sens. Phase: V 1.000000" has no unit; the hard value is in º
    raw = np.frombuffer((folder / "09261616.001").read_bytes(), "<i2", 486 * 768, 1533952).reshape(486, 768)
    np.testing.assert_allclose(stack.data[2], raw[::-1] * (359.9945 / 65536), rtol=1e-12)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, "Height Sensor"), ("height", "Height Sensor"), ("HEIGHT sensor", "Height Sensor"),
     ("ZSensor", "Height Sensor"), ("zsensor", "Height Sensor"), ("AmplitudeActual", "Amplitude"),
     ("phase", "Phase")],
)
def test_fastscan_channel_names(sample, requested, expected):
    stack = afmio.load(sample(FASTSCAN), channel=requested, lazy=True)
    assert stack.channel == expected


def test_fastscan_channel_errors_and_directions(sample):
    folder = sample(FASTSCAN)
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(folder, channel="Deflection")
    assert err.value.available == ["Height Sensor", "Amplitude", "Phase"]
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(folder, direction="trace")  # only Retrace is stored: an explicit ask fails
    assert "Height Sensor (Trace)" in str(err.value)
    stack = afmio.load(folder, direction="retrace", lazy=True)
    assert stack.acquisition["line_direction"] == "Retrace"
    assert "line_direction_note" not in stack.acquisition
    with pytest.raises(ValueError, match="direction"):
        spm.read(folder, direction="sideways")


def test_fastscan_single_file_is_one_frame(sample):
    folder = sample(FASTSCAN)
    single = afmio.load(folder / "09261609.001")
    assert single.shape == (1, 486, 768)
    assert "single frame of a folder format" in single.provenance["source"]["reason"]
    whole = afmio.load(folder)
    np.testing.assert_array_equal(single.data[0], whole.data[1])
    assert single.frame_metadata[0]["timestamp"] == 0.0
    assert single.frame_metadata[0]["start_epoch_ms"] == whole.frame_metadata[1]["start_epoch_ms"]


def test_fastscan_probe_agrees_with_load(sample):
    folder = sample(FASTSCAN)
    info = afmio.registry.probe(folder)
    stack = afmio.load(folder)
    assert info.n_frames == stack.n_frames
    assert info.frame_shape == stack.image_shape
    assert info.channels == ["Height Sensor", "Amplitude", "Phase"]
    assert info.default_channel == stack.channel
    assert info.pixel_size_nm == stack.pixel_size_nm
    assert info.pixel_size_y_nm == stack.pixel_size_y_nm
    assert info.z_unit == stack.z_unit
    assert info.frame_times == stack.get_frame_times()
    assert info.acquisition == stack.acquisition
    assert afmio.registry.channels(folder) == info.channels
    assert afmio.registry.channels(folder / "09261606.001") == info.channels


def test_fastscan_lazy_equals_eager(sample):
    folder = sample(FASTSCAN)
    eager = afmio.load(folder)
    with afmio.load(folder, lazy=True) as lazy:
        assert lazy.is_lazy
        np.testing.assert_array_equal(lazy.get_frame(2), eager.data[2])
        np.testing.assert_array_equal(lazy[1:3].data, eager.data[1:3])
        np.testing.assert_array_equal(lazy.data, eager.data)


# --------------------------------------------------------------------------- real NanoScope 5.31 folder
def test_old_bruker_folder(sample):
    folder = sample(OLD)
    stack = afmio.load(folder)
    assert stack.shape == (2, 256, 256)
    assert stack.channel == "Height"
    assert stack.z_unit == "nm"
    assert stack.pixel_size_nm == 58.59375 == stack.pixel_size_y_nm  # 15 ~m / 256
    for i, name in enumerate(["old_bruker.002", "old_bruker.004"]):
        ref, rate = _reference(folder / name, "Height")  # each file has its own Sens. Zscan
        np.testing.assert_allclose(stack.data[i], ref, rtol=0, atol=1e-4)
    assert rate == 1.50498
    # Checked range of old_bruker.002 from the sheet (AFMReader "Height").
    assert float(stack.data[0].min()) == pytest.approx(52.300480, abs=1e-4)
    assert float(stack.data[0].max()) == pytest.approx(757.092440, abs=1e-4)
    # No relative frame time in v5: lines / "Scan rate" (lower-case r, which playNano misses).
    interval = 256 / 1.50498
    md = stack.frame_metadata
    assert [m["timestamp"] for m in md] == pytest.approx([0.0, interval], rel=1e-12)
    assert [m["frame_duration_s"] for m in md] == pytest.approx([interval, interval], rel=1e-12)
    assert [m["line_rate"] for m in md] == [1.50498, 1.50498]
    assert [m["scan_direction"] for m in md] == ["bottomUp", "bottomUp"]
    assert md[0]["start_epoch_ms"] == _epoch_ms("12:34:38 PM Tue Jul 30 2019")
    assert md[1]["start_epoch_ms"] == _epoch_ms("12:45:17 PM Tue Jul 30 2019")
    assert stack.acquisition["timing_source"] == "lines / scan rate"
    assert stack.acquisition["line_direction"] == "Trace"
    assert "line_direction_note" not in stack.acquisition
    info = afmio.registry.probe(folder)
    assert (info.n_frames, info.frame_shape, info.channels, info.z_unit) == (2, (256, 256), ["Height"], "nm")
    assert info.frame_times == stack.get_frame_times()


def test_real_files_are_sniffed(sample):
    assert spm.sniff(sample(FASTSCAN)) is True
    assert spm.sniff(sample(OLD) / "old_bruker.004") is True
    assert afmio.registry.resolve(sample(OLD)).driver.name == "spm"


# --------------------------------------------------------------------------- hand-built files
RAW = (np.arange(-60, 60, dtype=np.int16).reshape(10, 12) * 211).astype(np.int16)


@pytest.mark.parametrize("style", ["v5", "v9"])
def test_key_spellings_of_both_generations(tmp_path, style):
    image = SpmImage(RAW, channel="Height", internal="Height", z_scale="V [Sens. Zscan] (0.006713765 V/LSB) 439.9866 V")
    sens = {"Sens. Zscan": "V 15.06800 nm/V"}
    for i in range(2):
        write_spm(tmp_path / f"scan.{i + 1:03d}", [image], style=style, sensitivities=sens,
                  relative_frame_time=None, scan_rate=1.5, date=f"12:34:3{i} PM Tue Jul 30 2019")
    text = (tmp_path / "scan.001").read_bytes()
    assert (b"\\Scan rate: 1.5" in text) == (style == "v5")
    assert (b"\\Scan Rate: 1.5" in text) == (style == "v9")
    stack = afmio.load(tmp_path, dtype="float64")
    expected, unit = expected_values(image, (439.9866, "V"), (15.068, "nm/V"))
    assert stack.z_unit == unit == "nm"
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12)
    assert stack.pixel_size_nm == pytest.approx(100 / 12)
    assert stack.pixel_size_y_nm == pytest.approx(100 / 10)
    assert [m["timestamp"] for m in stack.frame_metadata] == pytest.approx([0.0, 10 / 1.5])
    assert [m["line_rate"] for m in stack.frame_metadata] == [1.5, 1.5]
    assert stack.acquisition["line_direction"] == "Trace"


def test_four_byte_pixels(tmp_path):
    raw = np.array([[2**31 - 1, -(2**31), 0], [123456789, -987654321, 1]], dtype=np.int32)
    image = SpmImage(raw, z_scale="V [Sens. ZsensSens] (0.0003750000 V/LSB) 24.57563 V")
    path = write_spm(tmp_path / "deep.spm", [image])
    assert b"\\Bytes/pixel: 4" in path.read_bytes()
    stack = afmio.load(path, dtype="float64")
    expected, _ = expected_values(image, (24.57563, "V"), (133.3501, "nm/V"))
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12)
    # the divisor is 2**32, not 2**16
    assert stack.data[0][1, 0] == pytest.approx((2**31 - 1) * 24.57563 / 2**32 * 133.3501, rel=1e-12)
    assert stack.acquisition["bytes_per_pixel"] == 4
    single = afmio.load(path)  # float32 default
    np.testing.assert_allclose(single.data[0], expected, rtol=1e-6)


def test_one_byte_pixels(tmp_path):
    raw = np.array([[-128, 0, 127]], dtype=np.int8)
    image = SpmImage(raw)
    stack = afmio.load(write_spm(tmp_path / "tiny.spm", [image]), dtype="float64")
    expected, _ = expected_values(image, (24.57563, "V"), (133.3501, "nm/V"))
    np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12)


def test_si_prefixes_on_every_unit(tmp_path):
    images = [
        SpmImage(RAW, channel="Amplitude", internal="AmplitudeActual",
                 z_scale="V [Sens. AmplSens] (0.01525879 mV/LSB) 999.9847 mV"),
        SpmImage(RAW, channel="Deflection", internal="Deflection",
                 z_scale="V [Sens. DeflSens] (0.0003051758 V/LSB) 20.00000 V"),
        SpmImage(RAW, channel="Micro", internal="Micro", z_scale="V [Sens. Micro] (0.0003 V/LSB) 2.0 V"),
        SpmImage(RAW, channel="Raw", internal="Raw", z_scale="V (0.0003051758 V/LSB) 20.00000 V"),
        SpmImage(RAW, channel="Input", internal="Input", z_scale="V [Sens. Input1] (0.0003051758 mV/LSB) 2000 mV"),
    ]
    sens = {"Sens. AmplSens": "V 20.00000 nm/V", "Sens. DeflSens": "V 50000 pm/V",
            "Sens. Micro": "V 0.5 ~m/V", "Sens. Input1": "V 1.000000 "}
    path = write_spm(tmp_path / "units.spm", images, sensitivities=sens)
    cases = [
        ("Amplitude", (999.9847, "mV"), (20.0, "nm/V")),
        ("Deflection", (20.0, "V"), (50000.0, "pm/V")),
        ("Micro", (2.0, "V"), (0.5, "~m/V")),
    ]
    for channel, hard, s in cases:
        stack = afmio.load(path, channel=channel, dtype="float64")
        expected, unit = expected_values(images[0], hard, s)
        assert stack.z_unit == unit == "nm", channel
        np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, err_msg=channel)
    raw_stack = afmio.load(path, channel="Raw", dtype="float64")  # no soft scale: volts
    assert raw_stack.z_unit == "V"
    np.testing.assert_allclose(raw_stack.data[0], expected_values(images[0], (20.0, "V"), None)[0], rtol=1e-12)
    unitless = afmio.load(path, channel="Input", dtype="float64")  # unitless sens keeps mV -> V
    assert unitless.z_unit == "V"
    np.testing.assert_allclose(unitless.data[0], RAW[::-1] * (2.0 / 65536), rtol=1e-12)


def test_missing_sensitivity_falls_back_with_a_note(tmp_path):
    image = SpmImage(RAW, z_scale="V [Sens. Nowhere] (0.0003750000 V/LSB) 24.57563 V")
    stack = afmio.load(write_spm(tmp_path / "x.spm", [image]), dtype="float64")
    assert stack.z_unit == "V"
    assert "Sens. Nowhere" in stack.acquisition["z_scale_note"]
    np.testing.assert_allclose(stack.data[0], RAW[::-1] * (24.57563 / 65536), rtol=1e-12)


def test_scan_list_sensitivity_wins_over_scanner_list(tmp_path):
    image = SpmImage(RAW, z_scale="V [Sens. Phase] (0.005493164 º/LSB) 359.9945 º", channel="Phase")
    path = write_spm(tmp_path / "p.spm", [image], sensitivities={"Sens. Phase": "V 3.0 "},
                     scan_list_sensitivities={"Sens. Phase": "V 1.000000 "})
    stack = afmio.load(path, dtype="float64")
    assert stack.z_unit == "deg"
    np.testing.assert_allclose(stack.data[0], RAW[::-1] * (359.9945 / 65536), rtol=1e-12)


def test_missing_relative_frame_time_in_one_file(tmp_path):
    for i in range(3):
        rel = None if i == 1 else 50.0 + 7 * i
        write_spm(tmp_path / f"f.{i:03d}", [SpmImage(RAW)], relative_frame_time=rel, scan_rate=4.0,
                  date=f"04:06:2{i} PM Thu Sep 26 2019")
    stack = afmio.load(tmp_path)
    assert stack.acquisition["timing_source"] == "lines / scan rate"
    assert [m["timestamp"] for m in stack.frame_metadata] == pytest.approx([0.0, 2.5, 5.0])
    assert [m["frame_duration_s"] for m in stack.frame_metadata] == pytest.approx([2.5] * 3)
    # every file with the time: the gaps
    write_spm(tmp_path / "f.001", [SpmImage(RAW)], relative_frame_time=60.5, scan_rate=4.0,
              date="04:06:21 PM Thu Sep 26 2019")
    timed = afmio.load(tmp_path)
    assert timed.acquisition["timing_source"] == "relative frame time"
    assert [m["timestamp"] for m in timed.frame_metadata] == pytest.approx([0.0, 10.5, 14.0])
    assert [m["frame_duration_s"] for m in timed.frame_metadata][:2] == pytest.approx([10.5, 3.5])
    assert timed.frame_metadata[2]["frame_duration_s"] is None


def test_no_timing_at_all(tmp_path):
    write_spm(tmp_path / "a.spm", [SpmImage(RAW)], relative_frame_time=None, scan_rate=None, date=None)
    stack = afmio.load(tmp_path / "a.spm")
    md = stack.frame_metadata[0]
    assert md["timestamp"] is None and md["line_rate"] is None and md["start_epoch_ms"] is None
    assert stack.acquisition["timing_source"].startswith("unknown")


def test_order_by_header_date_then_name(tmp_path):
    # names say b, a, c; dates say a first
    for name, second in [("b.001", 3), ("a.002", 1), ("c.003", 5)]:
        raw = np.full((2, 2), second, np.int16)
        write_spm(tmp_path / name, [SpmImage(raw)], date=f"04:06:0{second} PM Thu Sep 26 2019",
                  relative_frame_time=float(second))
    stack = afmio.load(tmp_path)
    assert stack.acquisition["files"] == ["a.002", "b.001", "c.003"]
    assert stack.acquisition["frame_order"] == "header date"
    assert [m["timestamp"] for m in stack.frame_metadata] == [0.0, 2.0, 4.0]


def test_order_falls_back_to_natural_names(tmp_path):
    for name in ["s10.spm", "s2.spm", "s1.spm"]:
        write_spm(tmp_path / name, [SpmImage(RAW)], date=None)
    stack = afmio.load(tmp_path)
    assert stack.acquisition["files"] == ["s1.spm", "s2.spm", "s10.spm"]
    assert stack.acquisition["frame_order"] == "natural name order"


def test_bogus_numeric_extension_file_is_skipped(tmp_path):
    write_spm(tmp_path / "scan.001", [SpmImage(RAW)])
    write_spm(tmp_path / "scan.002", [SpmImage(RAW + 1)], date="04:06:26 PM Thu Sep 26 2019")
    (tmp_path / "notes.003").write_bytes(b"meeting notes, not an AFM file\n")
    (tmp_path / "readme.txt").write_text("ignored: not a member name")
    with pytest.warns(UserWarning, match=r"notes\.003"):
        stack = afmio.load(tmp_path)
    assert stack.n_frames == 2
    assert stack.acquisition["skipped_files"] == ["notes.003"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spm.sniff(tmp_path) is True  # the folder still is NanoScope
    # the bogus file alone is nobody's
    assert spm.sniff(tmp_path / "notes.003") is False
    with pytest.raises(UnsupportedFormatError):
        afmio.load(tmp_path / "notes.003")
    with pytest.raises(UnsupportedFormatError, match="not a NanoScope file"):
        afmio.load(tmp_path / "notes.003", format="spm")


def test_folder_of_only_bogus_files(tmp_path):
    (tmp_path / "a.001").write_bytes(b"\x00" * 100)
    (tmp_path / "b.002").write_bytes(b"?*File list\r\n text variant")
    assert spm.sniff(tmp_path) is False
    with pytest.raises(UnsupportedFormatError):
        afmio.load(tmp_path)
    with pytest.raises(UnsupportedFormatError, match="none of the 2 files"):
        afmio.load(tmp_path, format="nanoscope")
    with pytest.raises(UnsupportedFormatError, match="text-data"):
        read_header(tmp_path / "b.002")


def test_shape_mismatch_names_the_odd_file(tmp_path):
    write_spm(tmp_path / "a.001", [SpmImage(RAW)], date="04:06:20 PM Thu Sep 26 2019")
    write_spm(tmp_path / "b.002", [SpmImage(RAW[:, :6])], date="04:06:21 PM Thu Sep 26 2019")
    with pytest.raises(CorruptFileError) as err:
        afmio.load(tmp_path)
    assert err.value.path.endswith("b.002")
    assert "10 x 6" in str(err.value) and "a.001" in str(err.value)


def test_trace_and_retrace_both_stored(tmp_path):
    trace = SpmImage(RAW, line_direction="Trace")
    retrace = SpmImage((RAW * 2).astype(np.int16), line_direction="Retrace")
    path = write_spm(tmp_path / "tr.spm", [retrace, trace])  # retrace stored first
    default = afmio.load(path, dtype="float64")
    assert default.acquisition["line_direction"] == "Trace"
    assert "line_direction_note" not in default.acquisition
    back = afmio.load(path, direction="Retrace", dtype="float64")
    assert back.acquisition["line_direction"] == "Retrace"
    assert back.acquisition["line_direction_requested"] == "Retrace"
    np.testing.assert_allclose(back.data, default.data * 2, rtol=1e-12)
    assert afmio.registry.channels(path) == ["Height Sensor"]


def test_exact_spelling_beats_the_height_alias(tmp_path):
    images = [
        SpmImage(RAW, channel="Height", internal="Height"),
        SpmImage((RAW // 2).astype(np.int16), channel="Height Sensor", internal="ZSensor"),
    ]
    path = write_spm(tmp_path / "both.spm", images)
    assert afmio.load(path).channel == "Height Sensor"
    assert afmio.load(path, channel="height").channel == "Height Sensor"
    assert afmio.load(path, channel="Height").channel == "Height"
    assert afmio.load(path, channel="zsensor").channel == "Height Sensor"


def test_default_channel_without_height(tmp_path):
    images = [SpmImage(RAW, channel="Amplitude", internal="AmplitudeActual",
                       z_scale="V [Sens. AmplSens] (0.01525879 mV/LSB) 999.9847 mV")]
    path = write_spm(tmp_path / "amp.spm", images)
    assert afmio.load(path).channel == "Amplitude"
    with pytest.raises(ChannelNotFoundError):
        afmio.load(path, channel="height")


def test_aborted_frame_uses_valid_rows_and_full_raster_pixel_size(tmp_path):
    partial = RAW[:4]
    path = write_spm(tmp_path / "abort.spm", [SpmImage(partial, lines=10, scan_size="100 50 nm")])
    stack = afmio.load(path)
    assert stack.shape == (1, 4, 12)
    assert stack.pixel_size_nm == pytest.approx(100 / 12)
    assert stack.pixel_size_y_nm == pytest.approx(50 / 10)


def test_one_number_scan_size_uses_aspect_ratio(tmp_path):
    image = SpmImage(RAW, scan_size="2 ~m", extra={"Aspect Ratio": "2:1"}, omit=("Aspect Ratio",))
    stack = afmio.load(write_spm(tmp_path / "old.spm", [image]))
    assert stack.pixel_size_nm == pytest.approx(2000 / 12)
    assert stack.pixel_size_y_nm == pytest.approx(1000 / 10)


def test_without_valid_len_rows_are_lines(tmp_path):
    raw = np.arange(6 * 8, dtype=np.int16).reshape(6, 8)  # 6 lines of 8 samples, not square
    image = SpmImage(raw, valid_len=False)
    stack = afmio.load(write_spm(tmp_path / "nv.spm", [image]), dtype="float64")
    assert stack.shape == (1, 6, 8)
    np.testing.assert_allclose(stack.data[0], expected_values(image, (24.57563, "V"), (133.3501, "nm/V"))[0])


# --------------------------------------------------------------------------- broken files
def test_truncated_data(tmp_path):
    blob = build_spm([SpmImage(RAW)])
    path = tmp_path / "cut.001"
    path.write_bytes(blob[:-10])
    with pytest.raises(TruncatedFileError) as err:
        afmio.load(path)
    assert err.value.path == str(path) and "Height Sensor" in str(err.value)
    with pytest.raises(TruncatedFileError):
        afmio.registry.probe(path)


def test_header_without_end_marker(tmp_path):
    path = tmp_path / "noend.spm"
    path.write_bytes(build_spm([SpmImage(RAW)], end_marker=False))
    with pytest.raises(CorruptFileError, match="File list end"):
        afmio.load(path)


def test_file_cut_inside_the_header(tmp_path):
    path = tmp_path / "short.spm"
    path.write_bytes(build_spm([SpmImage(RAW)])[:300])
    with pytest.raises(TruncatedFileError, match="inside the header"):
        afmio.load(path)


def test_implausible_declared_header_length(tmp_path):
    path = tmp_path / "huge.spm"
    path.write_bytes(build_spm([SpmImage(RAW)], declared_header_size=2**40, end_marker=False))
    with pytest.raises(CorruptFileError, match="implausible"):
        afmio.load(path)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (SpmImage(RAW, omit=("@2:Z scale",)), "no 'Z scale'"),
        (SpmImage(RAW, z_scale="V [Sens. ZsensSens] (0.000375 V/LSB) many V"), "cannot read a number"),
        (SpmImage(RAW, omit=("@2:Image Data",)), "Image Data"),
        (SpmImage(RAW, omit=("Data offset",)), "Data offset"),
        (SpmImage(RAW, extra={"Bytes/pixel": "3"}, omit=("Bytes/pixel",)), "Bytes/pixel"),
        (SpmImage(RAW, extra={"Data length": "8"}, omit=("Data length",)), "Data length"),
        (SpmImage(RAW, scan_size="100 100 Hz"), "Scan Size"),
        (SpmImage(RAW, line_direction="Sideways"), "line direction"),
        # overflowing numbers found by fuzzing: never inf pixel sizes or factors
        (SpmImage(RAW, scan_size="1e999 1e999 nm"), "Scan Size"),
        (SpmImage(RAW, z_scale="V [Sens. ZsensSens] (0.000375 V/LSB) 1e308 V"), "not finite"),
        (SpmImage(RAW, extra={"Number of lines": "1e999"}, omit=("Number of lines",)), "Number of lines"),
    ],
)
def test_corrupt_image_sections(tmp_path, image, match):
    path = write_spm(tmp_path / "bad.spm", [image])
    with pytest.raises(CorruptFileError, match=match) as err:
        afmio.load(path)
    assert err.value.path == str(path)


def test_no_image_section(tmp_path):
    path = tmp_path / "empty.spm"
    text = build_header([SpmImage(RAW)]).split("\\*Ciao image list")[0] + "\\*File list end\r\n"
    path.write_bytes(text.encode("latin-1") + b"\x1a")
    with pytest.raises(CorruptFileError, match="no '\\\\\\*Ciao image list'"):
        afmio.load(path)


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(UnsupportedFormatError):
        afmio.load(tmp_path, format="spm")
    with pytest.raises(FileNotFoundError):
        afmio.load(tmp_path / "nothing", format="spm")


def test_registry_declaration():
    driver = afmio.registry.driver("nanoscope")
    assert driver.name == "spm"
    assert driver.spec.kind == "folder"
    assert driver.member_match("frame.001") and driver.member_match("X.SPM")
    assert not driver.member_match("frame.01") and not driver.member_match("frame.1234")


# --------------------------------------------------------------------------- header helpers
def test_units_and_dates():
    assert si_factor("mV") == (1e-3, "V")
    assert si_factor("~m") == (1e-6, "m")
    assert si_factor("º") == (1.0, "deg")
    assert si_factor("kHz") == (1e3, "Hz")
    assert si_factor("log(Pa)") == (1.0, "log(Pa)")
    assert parse_date("04:06:25 PM Thu Sep 26 2019") == 1569513985.0
    assert parse_date("12:05:00 AM Wed Jan 01 2020") == datetime(2020, 1, 1, 0, 5, tzinfo=timezone.utc).timestamp()
    assert parse_date("not a date") is None
    assert parse_date("13:00:00 PM Thu Sep 26 2019") is None


def test_copies_folder_loads(tmp_path, sample):
    """Many copies of one real frame: order by date ties broken by name, one shape."""
    src = sample(FASTSCAN) / "09261606.001"
    for i in range(5):
        shutil.copyfile(src, tmp_path / f"copy{i}.{i:03d}")
    stack = afmio.load(tmp_path, lazy=True)
    assert stack.n_frames == 5
    assert stack.acquisition["files"] == [f"copy{i}.{i:03d}" for i in range(5)]
    assert [m["timestamp"] for m in stack.frame_metadata] == [0.0] * 5


def test_direction_is_the_same_in_every_frame(tmp_path):
    write_spm(tmp_path / "a.001", [SpmImage(RAW, line_direction="Retrace")], date="04:06:20 PM Thu Sep 26 2019")
    write_spm(tmp_path / "b.002", [SpmImage(RAW, line_direction="Trace")], date="04:06:21 PM Thu Sep 26 2019")
    with pytest.raises(ChannelNotFoundError) as err:
        afmio.load(tmp_path)  # a.001 offers only Retrace, so b.002 must have Retrace too
    assert err.value.path.endswith("b.002")
    write_spm(tmp_path / "b.002", [SpmImage(RAW, line_direction="Trace"), SpmImage(RAW, line_direction="Retrace")],
              date="04:06:21 PM Thu Sep 26 2019")
    stack = afmio.load(tmp_path)
    assert stack.acquisition["line_direction"] == "Retrace"
    assert "line_direction_note" in stack.acquisition


@pytest.mark.parametrize("cut", [0, 5])
def test_empty_member_is_an_error_not_skipped(tmp_path, cut):
    write_spm(tmp_path / "a.001", [SpmImage(RAW)])
    (tmp_path / "b.002").write_bytes(b"\\*File list"[:cut])
    with pytest.raises(TruncatedFileError) as err:
        afmio.load(tmp_path)
    assert err.value.path.endswith("b.002")


def test_file_cut_inside_another_channel(tmp_path):
    images = [SpmImage(RAW), SpmImage(RAW, channel="Phase", internal="Phase",
                                      z_scale="V [Sens. Phase] (0.005493164 º/LSB) 359.9945 º")]
    path = tmp_path / "cut.spm"
    path.write_bytes(build_spm(images)[:-RAW.nbytes // 2])  # Phase is cut, Height Sensor is whole
    with pytest.raises(TruncatedFileError, match="Phase"):
        afmio.load(path)
    with pytest.raises(TruncatedFileError, match="Phase"):
        afmio.registry.probe(path)
    salvaged = afmio.load(path, allow_truncated=True, dtype="float64")
    np.testing.assert_allclose(salvaged.data[0], expected_values(images[0], (24.57563, "V"), (133.3501, "nm/V"))[0])
    with pytest.raises(TruncatedFileError):
        afmio.load(path, channel="phase", allow_truncated=True)


# --------------------------------------------------------------------------- the driver kit
def test_declaration_passes_the_kit():
    check_declaration(builtin("spm"))


@pytest.mark.filterwarnings("ignore:.*not NanoScope files:UserWarning")  # a corrupted magic is skipped
def test_fastscan_passes_the_reader_kit(sample, tmp_path):
    expected = Expected(
        n_frames=3, frame_shape=(486, 768), channel="Height Sensor",
        channels=["Height Sensor", "Amplitude", "Phase"], pixel_size_nm=100 / 768,
        pixel_size_y_nm=100 / 486, z_unit="nm", frame_times=[0.0, 209.88, 629.04],
        pixels={(0, 0, 0): 495.054793},
    )
    check_reader(make_registry(builtin("spm")), sample(FASTSCAN), "spm", expected, tmp_dir=tmp_path)


@pytest.mark.filterwarnings("ignore:.*not NanoScope files:UserWarning")
@pytest.mark.parametrize("member", [None, "old_bruker.004"])
def test_old_bruker_passes_the_reader_kit(sample, tmp_path, member):
    path = sample(OLD) if member is None else sample(OLD) / member
    expected = Expected(n_frames=2 if member is None else 1, frame_shape=(256, 256), channel="Height",
                        channels=["Height"], pixel_size_nm=58.59375, pixel_size_y_nm=58.59375, z_unit="nm")
    check_reader(make_registry(builtin("spm")), path, "spm", expected, tmp_dir=tmp_path)


def test_hand_built_four_byte_file_passes_the_reader_kit(tmp_path):
    raw = (np.arange(60, dtype=np.int32).reshape(6, 10) - 30) * 50_000_000
    image = SpmImage(raw.astype(np.int32), line_direction="Retrace")
    path = write_spm(tmp_path / "kit.spm", [image, SpmImage(RAW, channel="Phase", internal="Phase",
                                                           z_scale="V [Sens. Phase] (0.005493164 º/LSB) 359.9945 º")])
    values, _ = expected_values(image, (24.57563, "V"), (133.3501, "nm/V"))
    expected = Expected(n_frames=1, frame_shape=(6, 10), channel="Height Sensor", channels=["Height Sensor", "Phase"],
                        z_unit="nm", pixels={(0, r, c): float(values[r, c]) for r, c in [(0, 0), (5, 9), (2, 3)]})
    check_reader(make_registry(builtin("spm")), path, "spm", expected, tmp_dir=tmp_path / "damaged")


def test_series_builder_round_trip(tmp_path):
    raws = [(RAW + 100 * i).astype(np.int16) for i in range(4)]
    write_series(tmp_path, raws, seconds_apart=2.0, first_relative_time=10.0)
    stack = afmio.load(tmp_path, dtype="float64")
    assert stack.n_frames == 4
    for i, raw in enumerate(raws):
        expected, _ = expected_values(SpmImage(raw), (24.57563, "V"), (133.3501, "nm/V"))
        np.testing.assert_allclose(stack.data[i], expected, rtol=1e-12)
    assert [m["timestamp"] for m in stack.frame_metadata] == [0.0, 2.0, 4.0, 6.0]
    assert [m["start_epoch_ms"] for m in stack.frame_metadata] == [1569513985000 + 2000 * i for i in range(4)]


# --------------------------------------------------------------------------- the .di extension (issue 16)
DI_SAMPLES = {
    # header version 0x07200000 (7.2) and 0x05120000 (5.12); channel lists as the files spell them
    "spm_single_versions/di-1.di": ["Height", "Phase", "Amplitude Error"],
    "spm_single_versions/di-4.di": ["Height Sensor", "Amplitude Error", "Phase"],
}


@pytest.mark.parametrize("name", sorted(DI_SAMPLES))
def test_di_files_resolve_by_name_and_match_the_reference(sample, name):
    path = sample(name)
    res = afmio.registry.resolve(path)
    assert res.driver.name == "spm" and "'.di'" in res.reason
    assert afmio.registry.channels(path) == DI_SAMPLES[name]
    for channel in DI_SAMPLES[name]:
        stack = afmio.load(path, channel=channel, dtype="float64")
        expected, scan_rate = _reference(path, channel)
        assert stack.data.shape == (1, 512, 512)
        np.testing.assert_allclose(stack.data[0], expected, rtol=1e-12, atol=1e-12)
        assert stack.frame_metadata[0]["line_rate"] == pytest.approx(scan_rate)
    assert afmio.load(path).channel == DI_SAMPLES[name][0]


def test_di_sample_pixel_sizes(sample):
    assert afmio.load(sample("spm_single_versions/di-1.di")).pixel_size_nm == pytest.approx(500 / 512)
    assert afmio.load(sample("spm_single_versions/di-4.di")).pixel_size_nm == pytest.approx(10000 / 512)


def test_folder_of_di_files_is_a_video(tmp_path):
    folder = tmp_path / "di_video"
    folder.mkdir()
    raw = np.arange(48, dtype=np.int16).reshape(6, 8)
    for i in range(3):
        write_spm(folder / f"scan{i}.di", [SpmImage(raw + i)])
    assert afmio.registry.resolve(folder).driver.name == "spm"
    stack = afmio.load(folder)
    assert stack.n_frames == 3
    assert spm.sniff(folder / "scan0.di") is True
