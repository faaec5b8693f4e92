"""Small files whose headers or compressed streams declare huge content (issues 20 and 22).

Each builder writes one damaged input under ``folder`` and returns the path to load.
None of them is larger than a few MB on disk; each declares 1 GiB or more. The
robustness tests and ``tests/fuzz/adversarial.py`` load them in a subprocess under a
2 GiB address-space cap and a 10 s limit (:func:`run_capped`).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

import afmio
from afmio.synthetic import synthetic_stack

__all__ = ["BUILDERS", "run_capped", "write_zip"]

GIB = 1 << 30


def _stack() -> afmio.AFMImageStack:
    return synthetic_stack(3, 24, 32)


def _deflate_zeros(n_bytes: int, prefix: bytes = b"", fill: bytes = b"\0", suffix: bytes = b"") -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` + ``n_bytes`` x ``fill`` + ``suffix`` and its CRC-32, built fast.

    After a full flush the compressor's state is reset, so every further MiB of the same
    byte compresses to the same block: compress one, repeat it.
    """
    mib = fill * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)
    n_mib, rest = divmod(n_bytes, 1 << 20)
    body = b""
    if n_mib:
        first = comp.compress(mib) + comp.flush(zlib.Z_FULL_FLUSH)
        block = comp.compress(mib) + comp.flush(zlib.Z_FULL_FLUSH)
        body = first + block * (n_mib - 1)
    tail = comp.compress(fill * rest + suffix) + comp.flush()
    crc = zlib.crc32(prefix)
    for _ in range(n_mib):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(fill * rest + suffix, crc)
    return head + body + tail, crc


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A ZIP of ``(name, stored bytes, method, crc, uncompressed size)`` members, as given."""
    out = io.BytesIO()
    central = []
    for name, data, method, crc, size in members:
        offset = out.tell()
        raw_name = name.encode()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                              len(raw_name), 0) + raw_name)
        out.write(data)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc,
                                   len(data), size, len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central),
                          out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def _npz_members(path: Path) -> list[tuple[str, bytes, int, int, int]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i), 0, i.CRC, i.file_size) for i in zf.infolist()]


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_deflate_bomb(folder: Path) -> Path:
    """An NPZ whose ``data.npy`` is 1.5 GiB of zeros deflated to about 1.5 MB."""
    seed = afmio.save(_stack(), folder / "seed.npz")
    n = 3 * GIB // 2 // (1024 * 1024 * 4)
    header = _npy_header((n, 1024, 1024))
    body = n * 1024 * 1024 * 4
    stream, crc = _deflate_zeros(body, prefix=header)
    members = [m for m in _npz_members(seed) if m[0] != "data.npy"]
    members.append(("data.npy", stream, 8, crc, len(header) + body))
    seed.unlink()
    return write_zip(folder / "bomb.npz", members)


def npz_huge_shape(folder: Path) -> Path:
    """An NPZ whose stored ``data.npy`` declares (2**31, 24, 32) over 3 frames of data."""
    seed = afmio.save(_stack(), folder / "seed.npz")
    members = []
    for name, data, method, _crc, _size in _npz_members(seed):
        if name == "data.npy":
            body = data[len(data) - 3 * 24 * 32 * 4 :]
            data = _npy_header((2**31, 24, 32)) + body
        members.append((name, data, method, zlib.crc32(data), len(data)))
    seed.unlink()
    return write_zip(folder / "shape.npz", members)


def _h5_replace_data(path: Path, make: Callable[[object], None]) -> Path:
    import h5py

    with h5py.File(path, "a") as f:
        del f["data"]
        make(f)
    return path


def h5_huge_unallocated(folder: Path) -> Path:
    """An HDF5 bundle whose ``/data`` is declared (2**31, 1, 1), chunked, nothing stored."""
    path = afmio.save(_stack(), folder / "unalloc.h5")
    return _h5_replace_data(path, lambda f: f.create_dataset("data", shape=(2**31, 1, 1), chunks=(1, 1, 1),
                                                              dtype="f4"))


def h5_chunk_bomb(folder: Path) -> Path:
    """An HDF5 bundle whose one ``/data`` chunk is 1 GiB of zeros deflated twice (a few KB)."""
    import h5py

    path = afmio.save(_stack(), folder / "chunkbomb.h5")
    shape = (1, 16384, 16384)

    def make(f: object) -> None:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(shape)
        dcpl.set_deflate(9)
        dcpl.set_deflate(9)
        space = h5py.h5s.create_simple(shape)
        dsid = h5py.h5d.create(f.id, b"data", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)  # type: ignore[attr-defined]
        raw, _crc = _deflate_zeros(GIB)
        adler = 1
        mib = bytes(1 << 20)
        for _ in range(GIB >> 20):
            adler = zlib.adler32(mib, adler)
        inner = b"\x78\xda" + raw + struct.pack(">I", adler)
        dsid.write_direct_chunk((0, 0, 0), zlib.compress(inner, 9))

    return _h5_replace_data(path, make)


def _h5jpk_replace(path: Path, n_frames: int, write: bool) -> Path:
    import h5py

    with h5py.File(path, "a") as f:
        names: list[str] = []
        f.visit(lambda n: names.append(n) if isinstance(f[n], h5py.Dataset) and f[n].ndim == 2 else None)
        old = f[names[0]]
        attrs, pixels = dict(old.attrs), old.shape[0]
        del f[names[0]]
        chunk = (pixels, 1 << 16)
        new = f.create_dataset(names[0], shape=(pixels, n_frames), dtype="i4", chunks=chunk, compression="gzip")
        if write:
            zero = zlib.compress(b"\0" * (pixels * chunk[1] * 4), 9)
            for k in range(0, n_frames, chunk[1]):
                new.id.write_direct_chunk((0, k), zero)
        for key, value in attrs.items():
            new.attrs[key] = value
    return path


def h5jpk_huge_height(folder: Path) -> Path:
    """An ``.h5-jpk`` whose height dataset is declared 1.3 GB of gzip chunks of zeros (~1.3 MB)."""
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    raw = np.zeros((3, 6, 8), np.int32)
    path = write_h5jpk(folder / "big.h5-jpk", [H5JpkChannel("height", data=raw)])
    return _h5jpk_replace(path, 1300 * (1 << 20) // (48 * 4), write=True)


def h5jpk_unallocated(folder: Path) -> Path:
    """An ``.h5-jpk`` whose height dataset declares 2**31 frames, nothing stored."""
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    raw = np.zeros((3, 6, 8), np.int32)
    path = write_h5jpk(folder / "unalloc.h5-jpk", [H5JpkChannel("height", data=raw)])
    return _h5jpk_replace(path, 2**31, write=False)


def zarr_huge_shape(folder: Path) -> Path:
    """An OME-Zarr folder whose ``0/.zarray`` declares 999999999 frames of 3 stored."""
    path = afmio.save(_stack(), folder / "shape.ome.zarr")
    meta = json.loads((path / "0" / ".zarray").read_text())
    meta["shape"] = [999_999_999, *meta["shape"][1:]]
    (path / "0" / ".zarray").write_text(json.dumps(meta))
    return path


def zarr_huge_chunk(folder: Path) -> Path:
    """An OME-Zarr folder whose ``0/.zarray`` declares one 1 GiB chunk."""
    path = afmio.save(_stack(), folder / "chunk.ome.zarr")
    meta = json.loads((path / "0" / ".zarray").read_text())
    meta["shape"] = [1, 16384, 16384]
    meta["chunks"] = [1, 16384, 16384]
    (path / "0" / ".zarray").write_text(json.dumps(meta))
    return path


def zarr_zip_attrs_bomb(folder: Path) -> Path:
    """An OME-Zarr zip whose ``.zattrs`` deflates to 1.2 GB of JSON whitespace."""
    seed = afmio.save(_stack(), folder / "seed.ome.zarr.zip")
    members = []
    with zipfile.ZipFile(seed) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == ".zattrs":
                # leading whitespace keeps it valid JSON
                stream, crc = _deflate_zeros(1200 << 20, fill=b" ", suffix=data)
                members.append((info.filename, stream, 8, crc, (1200 << 20) + len(data)))
            else:
                members.append((info.filename, data, 0, info.CRC, info.file_size))
    seed.unlink()
    return write_zip(folder / "attrs.ome.zarr.zip", members)


def zarr_zip_chunk_bomb(folder: Path) -> Path:
    """An OME-Zarr zip whose image array is one 1 GiB chunk, ZIP-deflated zeros."""
    seed = afmio.save(_stack(), folder / "seed.ome.zarr.zip", compression="none")
    members = []
    with zipfile.ZipFile(seed) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == "0/.zarray":
                meta = json.loads(data)
                meta["shape"] = [1, 16384, 16384]
                meta["chunks"] = [1, 16384, 16384]
                data = json.dumps(meta).encode()
            if info.filename.startswith("0/") and info.filename[2:].replace(".", "").isdigit():
                if info.filename[2:].split(".")[0] != "0":
                    continue
                stream, crc = _deflate_zeros(GIB)
                members.append((info.filename, stream, 8, crc, GIB))
                continue
            members.append((info.filename, data, 0, zlib.crc32(data), len(data)))
    seed.unlink()
    return write_zip(folder / "chunks.ome.zarr.zip", members)


def zarr_zip_lying_member(folder: Path) -> Path:
    """An honest 3-frame OME-Zarr zip whose first chunk member is a ZIP-deflated 1 GiB of zeros."""
    seed = afmio.save(_stack(), folder / "seed.ome.zarr.zip", compression="none")
    members = []
    with zipfile.ZipFile(seed) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == "0/0/0/0":
                stream, crc = _deflate_zeros(GIB)
                members.append((info.filename, stream, 8, crc, GIB))
                continue
            members.append((info.filename, data, 0, zlib.crc32(data), len(data)))
    seed.unlink()
    return write_zip(folder / "member.ome.zarr.zip", members)


def h5_lying_chunk(folder: Path) -> Path:
    """An honest (3, 24, 32) HDF5 bundle whose first gzip chunk inflates to 1 GiB."""
    import h5py

    path = afmio.save(_stack(), folder / "lying.h5")
    raw, _crc = _deflate_zeros(GIB)
    # The zlib trailer's Adler-32 is left 0: a reader must stop long before it gets there.
    with h5py.File(path, "a") as f:
        f["data"].id.write_direct_chunk((0, 0, 0), b"\x78\xda" + raw + bytes(4), filter_mask=0)
    return path


def ome_tiff_huge_sizes(folder: Path, keys: tuple[str, ...] = ("SizeT",)) -> Path:
    """An afmio OME-TIFF whose OME-XML says ``SizeT`` (or other ``keys``) = 999999999, edited in place."""
    import re

    import tifffile

    seed = afmio.save(_stack(), folder / "seed.ome.tif")
    with tifffile.TiffFile(seed) as tif:
        xml = tif.pages.first.description
    old = xml.encode("utf-8")
    text = re.sub(r' UUID="[^"]*"', "", xml)
    for key in keys:
        text = re.sub(key + r'="\d+"', key + '="999999999"', text)
    new = text.encode("utf-8")
    new = new.replace(b"><Image", b" " * (len(old) - len(new)) + b"><Image", 1)
    path = folder / ("-".join(keys) + ".ome.tif")
    path.write_bytes(seed.read_bytes().replace(old, new))
    seed.unlink()
    return path


def jpk_tall_page(folder: Path) -> Path:
    """A JPK folder whose second frame's channel page says ImageLength = 16777216."""
    from afmio_testdata.jpk_builder import make_jpk_folder

    paths = make_jpk_folder(folder / "tall", 2, shape=(6, 8))
    data = bytearray(paths[1].read_bytes())
    e = ">" if data[:2] == b"MM" else "<"
    (ifd,) = struct.unpack(e + "I", data[4:8])
    pages = 0
    while ifd and ifd + 2 <= len(data):
        (count,) = struct.unpack(e + "H", data[ifd : ifd + 2])
        for k in range(count):
            at = ifd + 2 + 12 * k
            tag, typ = struct.unpack(e + "HH", data[at : at + 4])
            if tag == 257 and pages >= 1:
                if typ == 3:
                    data[at + 8 : at + 10] = struct.pack(e + "H", 0)  # fallback below
                    data[at + 2 : at + 4] = struct.pack(e + "H", 4)
                data[at + 8 : at + 12] = struct.pack(e + "I", 16_777_216)
        pages += 1
        (ifd,) = struct.unpack(e + "I", data[ifd + 2 + 12 * count : ifd + 6 + 12 * count])
    paths[1].write_bytes(bytes(data))
    return paths[0].parent


def _zero_free_space_record(path: Path) -> Path:
    """Set the size of the first global heap collection's free-space record to 0.

    HDF5 2.0 walks such a collection forever when it reads a variable-length string from
    it (inside the C library: no signal stops it); afmio must refuse the file first.
    """
    data = bytearray(path.read_bytes())
    pos = data.find(b"GCOL\x01\x00\x00\x00")
    assert pos >= 0, f"{path.name} holds no global heap collection"
    (heap_size,) = struct.unpack_from("<Q", data, pos + 8)
    p = pos + 16
    while p + 16 <= pos + heap_size:
        index, _, _, size = struct.unpack_from("<HHIQ", data, p)
        if index == 0:
            struct.pack_into("<Q", data, p + 8, 0)  # the free-space record: size 0
            path.write_bytes(bytes(data))
            return path
        p += 16 + ((size + 7) & ~7)
    raise AssertionError("no free-space record in the collection")


def _nhf_heap_loop(folder: Path) -> Path:
    from afmio_testdata.nhf_writer import write_nhf

    return _zero_free_space_record(write_nhf(folder / "scan.nhf", {("Forward", "Z-Axis"): np.zeros((6, 8))}))


def h5_global_heap_loop(folder: Path, name: str = "bundle.h5") -> Path:
    """An HDF5 bundle with a variable-length string in a global heap HDF5 would loop on."""
    import h5py

    path = folder / name
    afmio.save(_stack(), path)
    with h5py.File(path, "a") as f:
        f.attrs["note"] = "a variable-length string in the global heap"
    return _zero_free_space_record(path)


def h5jpk_global_heap_loop(folder: Path) -> Path:
    """An ``.h5-jpk`` movie whose ``motion`` attribute (read on every load) is a
    variable-length string in a global heap HDF5 would loop on.

    JPK files hold no such strings, so the driver checks heaps only on meeting one.
    """
    import h5py

    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    path = write_h5jpk(folder / "movie.h5-jpk", [H5JpkChannel("height", data=np.zeros((2, 4, 4), np.int32))])
    with h5py.File(path, "a") as f:
        f["Measurement_000"].attrs["motion"] = "topDown"  # a str: h5py stores it variable-length
    return _zero_free_space_record(path)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "npz-deflate-bomb": npz_deflate_bomb,
    "npz-huge-shape": npz_huge_shape,
    "h5-huge-unallocated": h5_huge_unallocated,
    "h5-chunk-bomb": h5_chunk_bomb,
    "h5jpk-huge-height": h5jpk_huge_height,
    "h5jpk-unallocated": h5jpk_unallocated,
    "zarr-huge-shape": zarr_huge_shape,
    "zarr-huge-chunk": zarr_huge_chunk,
    "zarr-zip-attrs-bomb": zarr_zip_attrs_bomb,
    "zarr-zip-chunk-bomb": zarr_zip_chunk_bomb,
    "zarr-zip-lying-member": zarr_zip_lying_member,
    "h5-lying-chunk": h5_lying_chunk,
    "ome-tiff-huge-sizes": ome_tiff_huge_sizes,
    "ome-tiff-huge-sizec": lambda folder: ome_tiff_huge_sizes(folder, ("SizeC",)),
    "ome-tiff-huge-sizez": lambda folder: ome_tiff_huge_sizes(folder, ("SizeZ",)),
    "jpk-tall-page-file": lambda folder: sorted(jpk_tall_page(folder).glob("*.jpk"))[1],
    "jpk-tall-page": jpk_tall_page,
    "h5-global-heap-loop": h5_global_heap_loop,
    "nhf-global-heap-loop": _nhf_heap_loop,
    "h5jpk-global-heap-loop": h5jpk_global_heap_loop,
}

#: What a capped run does per path: every public read entry point, lazy reads touching frame 0.
_CASE = r"""
import json, re, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
import afmio

class Hang(BaseException):
    pass

def on_alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, on_alarm)

def peak():
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) * 1024

def lazy(path):
    with afmio.load(path, lazy=True) as s:
        if s.n_frames:
            s.get_frame(0)

for path in sys.argv[1:]:
    results = {{}}
    signal.alarm({seconds})
    try:
        for name, fn in (("probe", afmio.registry.probe), ("channels", afmio.registry.channels),
                         ("load", afmio.load), ("lazy", lazy)):
            try:
                fn(path)
                results[name] = "ok"
            except afmio.AfmioError as exc:
                results[name] = "afmio:" + type(exc).__name__ + ":" + str(exc)[:300]
            except Hang:
                raise
            except BaseException as exc:
                results[name] = "other:" + type(exc).__name__ + ":" + str(exc)[:300]
    except Hang:
        results["hang"] = "hang"
    signal.alarm(0)
    print(json.dumps({{"path": path, "results": results, "peak_rss": peak()}}), flush=True)
"""


def run_capped(paths: list[Path] | Path, *, cap: int = 2 * GIB, seconds: int = 10) -> list[dict[str, object]]:
    """Run probe/channels/load/lazy on each path in one subprocess under ``cap`` bytes, ``seconds`` per path.

    Returns one ``{"path", "results": {entry: "ok" | "afmio:<Error>:..." | "other:<Error>:..."}, "peak_rss"}``
    per path (``results["hang"]`` when the time ran out); a path after a crash gets ``{"crash": stderr}``.
    ``peak_rss`` is the subprocess's peak so far (monotonic over the run). A case stuck where the
    alarm cannot reach it (a loop inside a C library) is killed after ``seconds + 5`` s, reported as
    a hang, and the rest of the batch runs in a new subprocess.
    """
    paths = [paths] if isinstance(paths, Path) else list(paths)
    code = _CASE.format(cap=cap, seconds=seconds)
    out: list[dict[str, object]] = []
    while len(out) < len(paths):
        rest = paths[len(out):]
        lines, stderr, stuck = _stream(code, rest, seconds + 5)
        out += [{**json.loads(line), "stderr": stderr} for line in lines]
        if stuck and len(out) < len(paths):
            out.append({"path": str(paths[len(out)]), "results": {"hang": "killed: no answer, not even to the alarm"},
                        "stderr": stderr})
        elif len(out) < len(paths):  # the subprocess died: the rest of this batch is lost with it
            out += [{"path": str(p), "crash": stderr[-2000:], "stderr": stderr} for p in paths[len(out):]]
    return out


def _stream(code: str, paths: list[Path], per_case: float) -> tuple[list[str], str, bool]:
    """Run the case script; its JSON lines, its stderr, and whether it was killed for silence."""
    import selectors
    import tempfile
    import time

    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *map(str, paths)], stdout=subprocess.PIPE,
                                stderr=err, text=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, stuck, buffer = time.monotonic() + per_case, False, ""
        while True:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                proc.kill()
                stuck = True
                break
            chunk = proc.stdout.readline()
            if not chunk:
                break
            buffer += chunk
            if buffer.endswith("\n"):
                if buffer.startswith("{"):
                    lines.append(buffer)
                    deadline = time.monotonic() + per_case
                buffer = ""
        proc.wait()
        sel.close()
        err.seek(0)
        return lines, err.read(), stuck
