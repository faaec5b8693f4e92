"""Readers and writers of the toy plugin.

``.toy``: the line ``AFMIO-TOY <frames> <height> <width> <nm per pixel>`` then the
values as little-endian float32. Toy ``.npz``: arrays ``toy_frames`` and
``toy_pixel_nm``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from afmio import AFMImageStack, CorruptFileError, TruncatedFileError

MAGIC = b"AFMIO-TOY "


def sniff_toy(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def read_toy(path: Path, *, channel: str | None = None) -> AFMImageStack:
    with open(path, "rb") as fh:
        line = fh.readline(200)
        if not line.startswith(MAGIC):
            raise CorruptFileError(path, "not a toy file")
        try:
            n, h, w, px = line[len(MAGIC):].split()
            shape = (int(n), int(h), int(w))
            pixel = float(px)
        except ValueError:
            raise CorruptFileError(path, f"bad toy header {line[:60]!r}") from None
        need = 4 * shape[0] * shape[1] * shape[2]
        if min(shape) < 1 or len(line) + need != os.fstat(fh.fileno()).st_size:
            raise TruncatedFileError(path, f"header promises {shape} float32 values")
        data = np.frombuffer(fh.read(need), "<f4").reshape(shape).astype(np.float32)
    return AFMImageStack(data, pixel, "toy", path)


def write_toy(stack: AFMImageStack, path: Path) -> None:
    n, h, w = stack.shape
    with open(path, "wb") as fh:
        fh.write(MAGIC + f"{n} {h} {w} {stack.pixel_size_nm!r}\n".encode())
        fh.write(np.ascontiguousarray(stack.data, "<f4").tobytes())


def sniff_toy_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "toy_frames.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_toy_npz(path: Path, *, channel: str | None = None) -> AFMImageStack:
    with np.load(path, allow_pickle=False) as npz:
        data = np.asarray(npz["toy_frames"], np.float32)
        pixel = float(npz["toy_pixel_nm"])
    return AFMImageStack(data, pixel, "toy", path)


def write_toy_npz(stack: AFMImageStack, path: Path) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, toy_frames=np.asarray(stack.data, np.float32), toy_pixel_nm=np.float64(stack.pixel_size_nm))
