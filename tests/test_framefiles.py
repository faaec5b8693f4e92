"""The frame-per-file base: what every one-image-per-file format gets from it.

A toy codec (a JSON header line, then float64 values) exercises the base without any
real format: members and order, channel choice, consistency, timing rules, read
options, lazy reads, writing files and folders through the registry.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from afmio import (
    AFMImageStack,
    ChannelNotFoundError,
    CorruptFileError,
    DriverSpec,
    UnsupportedFormatError,
    WriteError,
)
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, FrameToWrite, ImageInfo
from afmio.testing import SpecPlugin, make_registry

MAGIC = b"TOY1"


def write_toy(path: Path, images: dict[str, np.ndarray], **header: Any) -> Path:
    """A toy file: magic, one JSON line (channels, shapes, pixel size, times), then the values."""
    meta = {"channels": {name: list(a.shape) for name, a in images.items()}, "px": 2.0, **header}
    body = b"".join(np.asarray(a, "<f8").tobytes() for a in images.values())
    path.write_bytes(MAGIC + json.dumps(meta).encode() + b"\n" + body)
    return path


class ToyCodec(FrameCodec):
    format_name = "Toy"
    member_patterns = ("*.toy",)
    default_order = ("Height",)
    aliases: ClassVar[dict[str, str]] = {"topo": "Height"}
    write_extension = ".toy"

    def sniff(self, path: Path) -> bool | None:
        with open(path, "rb") as fh:
            return fh.read(4) == MAGIC

    def read_header(self, path: Path, *, scale: float = 1.0) -> FrameHeader:
        raw = path.read_bytes()
        if not raw.startswith(MAGIC):
            raise UnsupportedFormatError(f"{path}: not a toy file", path=path)
        line, _, _ = raw[4:].partition(b"\n")
        meta = json.loads(line)
        offset = 4 + len(line) + 1
        images = []
        for name, shape in meta["channels"].items():
            images.append(ImageInfo(name, tuple(shape), meta["px"], meta.get("py"), meta.get("unit", "nm"),
                                    {"toy_offset": offset}, key=(offset, scale)))
            offset += 8 * shape[0] * shape[1]
        return FrameHeader(path, images, start_epoch_s=meta.get("t"), relative_time_s=meta.get("rel"),
                           frame_duration_s=meta.get("dur"), acquisition={"toy": True})

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        offset, scale = image.key
        raw = header.path.read_bytes()[offset: offset + 8 * image.shape[0] * image.shape[1]]
        return np.frombuffer(raw, "<f8").reshape(image.shape) * scale

    def write_image(self, path: Path, frame: np.ndarray, info: FrameToWrite) -> None:
        write_toy(path, {info.channel: frame}, px=info.pixel_size_nm, py=info.pixel_size_y_nm,
                  rel=info.metadata.get("timestamp"))


DRIVER = FramePerFileDriver(ToyCodec())
SPEC = DriverSpec(
    name="toy", kind="folder", extensions=(".toy",), member_patterns=("*.toy",), lazy=True,
    read="test_framefiles:DRIVER.read", write="test_framefiles:DRIVER.write", probe="test_framefiles:DRIVER.probe",
    channels="test_framefiles:DRIVER.channels", sniff="test_framefiles:DRIVER.sniff",
)


@pytest.fixture
def reg():
    return make_registry(SPEC)


def _frames(n: int, shape=(3, 4)) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    return [rng.normal(size=shape) for _ in range(n)]


def test_a_single_file_is_a_one_frame_stack(reg, tmp_path):
    a, b = _frames(2)
    path = write_toy(tmp_path / "one.toy", {"Phase": a, "Height": b}, py=3.0)
    stack = reg.load(path)
    assert stack.shape == (1, 3, 4) and stack.channel == "Height"  # default_order beats file order
    np.testing.assert_array_equal(stack.data[0], b.astype(np.float32))
    assert (stack.pixel_size_nm, stack.pixel_size_y_nm) == (2.0, 3.0)
    assert stack.acquisition["toy"] is True and stack.acquisition["frame_order"] == "single file"
    assert stack.acquisition["toy_offset"] > 4  # the loaded image's facts
    assert reg.channels(path) == ["Phase", "Height"]


def test_channel_names_case_aliases_and_errors(reg, tmp_path):
    a, b = _frames(2)
    path = write_toy(tmp_path / "one.toy", {"Phase": a, "Height": b})
    assert reg.load(path, channel="PHASE").channel == "Phase"
    assert reg.load(path, channel="topo").channel == "Height"
    with pytest.raises(ChannelNotFoundError) as err:
        reg.load(path, channel="Amplitude")
    assert err.value.available == ["Phase", "Height"]


def test_folder_ordered_by_header_time_else_by_natural_name(reg, tmp_path):
    frames = _frames(3)
    for name, t, f in (("f10.toy", 100.0, frames[0]), ("f2.toy", 300.0, frames[1]), ("f1.toy", 200.0, frames[2])):
        write_toy(tmp_path / name, {"Height": f}, t=t)
    stack = reg.load(tmp_path, dtype="float64")
    assert stack.acquisition["files"] == ["f10.toy", "f1.toy", "f2.toy"]
    assert stack.acquisition["frame_order"] == "header date"
    assert stack.get_frame_times() == [0.0, 100.0, 200.0]
    assert [m["start_epoch_ms"] for m in stack.frame_metadata] == [100000, 200000, 300000]
    np.testing.assert_array_equal(stack.data, np.stack([frames[0], frames[2], frames[1]]))

    untimed = tmp_path / "untimed"
    untimed.mkdir()
    for name in ("f10.toy", "f2.toy", "f1.toy"):
        write_toy(untimed / name, {"Height": frames[0]})
    stack = reg.load(untimed)
    assert stack.acquisition["files"] == ["f1.toy", "f2.toy", "f10.toy"]
    assert stack.acquisition["frame_order"] == "natural name order"
    assert stack.acquisition["timing_source"].startswith("unknown")
    assert [m["timestamp"] for m in stack.frame_metadata] == [None, None, None]


@pytest.mark.parametrize(
    ("headers", "stamps", "durations", "source"),
    [
        ([{"rel": 5.0, "t": 1.0}, {"rel": 7.5, "t": 1.0}], [0.0, 2.5], [2.5, None], "relative frame time"),
        ([{"t": 10.0, "dur": 1.0}, {"t": 13.0}], [0.0, 3.0], [1.0, None], "header start time"),
        ([{"dur": 2.0}, {"dur": 3.0}, {"dur": 4.0}], [0.0, 2.0, 5.0], [2.0, 3.0, 4.0], "frame durations"),
    ],
)
def test_timing_rules(reg, tmp_path, headers, stamps, durations, source):
    for i, header in enumerate(headers):
        write_toy(tmp_path / f"f{i}.toy", {"Height": _frames(1)[0]}, **header)
    stack = reg.load(tmp_path, lazy=True)
    assert [m["timestamp"] for m in stack.frame_metadata] == stamps
    assert [m["frame_duration_s"] for m in stack.frame_metadata] == durations
    assert stack.acquisition["timing_source"] == source
    assert reg.probe(tmp_path).frame_times == stamps


def test_the_odd_file_is_named(reg, tmp_path):
    for i in range(3):
        write_toy(tmp_path / f"f{i}.toy", {"Height": np.zeros((3, 4))})
    write_toy(tmp_path / "f1.toy", {"Height": np.zeros((3, 5))})
    with pytest.raises(CorruptFileError, match=r"3 x 5 pixels but f0.toy .* 3 x 4") as err:
        reg.load(tmp_path)
    assert err.value.path.endswith("f1.toy")
    write_toy(tmp_path / "f1.toy", {"Height": np.zeros((3, 4))}, unit="V")
    with pytest.raises(CorruptFileError, match="'V'") as err:
        reg.load(tmp_path)
    assert err.value.path.endswith("f1.toy")
    write_toy(tmp_path / "f1.toy", {"Phase": np.zeros((3, 4))})
    with pytest.raises(ChannelNotFoundError) as err:
        reg.load(tmp_path)
    assert err.value.path.endswith("f1.toy")


def test_foreign_members_are_skipped_with_a_warning(reg, tmp_path):
    write_toy(tmp_path / "a.toy", {"Height": np.ones((3, 4))})
    (tmp_path / "notes.toy").write_bytes(b"shopping list")
    (tmp_path / ".hidden.toy").write_bytes(b"x")
    with pytest.warns(UserWarning, match="notes.toy"):
        stack = reg.load(tmp_path)
    assert stack.n_frames == 1 and stack.acquisition["skipped_files"] == ["notes.toy"]
    (tmp_path / "a.toy").unlink()
    with pytest.raises(UnsupportedFormatError):
        DRIVER.read(tmp_path)


def test_an_unusable_pixel_size_is_a_corrupt_file(reg, tmp_path):
    path = write_toy(tmp_path / "one.toy", {"Height": np.ones((3, 4))}, px=-1.0)
    with pytest.raises(CorruptFileError, match="pixel size") as err:
        reg.load(path)
    assert err.value.path.endswith("one.toy")


def test_codec_read_options_are_options_of_read(reg, tmp_path):
    path = write_toy(tmp_path / "one.toy", {"Height": np.ones((3, 4))})
    params = inspect.signature(DRIVER.read).parameters
    assert {"channel", "lazy", "dtype", "progress", "scale"} <= set(params)
    assert reg.load(path, scale=3.0, dtype="float64").data[0, 0, 0] == 3.0
    with pytest.raises(TypeError, match="scale"):
        DRIVER.read(path, scael=3.0)


def test_lazy_reads_only_what_is_asked(reg, tmp_path, monkeypatch):
    frames = _frames(4)
    for i, f in enumerate(frames):
        write_toy(tmp_path / f"f{i}.toy", {"Height": f}, t=float(i))
    calls = []
    original = ToyCodec.read_image
    monkeypatch.setattr(ToyCodec, "read_image", lambda self, h, im: calls.append(h.path.name) or original(self, h, im))
    with reg.load(tmp_path, lazy=True) as stack:
        assert stack.is_lazy and calls == []
        np.testing.assert_array_equal(stack[2], frames[2].astype(np.float32))
        assert calls == ["f2.toy"]


def test_sniff_of_a_folder_and_of_files(tmp_path):
    assert DRIVER.sniff(tmp_path) is None  # no member at all
    (tmp_path / "x.toy").write_bytes(b"nope")
    assert DRIVER.sniff(tmp_path) is False
    write_toy(tmp_path / "y.toy", {"Height": np.ones((1, 1))})
    assert DRIVER.sniff(tmp_path) is True and DRIVER.sniff(tmp_path / "y.toy") is True


def test_save_one_frame_as_a_file_and_a_video_as_a_folder(reg, tmp_path):
    stack = AFMImageStack(np.arange(24, dtype=np.float64).reshape(2, 3, 4), 0.5, "Height", None,
                          [{"timestamp": 0.0}, {"timestamp": 1.5}], pixel_size_y_nm=0.25)
    out = reg.save(stack, tmp_path / "video", format="toy")
    assert sorted(p.name for p in out.iterdir()) == ["video_00000.toy", "video_00001.toy"]
    back = reg.load(out, dtype="float64")
    np.testing.assert_array_equal(back.data, stack.data)
    assert (back.pixel_size_nm, back.pixel_size_y_nm, back.get_frame_times()) == (0.5, 0.25, [0.0, 1.5])

    single = reg.save(stack[1:], tmp_path / "frame.toy")
    assert single.is_file()
    np.testing.assert_array_equal(reg.load(single, dtype="float64").data, stack.data[1:])
    with pytest.raises(WriteError, match="holds one frame"):
        reg.save(stack, tmp_path / "both.toy")
    assert not (tmp_path / "both.toy").exists()


def test_a_codec_without_writer_refuses_clearly(tmp_path):
    class ReadOnly(ToyCodec):
        write_extension = None

    stack = AFMImageStack(np.zeros((1, 2, 2)), 1.0, "Height", None)
    with pytest.raises(WriteError, match="cannot be written"):
        FramePerFileDriver(ReadOnly()).write(stack, tmp_path / "x.toy")


def test_spec_plugin_is_usable_by_the_kit():
    assert [spec.name for spec in SpecPlugin(SPEC).afmio_drivers()] == ["toy"]


class ToyLibraryError(Exception):
    """What a format library of the toy's might raise on bad bytes."""


class StrictToyCodec(ToyCodec):
    library_errors = (ToyLibraryError,)

    def read_header(self, path: Path, *, scale: float = 1.0) -> FrameHeader:
        if path.name.startswith("lib-"):
            raise ToyLibraryError("the library gave up")
        if path.name.startswith("bug-"):
            raise AttributeError("'NoneType' object has no attribute 'shape'")  # a bug in the codec
        return super().read_header(path, scale=scale)


STRICT_DRIVER = FramePerFileDriver(StrictToyCodec())
STRICT_SPEC = DriverSpec(
    name="strict-toy", kind="folder", extensions=(".toy",), member_patterns=("*.toy",),
    read="test_framefiles:STRICT_DRIVER.read", probe="test_framefiles:STRICT_DRIVER.probe",
    channels="test_framefiles:STRICT_DRIVER.channels",
)


def test_codec_data_errors_are_corrupt_files_naming_the_file(reg, tmp_path):
    """The base runs the codec under afmio.reading: a stray ValueError is a damaged file."""
    good = write_toy(tmp_path / "good.toy", {"Height": _frames(1)[0]})
    broken = tmp_path / "broken.toy"
    broken.write_bytes(good.read_bytes().replace(b'"px"', b'"px', 1))  # the JSON header no longer parses
    for call in (reg.load, reg.probe, reg.channels):
        with pytest.raises(CorruptFileError, match=r"broken.toy.*the header.*JSONDecodeError"):
            call(broken)


def test_codec_library_errors_are_corrupt_files_and_bugs_are_driver_bugs(tmp_path):
    from afmio import PluginError

    strict = make_registry(STRICT_SPEC)
    frame = _frames(1)[0]
    lib = write_toy(tmp_path / "lib-1.toy", {"Height": frame})
    with pytest.raises(CorruptFileError, match=r"lib-1.toy.*ToyLibraryError: the library gave up"):
        strict.load(lib)
    bug = write_toy(tmp_path / "bug-1.toy", {"Height": frame})
    with pytest.raises(PluginError, match=r"strict-toy.*AttributeError") as info:
        strict.load(bug)
    assert not isinstance(info.value, CorruptFileError)
    folder = tmp_path / "video"
    folder.mkdir()
    write_toy(folder / "a.toy", {"Height": frame})
    write_toy(folder / "lib-b.toy", {"Height": frame})
    with pytest.raises(CorruptFileError, match=r"lib-b.toy.*frame file 2 of 2; pass skip_damaged=True"):
        strict.load(folder)
    assert strict.load(folder, skip_damaged=True).n_frames == 1
