"""skip_damaged in the frame-per-file base, with a toy codec: ``TOY <h> <w>\\n`` then float32 pixels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from afmio.errors import CorruptFileError, TruncatedFileError
from afmio.framefiles import FrameCodec, FrameHeader, FramePerFileDriver, ImageInfo


class ToyCodec(FrameCodec):
    format_name = "toy"
    member_patterns = ("*.toy",)

    def read_header(self, path: Path) -> FrameHeader:
        with open(path, "rb") as fh:
            line = fh.readline()
        parts = line.split()
        if len(parts) != 3 or parts[0] != b"TOY":
            raise CorruptFileError(path, "bad toy header")
        h, w = int(parts[1]), int(parts[2])
        index = int(path.stem.split("_")[-1])
        return FrameHeader(path, [ImageInfo("height", (h, w), 1.0)], relative_time_s=float(index),
                           private=len(line))

    def read_image(self, header: FrameHeader, image: ImageInfo) -> np.ndarray:
        raw = header.path.read_bytes()[header.private:]
        needed = image.shape[0] * image.shape[1] * 4
        if len(raw) < needed:
            raise TruncatedFileError(header.path, f"pixels end after {len(raw)} of {needed} bytes")
        return np.frombuffer(raw[:needed], "<f4").reshape(image.shape)


def _folder(tmp_path: Path, n: int = 4) -> tuple[Path, np.ndarray]:
    frames = np.arange(n * 2 * 3, dtype=np.float32).reshape(n, 2, 3)
    folder = tmp_path / "movie"
    folder.mkdir()
    for i, frame in enumerate(frames):
        (folder / f"f_{i}.toy").write_bytes(b"TOY 2 3\n" + frame.astype("<f4").tobytes())
    return folder, frames


DRIVER = FramePerFileDriver(ToyCodec())


@pytest.mark.parametrize("damage", ["header", "pixels"])
def test_a_damaged_frame_file_is_named_and_skip_damaged_loads_the_rest(tmp_path, damage):
    folder, frames = _folder(tmp_path)
    bad = folder / "f_2.toy"
    if damage == "header":
        bad.write_bytes(b"garbage")
    else:
        bad.write_bytes(bad.read_bytes()[:12])
    with pytest.raises(CorruptFileError, match=r"f_2.toy: .*frame file 3 of 4; pass skip_damaged=True"):
        DRIVER.read(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack = DRIVER.read(folder, skip_damaged=True)
    assert any("skipped 1 damaged frame file(s): f_2.toy" in str(w.message) for w in caught)
    np.testing.assert_array_equal(stack.data, frames[[0, 1, 3]])
    assert stack.get_frame_times() == [0.0, 1.0, 3.0]
    assert stack.acquisition["damaged_files"] == ["f_2.toy"]


def test_skip_damaged_refuses_a_folder_where_every_file_is_damaged(tmp_path):
    folder, _ = _folder(tmp_path, 2)
    for p in folder.iterdir():
        p.write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="every one of the 2 frame files is damaged"):
        DRIVER.read(folder, skip_damaged=True)
