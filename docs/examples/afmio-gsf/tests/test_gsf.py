"""afmio-gsf tested with afmio's conformance kit (afmio.testing) plus format specifics."""

from __future__ import annotations

import struct
from importlib.metadata import PackageNotFoundError, distribution

import afmio
import numpy as np
import pytest
from afmio.synthetic import synthetic_stack
from afmio.testing import (
    Expected,
    check_claims,
    check_declaration,
    check_reader,
    check_round_trip,
)

import afmio_gsf.plugin
from gsf_files import gsf_bytes, write_gsf

#: GSF stores metres as float32, so nm values come back within float32 rounding.
RTOL = 3e-7


def test_declaration_is_valid():
    (driver,) = check_declaration(afmio_gsf.plugin)
    assert driver.name == "gsf" and driver.spec.lazy


def test_claims_do_not_collide_with_installed_drivers():
    assert check_claims(afmio_gsf.plugin) == []


def test_installed_distribution_is_discovered():
    try:
        dist = distribution("afmio-gsf")
    except PackageNotFoundError:
        pytest.skip("afmio-gsf is not installed (pip install -e . to test discovery)")
    check_declaration("afmio-gsf")
    info = {f.name: f for f in afmio.Registry(discover=True).formats()}["gsf"]
    assert (info.distribution, info.version) == ("afmio-gsf", dist.version)


def test_hand_built_file(afmio_registry, tmp_path):
    # 3 x 2 pixels over 6 x 4 nm (2 nm per pixel both ways), values in metres.
    path = write_gsf(tmp_path / "one.gsf", [[1e-9, 2e-9, 3e-9], [-4e-9, 5e-9, 6.5e-9]],
                     XReal=6e-9, YReal=4e-9, XYUnits="m", ZUnits="m", Title="Height")
    expected = Expected(n_frames=1, frame_shape=(2, 3), channel="Height", channels=["Height"],
                        pixel_size_nm=2.0, pixel_size_y_nm=2.0, z_unit="nm",
                        pixels={(0, 0, 0): 1.0, (0, 1, 0): -4.0, (0, 1, 2): 6.5})
    stack = check_reader(afmio_registry, path, "gsf", expected, tmp_dir=tmp_path)
    assert stack.frame_metadata[0]["timestamp"] is None  # a plain GSF file has no time


def test_folder_of_frames_is_a_video(afmio_registry, tmp_path):
    folder = tmp_path / "video"
    folder.mkdir()
    for i in (0, 1, 2, 10):  # natural order: frame_10 comes last
        write_gsf(folder / f"frame_{i}.gsf", [[float(i)] * 4] * 2, XReal=8e-9, YReal=6e-9, ZUnits="V",
                  Title="Amplitude", afmio_timestamp_s=0.25 * i)
    (folder / "notes.txt").write_text("not a frame")
    expected = Expected(n_frames=4, frame_shape=(2, 4), channel="Amplitude", pixel_size_nm=2.0,
                        pixel_size_y_nm=3.0, z_unit="V", frame_times=[0.0, 0.25, 0.5, 2.5],
                        pixels={(3, 0, 0): 10.0, (1, 1, 3): 1.0})
    check_reader(afmio_registry, folder, "gsf", expected, tmp_dir=tmp_path)


def test_round_trip_video_through_a_folder(afmio_registry, tmp_path):
    stack = synthetic_stack(6, 24, 40, pixel_size_nm=0.75)
    stack.pixel_size_y_nm = 1.25
    back = check_round_trip(afmio_registry, stack, tmp_path / "frames", format="gsf", rtol=RTOL)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == ["frames_00000.gsf", "frames_00001.gsf"]
    assert back.frame_metadata[3]["start_epoch_ms"] == stack.frame_metadata[3]["start_epoch_ms"]
    assert back.frame_metadata[3]["scan_direction"] == "topDown"


@pytest.mark.parametrize("unit", ["V", "deg", "a.u.", "Hz"])
def test_round_trip_single_frame_keeps_other_units_exactly(afmio_registry, tmp_path, unit):
    stack = synthetic_stack(1, 16, 16)
    stack.z_unit = unit
    check_round_trip(afmio_registry, stack, tmp_path / "frame.gsf")  # no scaling: bit for bit


def test_written_bytes_follow_the_format(afmio_registry, tmp_path):
    data = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    stack = afmio.AFMImageStack(data, 0.5, "Height", None, [{"timestamp": 0.0}])
    afmio.save(stack, tmp_path / "f.gsf")  # afmio.registry is the isolated one here
    raw = (tmp_path / "f.gsf").read_bytes()
    end = raw.index(b"\0")
    offset = end + (4 - end % 4)
    assert raw.startswith(b"Gwyddion Simple Field 1.0\n") and offset % 4 == 0
    assert set(raw[end:offset]) == {0} and 1 <= offset - end <= 4
    fields = dict(line.split(" = ", 1) for line in raw[26:end].decode().splitlines())
    assert fields["XRes"] == "3" and fields["YRes"] == "2" and fields["ZUnits"] == "m"
    assert float(fields["XReal"]) == pytest.approx(1.5e-9) and fields["Title"] == "Height"
    values = struct.unpack("<6f", raw[offset:])
    np.testing.assert_allclose(values, np.arange(6) * 1e-9, rtol=RTOL)


def test_a_video_cannot_go_into_one_file(afmio_registry, tmp_path):
    with pytest.raises(afmio.WriteError, match="holds one frame"):
        afmio.save(synthetic_stack(3, 8, 8), tmp_path / "video.gsf")
    assert list(tmp_path.iterdir()) == []  # the atomic save left nothing behind


@pytest.mark.parametrize(
    ("blob", "error", "words"),
    [
        (gsf_bytes([[1.0, 2.0]])[:-1], afmio.TruncatedFileError, "needs"),
        (gsf_bytes([[1.0, 2.0]]) + b"\0\0\0\0", afmio.CorruptFileError, "more than"),
        (gsf_bytes([[1.0]]).replace(b"XRes = 1", b"XRes = x"), afmio.CorruptFileError, "not an integer"),
        (gsf_bytes([[1.0]], XReal=-1), afmio.CorruptFileError, "positive"),
        (b"Gwyddion Simple Field 2.0\n\0\0", afmio.CorruptFileError, "not a Gwyddion"),
    ],
)
def test_bad_files_raise_clear_errors(afmio_registry, tmp_path, blob, error, words):
    path = tmp_path / "bad.gsf"
    path.write_bytes(blob)
    with pytest.raises(error, match=words) as info:
        afmio.load(path, format="gsf")
    assert "bad.gsf" in str(info.value)


def test_frames_of_different_sizes_are_refused(afmio_registry, tmp_path):
    write_gsf(tmp_path / "a.gsf", [[1.0, 2.0]])
    write_gsf(tmp_path / "b.gsf", [[1.0], [2.0]])
    with pytest.raises(afmio.CorruptFileError, match=r"b\.gsf.*2 x 1 pixels"):
        afmio.load(tmp_path)
