"""Benchmark inputs: seeded synthetic stacks, bundles, ASD files and copies of real samples.

Everything is made inside the work folder (a temporary directory unless ``--workdir``
is given); the real samples are copied there, never into the project. Files that
already exist in a reused work folder are kept (except afmio's own bundles, rewritten
each run), so a second run starts faster.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from benv import REPO_ROOT, Environment, free_bytes

SEED = 20240611
GIB = 1 << 30

#: Bundle kinds: suffix -> afmio format key.
BUNDLES = {"h5": "hdf5", "npz": "npz", "ome.tif": "ome-tiff"}


@dataclass(frozen=True)
class Size:
    """A synthetic stack shape (float32)."""

    n: int
    h: int
    w: int

    @property
    def label(self) -> str:
        return f"{self.n}x{self.h}x{self.w}"

    @property
    def nbytes(self) -> int:
        return self.n * self.h * self.w * 4

    @property
    def small(self) -> bool:
        """Small cases get more repeats (5 instead of 3)."""
        return self.nbytes <= 16 * (1 << 20)


@dataclass(frozen=True)
class Sample:
    """A real instrument file or folder, copied into the work folder."""

    key: str
    path: Path
    fmt: str  # afmio format key
    pn_channel: str  # the channel name playNano needs for the default height data
    title: str


# (key, relative path, format key, playNano channel, title, folder?)
SAMPLE_TABLE = [
    ("asd_sample_0", "asd/asd_sample_0.asd", "asd", "TP", "real asd_sample_0.asd (32x200x200)", False),
    ("asd_2ch", "asd/202110200146.asd", "asd", "TP", "real 202110200146.asd (2x250x250, TP+PH)", False),
    ("jpk_nanoracer", "jpk_folder_streptavidin_nanoracer", "jpk", "height_trace",
     "real JPK NanoRacer folder (4x512x512)", True),
    ("h5jpk", "h5jpk/sample_0.h5-jpk", "h5-jpk", "height_trace", "real h5-jpk (4x128x128)", False),
    ("spm_fastscan", "spm_folder_fastscan_nanolocz", "spm", "Height Sensor",
     "real NanoScope FastScan folder (3x486x768)", True),
    ("spm_old", "spm_folder_old_bruker", "spm", "Height", "real NanoScope 5.31 folder (2x256x256)", True),
]


@dataclass(frozen=True)
class PeerSample:
    """A real single-image file that afmio and AFMReader (playNano's reader library) both read."""

    key: str
    path: Path
    fmt: str  # afmio format key
    loader: str  # "AFMReader.<module>:<function>"
    channel: str | None  # AFMReader's channel argument (None: the loader takes none)
    title: str


# (key, relative path, format key, AFMReader loader, its channel, title): the formats
# afmio reads beside playNano's own, on the same bytes as AFMReader.
AFMREADER_TABLE = [
    ("gwy", "gwy/test.gwy", "gwy", "AFMReader.gwy:load_gwy", "Test", "real test.gwy (Gwyddion)"),
    ("ibw", "ibw/Example_ibw.ibw", "ibw", "AFMReader.ibw:load_ibw", "HeightTracee",
     "real Example_ibw.ibw (Asylum, 256x256)"),
    ("stp", "wsxm/sample_0.stp", "wsxm", "AFMReader.stp:load_stp", None, "real sample_0.stp (WSxM)"),
    ("top", "wsxm/sample_0.top", "wsxm", "AFMReader.top:load_top", None, "real sample_0.top (WSxM)"),
    ("topostats", "topostats/sample_0_2.topostats", "topostats", "AFMReader.topostats:load_topostats", None,
     "real sample_0_2.topostats"),
    ("jpk1", "jpk_folder_afmreader_sample0/sample_0.jpk", "jpk", "AFMReader.jpk:load_jpk", "height_trace",
     "real sample_0.jpk (JPK 6.0, one frame)"),
    ("h5jpk", "h5jpk/sample_0.h5-jpk", "h5-jpk", "AFMReader.h5_jpk:load_h5jpk", "height_trace",
     "real sample_0.h5-jpk (4x128x128)"),
    ("asd", "asd/asd_sample_0.asd", "asd", "AFMReader.asd:load_asd", "TP", "real asd_sample_0.asd (32x200x200)"),
]


@dataclass
class Inputs:
    """Paths of everything the cases read."""

    workdir: Path
    arrays: dict[str, Path] = field(default_factory=dict)  # size label -> .npy
    bundles: dict[tuple[str, str, str], Path] = field(default_factory=dict)  # (writer, kind, size)
    asd: dict[str, Path] = field(default_factory=dict)  # size label -> synthetic 2-channel ASD
    aris: dict[str, Path] = field(default_factory=dict)  # size label -> synthetic 1-channel ARIS
    samples: dict[str, Sample] = field(default_factory=dict)
    peer_samples: dict[str, PeerSample] = field(default_factory=dict)
    big_asd: Path | None = None
    big_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def out_dir(self) -> Path:
        path = self.workdir / "out"
        path.mkdir(exist_ok=True)
        return path


# --------------------------------------------------------------------------- synthetic
def make_array(workdir: Path, size: Size) -> Path:
    """Seeded float32 heights in nm (``afmio.synthetic.synthetic_heights``) as ``.npy``."""
    from afmio.synthetic import synthetic_heights

    path = workdir / f"syn-{size.label}-s{SEED}.npy"
    if not path.exists():
        data = synthetic_heights(size.n, size.h, size.w, seed=SEED)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, data)
        tmp.replace(path)
    return path


def afmio_stack(array_path: Path) -> Any:
    """The stack the afmio save cases write (same metadata as ``child.py`` builds)."""
    from afmio import AFMImageStack

    sys.path.insert(0, str(Path(__file__).parent))
    from child import _frame_meta

    data = np.load(array_path)
    return AFMImageStack(data, 0.5, "height_trace", str(array_path), _frame_meta(data.shape[0], data.shape[1]))


def make_afmio_bundle(workdir: Path, array_path: Path, kind: str, size: Size) -> Path:
    """An afmio-written bundle with default settings (rewritten every run: drivers change)."""
    import afmio

    path = workdir / f"afmio-{size.label}.{kind}"
    afmio.save(afmio_stack(array_path), path, overwrite=True)
    return path


# --------------------------------------------------------------------------- ASD
def asd_writer() -> Any | None:
    """The test-only ASD writer (``tests/afmio_testdata/asd_writer.py``), or None."""
    tests = str(REPO_ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        return importlib.import_module("afmio_testdata.asd_writer")
    except ImportError:
        return None


def aris_writer() -> Any | None:
    """The test-only ARIS writer (``tests/afmio_testdata/aris_writer.py``), or None."""
    asd_writer()  # puts tests/ on the path
    try:
        return importlib.import_module("afmio_testdata.aris_writer")
    except ImportError:
        return None


def make_aris(workdir: Path, array_path: Path, size: Size, writer: Any) -> Path:
    """A one-channel ARIS movie whose HeightTrace frames are the synthetic heights in metres (float32)."""
    path = workdir / f"syn-{size.label}.aris"
    if not path.exists():
        heights = np.load(array_path, mmap_mode="r")
        tmp = path.with_suffix(".tmp")
        writer.write_aris(tmp, {"HeightTrace": (np.asarray(heights) * 1e-9).astype(np.float32)},
                          fast_scan_size_m=size.w * 0.5e-9, times_s=[0.1 * i for i in range(size.n)])
        tmp.replace(path)
    return path


def heights_to_levels(heights: np.ndarray) -> np.ndarray:
    """Map nm heights onto 12-bit AD levels (0..4095) so the synthetic ASD has real dynamics."""
    lo, hi = float(heights.min()), float(heights.max())
    return np.rint((heights - lo) * (4000.0 / (hi - lo or 1.0)) + 40).astype(np.int16)


def make_asd(workdir: Path, array_path: Path, size: Size, writer: Any) -> Path:
    """A two-channel (TP + ER) ASD v1 file whose TP frames are the synthetic heights."""
    path = workdir / f"syn-{size.label}-2ch.asd"
    if not path.exists():
        levels = heights_to_levels(np.load(array_path, mmap_mode="r"))
        write_asd_file(writer, path, levels, second=np.ascontiguousarray(levels[:, ::-1, :]))
    return path


def write_asd_file(writer: Any, path: Path, tp: np.ndarray, second: np.ndarray | None = None) -> None:
    """Call the test writer with TP (and optionally ER) int16 levels, scan 0.5 nm/px."""
    _, h, w = tp.shape
    channels = {"TP": tp} if second is None else {"TP": tp, "ER": second}
    tmp = path.with_suffix(".tmp")
    writer.write_asd(tmp, channels, version=1, scan_nm=(w // 2, h // 2), frame_time_ms=100.0)
    tmp.replace(path)


def make_big_asd(workdir: Path, target_bytes: int, writer: Any) -> Path:
    """A one-channel 256x256 ASD file of about ``target_bytes`` (written in blocks)."""
    frame_bytes = 32 + 256 * 256 * 2
    n = max(1, target_bytes // frame_bytes)
    path = workdir / f"big-{n}x256x256.asd"
    if path.exists():
        return path
    base = heights_to_levels(_cycle_frames(64))
    _append_big(writer, path, base, n)
    return path


def _cycle_frames(block: int) -> np.ndarray:
    from afmio.synthetic import synthetic_heights

    return synthetic_heights(block, 256, 256, seed=SEED + 1)


def _append_big(writer: Any, path: Path, base: np.ndarray, n: int) -> None:
    """Header and first block from the test writer, the other frame records appended by copying.

    The writer builds whole files in memory; a 2 GB file is made from a 64-frame one
    by patching ``initial_frames``/``num_frames`` (v1 offsets 32 and 36) and repeating
    its frame records with fresh frame numbers.
    """
    tmp = path.with_suffix(".tmp")
    small = tmp.with_suffix(".small")
    write_asd_file(writer, small, base)
    raw = small.read_bytes()
    small.unlink()
    block = len(base)
    frame_bytes = 32 + 256 * 256 * 2
    start = len(raw) - block * frame_bytes
    header = bytearray(raw[:start])
    # num_frames (offset 36) and initial_frames (offset 32) of a v1 header.
    header[32:36] = n.to_bytes(4, "little", signed=True)
    header[36:40] = n.to_bytes(4, "little", signed=True)
    records = np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(block, frame_bytes).copy()
    with open(tmp, "wb") as fh:
        fh.write(header)
        done = 0
        while done < n:
            take = min(block, n - done)
            chunk = records[:take].copy()
            numbers = np.arange(done + 1, done + take + 1, dtype="<i4")
            chunk[:, :4] = numbers.view(np.uint8).reshape(take, 4)
            fh.write(chunk.tobytes())
            done += take
    tmp.replace(path)


# --------------------------------------------------------------------------- samples
def copy_samples(env: Environment, workdir: Path, enlarged: bool) -> dict[str, Sample]:
    """Copy the real samples (and, for the full run, a 40-frame JPK folder made of copies)."""
    found: dict[str, Sample] = {}
    if env.samples is None:
        return found
    dest_root = workdir / "samples"
    dest_root.mkdir(exist_ok=True)
    for key, rel, fmt, channel, title, is_folder in SAMPLE_TABLE:
        src = env.samples / rel
        if not src.exists():
            continue
        dest = dest_root / (key if is_folder else f"{key}{_suffix(src)}")
        if not dest.exists():
            if is_folder:
                shutil.copytree(src, dest)
            else:
                shutil.copyfile(src, dest)
        found[key] = Sample(key, dest, fmt, channel, title)
    if enlarged and "jpk_nanoracer" in found:
        src = found["jpk_nanoracer"].path
        dest = dest_root / "jpk_nanoracer_x10"
        if not dest.exists():
            dest.mkdir()
            frames = sorted(src.iterdir())
            for k in range(10):
                for f in frames:
                    shutil.copyfile(f, dest / f"r{k:02d}-{f.name}")
        found["jpk_nanoracer_x10"] = Sample(
            "jpk_nanoracer_x10", dest, "jpk", "height_trace", "JPK folder of 40 copied NanoRacer frames (40x512x512)"
        )
    return found


def copy_peer_samples(env: Environment, workdir: Path) -> dict[str, PeerSample]:
    """Copy the files of :data:`AFMREADER_TABLE` that exist into the work folder."""
    found: dict[str, PeerSample] = {}
    if env.samples is None:
        return found
    dest_root = workdir / "samples"
    dest_root.mkdir(exist_ok=True)
    for key, rel, fmt, loader, channel, title in AFMREADER_TABLE:
        src = env.samples / rel
        if not src.is_file():
            continue
        dest = dest_root / f"afmreader-{key}{_suffix(src)}"
        if not dest.exists():
            shutil.copyfile(src, dest)
        found[key] = PeerSample(key, dest, fmt, loader, channel, title)
    return found


def _suffix(path: Path) -> str:
    name = path.name
    return name[name.index("."):] if "." in name else ""


# --------------------------------------------------------------------------- all
def prepare(
    env: Environment,
    workdir: Path,
    sizes: list[Size],
    *,
    big_bytes: int,
    enlarged_samples: bool,
    run_playnano_save: Callable[[str, Path, Path], None] | None,
    log: Callable[[str], None],
) -> Inputs:
    """Make every input; ``run_playnano_save(kind, array, out)`` writes a playNano bundle."""
    inputs = Inputs(workdir)
    writer = asd_writer()
    if writer is None:
        inputs.notes.append("tests/afmio_testdata/asd_writer.py not found: no synthetic ASD inputs")
    for size in sizes:
        log(f"inputs: synthetic {size.label}")
        arr = make_array(workdir, size)
        inputs.arrays[size.label] = arr
        for kind, fmt in BUNDLES.items():
            if env.can(fmt, "write"):
                try:
                    inputs.bundles[("afmio", kind, size.label)] = make_afmio_bundle(workdir, arr, kind, size)
                except Exception as exc:  # a broken writer must not stop the benchmark
                    inputs.notes.append(f"afmio could not write {kind} {size.label}: {type(exc).__name__}: {exc}")
            if run_playnano_save is not None:
                path = workdir / f"playnano-{size.label}.{kind}"
                if not path.exists():
                    run_playnano_save(kind, arr, path)
                if path.exists():
                    inputs.bundles[("playnano", kind, size.label)] = path
        if writer is not None:
            log(f"inputs: ASD {size.label}")
            inputs.asd[size.label] = make_asd(workdir, arr, size, writer)
        aris = aris_writer()
        if aris is not None and env.can("aris", "read"):
            log(f"inputs: ARIS {size.label}")
            inputs.aris[size.label] = make_aris(workdir, arr, size, aris)
    inputs.samples = copy_samples(env, workdir, enlarged_samples)
    inputs.peer_samples = copy_peer_samples(env, workdir)
    if env.samples is None:
        inputs.notes.append("real samples absent (../shared/samples): JPK, h5-jpk, NanoScope cases skipped")
    if not big_bytes:
        inputs.big_note = "large ASD skipped (--big-gib 0)"
    elif writer is None:
        inputs.big_note = "no large ASD input (no ASD test writer)"
    else:
        _prepare_big(inputs, workdir, big_bytes, writer, log)
    return inputs


def _prepare_big(inputs: Inputs, workdir: Path, big_bytes: int, writer: Any, log: Callable[[str], None]) -> None:
    """The large ASD for the lazy walk and the OME-Zarr conversion, sized to the free disk."""
    free = free_bytes(workdir)
    # The file itself, plus a float32 OME-Zarr copy (2x), plus a margin.
    wanted = big_bytes
    while wanted >= GIB // 4 and free < wanted * 3 + 2 * GIB:
        wanted //= 2
    if free < wanted * 3 + 2 * GIB:
        inputs.big_note = f"only {free / GIB:.1f} GiB free: no large ASD"
        return
    if wanted != big_bytes:
        inputs.big_note = (
            f"only {free / GIB:.1f} GiB free: large ASD reduced from {big_bytes / GIB:.2f} to "
            f"{wanted / GIB:.2f} GiB"
        )
    log(f"inputs: large ASD of {wanted / GIB:.2f} GiB")
    inputs.big_asd = make_big_asd(workdir, wanted, writer)
