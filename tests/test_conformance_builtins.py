"""Every built-in driver passes the same conformance kit third-party authors use.

The drivers come from discovery (``distribution == "afmio"``), so a new built-in
without an entry in :data:`CASES` fails here until it gets one. Writers are
round-tripped on synthetic stacks and their output read back through the reader
checks; instrument readers run on the real samples (expected values from
``../shared/formats/*.md`` verification records) and on small files made by the
test builders, so they are exercised with or without the samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from afmio import AFMImageStack, Registry
from afmio.synthetic import synthetic_stack
from afmio.testing import (
    Expected,
    check_claims,
    check_damaged,
    check_declaration,
    check_reader,
    check_round_trip,
    check_write,
    make_registry,
)


@dataclass(frozen=True)
class RoundTrip:
    """Save a synthetic stack (a key of :data:`STACKS`), read it back equal, run the reader checks on the file."""

    target: str
    stack: str = "heights"
    format: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteOnly:
    """Save a synthetic stack with a write-only driver; ``verify(path, stack)`` reads it independently."""

    target: str
    verify: Callable[[Path, AFMImageStack], None]
    format: str | None = None


@dataclass(frozen=True)
class Sample:
    """A real file under ``../shared/samples`` and what it must load as."""

    relative: str
    expected: Expected
    truncation_must_fail: bool = True  # False when the format has optional trailing bytes


@dataclass(frozen=True)
class Built:
    """A small input file made by a test builder (``make(tmp_path) -> path``)."""

    label: str
    make: Callable[[Path], Path]
    expected: Expected


@dataclass(frozen=True)
class Case:
    round_trips: tuple[RoundTrip, ...] = ()
    writes: tuple[WriteOnly, ...] = ()
    samples: tuple[Sample, ...] = ()
    built: tuple[Built, ...] = ()
    allow: tuple[str, ...] = ()


def round_trip_stack() -> AFMImageStack:
    """Synthetic heights with non-square pixels and full per-frame timing."""
    stack = synthetic_stack(5, 24, 40, pixel_size_nm=0.75, frame_time_s=0.125)
    stack.pixel_size_y_nm = 1.25
    return stack


def volts_stack() -> AFMImageStack:
    """A signal in volts on another channel, without time stamps."""
    stack = round_trip_stack()
    stack.z_unit, stack.channel = "V", "amplitude_trace"
    for md in stack.frame_metadata:
        md["timestamp"] = None
    return stack


#: Synthetic stacks for round trips, with what a file written from each must load as.
STACKS: dict[str, tuple[Callable[[], AFMImageStack], Expected]] = {
    "heights": (round_trip_stack, Expected(
        n_frames=5, frame_shape=(24, 40), pixel_size_nm=0.75, pixel_size_y_nm=1.25, z_unit="nm",
        channel="height_trace", frame_times=[0.0, 0.125, 0.25, 0.375, 0.5])),
    "volts": (volts_stack, Expected(
        n_frames=5, frame_shape=(24, 40), pixel_size_nm=0.75, pixel_size_y_nm=1.25, z_unit="V",
        channel="amplitude_trace")),
}


# ---------------------------------------------------------------- independent readers for rendered outputs
def _verify_gif(path: Path, stack: AFMImageStack) -> None:
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == stack.n_frames


def _verify_mp4(path: Path, stack: AFMImageStack) -> None:
    import av

    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == stack.n_frames


def _verify_sequence(ext: str, pillow_format: str) -> Any:
    def verify(path: Path, stack: AFMImageStack) -> None:
        from PIL import Image

        files = sorted(path.glob(f"*{ext}"))
        assert len(files) == stack.n_frames
        for f in files:
            with Image.open(f) as im:
                assert im.format == pillow_format

    return verify


_verify_png = _verify_sequence(".png", "PNG")


# ---------------------------------------------------------------- builders for instrument formats
def _built_asd(tmp: Path) -> Path:
    from afmio_testdata.asd_writer import write_asd

    levels = np.random.default_rng(1).integers(0, 4096, (3, 6, 8)).astype(np.int16)
    write_asd(tmp / "built.asd", levels, scan_nm=(80, 60))
    return tmp / "built.asd"


def _built_jpk(tmp: Path) -> Path:
    from afmio_testdata.jpk_builder import make_jpk_folder

    make_jpk_folder(tmp / "built_jpk", 3, shape=(6, 8))
    return tmp / "built_jpk"


def _built_h5jpk(tmp: Path) -> Path:
    from afmio_testdata.jpk_builder import H5JpkChannel, write_h5jpk

    data = np.random.default_rng(2).integers(-1000, 1000, (3, 4, 6)).astype(np.int32)
    return write_h5jpk(tmp / "built.h5-jpk", [H5JpkChannel("height", data=data)], ulength=6e-8, vlength=2e-8)


def _built_spm(tmp: Path) -> Path:
    from afmio_testdata.spm_builder import SpmImage, write_spm

    raw = np.random.default_rng(3).integers(-3000, 3000, (6, 8)).astype(np.int16)
    folder = tmp / "built_spm"
    folder.mkdir()
    for i in range(2):
        write_spm(folder / f"scan.{i + 1:03d}", [SpmImage(raw + i)])
    return folder


def _built_wsxm(tmp: Path) -> Path:
    from datetime import datetime

    from afmio_testdata.wsxm_builder import write_wsxm

    raw = np.random.default_rng(4).integers(-3000, 3000, (6, 8)).astype(np.int16)
    folder = tmp / "built_wsxm"
    folder.mkdir()
    for i in range(2):
        write_wsxm(folder / f"scan{i}.top", raw + i, x_amplitude="80 nm", y_amplitude="30 nm",
                   acquisition_time=datetime(2024, 1, 1, 12, 0, 10 * i))
    return folder


def _built_nid(tmp: Path) -> Path:
    from afmio_testdata.nid_builder import NidImage, write_nid

    raw = np.random.default_rng(5).integers(-(2**31), 2**31 - 1, (6, 8)).astype(np.int32)
    images = [NidImage("Z-Axis", raw, extent_m=(8e-8, 3e-8)), NidImage("Z-Axis", raw[::-1].copy(), group=1,
                                                                      extent_m=(8e-8, 3e-8))]
    return write_nid(tmp / "built.nid", images)


def _built_park(tmp: Path) -> Path:
    from afmio_testdata.park_builder import write_park

    values = np.random.default_rng(6).normal(size=(6, 8)).astype(np.float32)
    return write_park(tmp / "built.tiff", values, scan_um=(0.08, 0.03))


def _built_gwy(tmp: Path) -> Path:
    from afmio_testdata.gwy_builder import GwyChannel, write_gwy

    data = np.random.default_rng(5).normal(0, 1e-9, (6, 8))
    return write_gwy(tmp / "built.gwy", [GwyChannel(data, "Height", xreal=8e-8, yreal=3e-8),
                                         GwyChannel(data * 1e9, "Amplitude", xreal=8e-8, yreal=3e-8, z_unit="V")])


def _built_ibw(tmp: Path) -> Path:
    from afmio_testdata.ibw_builder import write_ibw

    rng = np.random.default_rng(6)
    return write_ibw(tmp / "built.ibw", {"HeightTrace": rng.normal(0, 1e-9, (6, 8)),
                                         "PhaseTrace": rng.normal(90, 1, (6, 8))},
                     note={"FastScanSize": "8e-08", "SlowScanSize": "3e-08"})


def _built_topostats(tmp: Path) -> Path:
    import h5py

    path = tmp / "built.topostats"
    with h5py.File(path, "w") as h5:
        h5["image"] = np.random.default_rng(7).normal(0, 1, (6, 8))
        h5["image_original"] = np.random.default_rng(8).normal(0, 1, (6, 8))
        h5["pixel_to_nm_scaling"] = 2.5
        h5["topostats_file_version"] = 0.2
    return path


def _built_jpk_qi(tmp: Path) -> Path:
    from afmio_testdata.jpk_builder import JpkChannel, write_jpk

    raw = np.random.default_rng(9).integers(-1000, 1000, (6, 8)).astype(np.int32)
    return write_jpk(tmp / "built.jpk-qi-image", [JpkChannel("measuredHeight", data=raw),
                                                  JpkChannel("height", data=raw + 5)],
                     start="2025-05-20 17:48:42.479 CEST", end="2025-05-20 17:48:42.479 CEST", ulength=8e-8)


def _built_aris(tmp: Path) -> Path:
    from afmio_testdata.aris_writer import write_aris

    heights = np.random.default_rng(4).normal(0, 2e-9, (3, 6, 8))
    return write_aris(tmp / "built.aris", {"HeightTrace": heights, "PhaseTrace": heights * 1e9},
                      fast_scan_size_m=8e-8, slow_scan_size_m=3e-8, times_s=[0.0, 0.25, 0.5])


def _built_nhf(tmp: Path) -> Path:
    from afmio_testdata.nhf_writer import write_nhf

    folder = tmp / "built_nhf"
    folder.mkdir()
    topo = np.random.default_rng(5).normal(0, 2e-9, (6, 8))
    for i in range(3):
        write_nhf(folder / f"scan_{i}.nhf", {("Forward", "Topography"): topo + i * 1e-9,
                                            ("Backward", "Topography"): topo},
                  range_m=(8e-8, 3e-8), created=f"2024-01-02T03:04:{5 + 2 * i:02d}.500Z")
    return folder


CASES: dict[str, Case] = {
    "npz": Case(round_trips=(RoundTrip("rt.npz"), RoundTrip("volts.npz", "volts"))),
    "hdf5": Case(round_trips=(RoundTrip("rt.h5"), RoundTrip("volts.h5", "volts"))),
    # park claims .tif/.tiff above ome-tiff on purpose; its content check hands other TIFFs back.
    "ome-tiff": Case(round_trips=(RoundTrip("rt.ome.tif"), RoundTrip("volts.ome.tif", "volts")), allow=("park",)),
    "ome-zarr": Case(round_trips=(RoundTrip("rt.ome.zarr"), RoundTrip("volts.ome.zarr", "volts"))),
    "ome-zarr-zip": Case(round_trips=(RoundTrip("rt.ome.zarr.zip"), RoundTrip("volts.ome.zarr.zip", "volts"))),
    "gif": Case(writes=(WriteOnly("rt.gif", _verify_gif),)),
    "mp4": Case(writes=(WriteOnly("rt.mp4", _verify_mp4),)),
    "mov": Case(writes=(WriteOnly("rt.mov", _verify_mp4),)),
    "mkv": Case(writes=(WriteOnly("rt.mkv", _verify_mp4),)),
    "avi": Case(writes=(WriteOnly("rt.avi", _verify_mp4),)),
    "webm": Case(writes=(WriteOnly("rt.webm", _verify_mp4),)),
    "png": Case(writes=(WriteOnly("rt_frames", _verify_png, format="png"),)),
    "jpg": Case(writes=(WriteOnly("rt_frames", _verify_sequence(".jpg", "JPEG"), format="jpg"),)),
    "tif-sequence": Case(writes=(WriteOnly("rt_frames", _verify_sequence(".tif", "TIFF"), format="tif-sequence"),)),
    "asd": Case(
        samples=(
            # asd.md §11: 32 x 200 x 200, TP, 0.5 nm/px, mean -196.234232, [0,0,0] = -219.033881.
            Sample("asd/asd_sample_0.asd", Expected(
                n_frames=32, frame_shape=(200, 200), channel="TP", channels=["TP"], pixel_size_nm=0.5,
                pixel_size_y_nm=0.5, z_unit="nm", frame_times=[0.0, 1.0, 2.0], mean=-196.234232,
                pixels={(0, 0, 0): -219.033881})),
            # asd.md §11: 2 frames TP + PH, 250 x 250, 0.636 nm/px.
            Sample("asd/202110200146.asd", Expected(
                n_frames=2, frame_shape=(250, 250), channel="TP", channels=["TP", "PH"], pixel_size_nm=0.636,
                z_unit="nm", frame_times=[0.0, 1.0])),
        ),
        built=(Built("v1 TP", _built_asd, Expected(n_frames=3, frame_shape=(6, 8), channel="TP",
                                                   pixel_size_nm=10.0, pixel_size_y_nm=10.0)),),
    ),
    "h5-jpk": Case(
        samples=(
            # h5jpk.md §8: 4 x 128 x 128, 1.171875 nm/px, mean 740.441636, [0,0,0] = 740.408950,
            # timestamps 0, 3.275, 6.55, 9.825 s, 9 channels.
            Sample("h5jpk/sample_0.h5-jpk", Expected(
                n_frames=4, frame_shape=(128, 128), channel="height_trace", pixel_size_nm=1.171875,
                pixel_size_y_nm=1.171875, z_unit="nm", frame_times=[0.0, 3.275, 6.55, 9.825],
                pixels={(0, 0, 0): 740.408950}, mean=740.441636)),
        ),
        built=(Built("height", _built_h5jpk, Expected(n_frames=3, frame_shape=(4, 6), channel="height_trace",
                                                     pixel_size_nm=10.0, pixel_size_y_nm=5.0, z_unit="nm")),),
    ),
    "jpk": Case(
        samples=(
            # jpk.md §7: 256 x 256, 1.2770176335964876 nm/px; playNano (stored row order) [0,0,0] =
            # 3334.485151, which afmio (rows reversed, as Gwyddion shows them) has at row 255.
            Sample("jpk_folder_afmreader_sample0", Expected(
                n_frames=1, frame_shape=(256, 256), channel="height_trace", pixel_size_nm=1.2770176335964876,
                z_unit="nm", pixels={(0, 255, 0): 3334.485151}, ranges={0: (3302.591820, 3360.950042)})),
            # jpk.md §7: NanoRacer, 3 pages per file, 512 x 512, 0.166015625 nm/px, frames 2.59 s apart.
            Sample("jpk_folder_streptavidin_nanoracer", Expected(
                n_frames=4, frame_shape=(512, 512), channel="height_trace",
                channels=["height_retrace", "measuredHeight_trace", "height_trace"], pixel_size_nm=0.166015625,
                z_unit="nm", frame_times=[0.0, 2.59, 5.18, 7.77])),
        ),
        built=(Built("3 frames", _built_jpk, Expected(n_frames=3, frame_shape=(6, 8), channel="height_trace")),),
    ),
    # Expected values of the four below: the peers' readings of the same files (gwyfile 0.3.0 for
    # .gwy, AFMReader 0.0.7 for the others), recorded in the issue-16 report; tests/interop compares live.
    "gwy": Case(
        round_trips=(RoundTrip("rt_gwy", format="gwy"), RoundTrip("volts_gwy", "volts", format="gwy")),
        samples=(Sample("gwy/test.gwy", Expected(
            n_frames=1, frame_shape=(128, 128), channel="Test", channels=["Test"], pixel_size_nm=1.0,
            pixel_size_y_nm=1.0, z_unit="unknown", pixels={(0, 0, 0): 0.0008249385446819946},
            ranges={0: (0.0, 0.001)}, mean=0.0005152968462939743)),),
        built=(Built("height+volts", _built_gwy, Expected(
            n_frames=1, frame_shape=(6, 8), channel="Height", channels=["Height", "Amplitude"], pixel_size_nm=10.0,
            pixel_size_y_nm=5.0, z_unit="nm")),),
    ),
    "ibw": Case(
        samples=(Sample("ibw/Example_ibw.ibw", Expected(
            n_frames=1, frame_shape=(256, 256), channel="HeightTracee",
            channels=["HeightTracee", "HeightRetracece", "AmplitudeRetracece", "NapAmplitudeRetrace",
                      "PhaseRetracece", "NapPhaseRetrace"],
            pixel_size_nm=78.125, pixel_size_y_nm=78.125, z_unit="nm", pixels={(0, 0, 0): 0.19562663},
            ranges={0: (-0.68376946, 1.264155)}),
            # Asylum's trailer (a preview and a "...FileStart" index) follows the Igor record
            # undeclared; a cut inside it leaves every value readable.
            truncation_must_fail=False),),
        built=(Built("height+phase", _built_ibw, Expected(
            n_frames=1, frame_shape=(6, 8), channel="HeightTrace", channels=["HeightTrace", "PhaseTrace"],
            pixel_size_nm=10.0, pixel_size_y_nm=5.0, z_unit="nm")),),
    ),
    "topostats": Case(
        samples=(
            Sample("topostats/sample_0_1.topostats", Expected(
                n_frames=1, frame_shape=(64, 64), channel="image", channels=["image"], pixel_size_nm=1.97601171875,
                z_unit="nm", pixels={(0, 0, 0): 30.408041934089365},
                ranges={0: (24.318018633313656, 31.86676826560356)}, mean=27.360721026619714)),
            Sample("topostats/sample_0_2.topostats", Expected(
                n_frames=1, frame_shape=(64, 64), channel="image", channels=["image", "image_original"],
                pixel_size_nm=1.97601171875, z_unit="nm", pixels={(0, 0, 0): 2.2926517952623993},
                ranges={0: (-0.4129240980507883, 2.648565190065159)}, mean=0.2872562257009861)),
        ),
        built=(Built("image+original", _built_topostats, Expected(
            n_frames=1, frame_shape=(6, 8), channel="image", channels=["image", "image_original"],
            pixel_size_nm=2.5, z_unit="nm")),),
    ),
    "jpk-qi": Case(
        samples=(Sample("other/sample_0.jpk-qi-image", Expected(
            n_frames=1, frame_shape=(100, 100), channel="height_trace",
            channels=["measuredHeight_trace", "vDeflection_trace", "measuredHeight_trace (2)", "adhesion_trace",
                      "height_trace", "slope_trace"],
            pixel_size_nm=4.999999999999986, z_unit="nm", pixels={(0, 0, 0): 3207.14507538614},
            ranges={0: (3078.7612123887757, 3615.5921908621485)}, mean=3159.314616051172)),),
        built=(Built("measuredHeight+height", _built_jpk_qi, Expected(
            n_frames=1, frame_shape=(6, 8), channel="height_trace", channels=["measuredHeight_trace", "height_trace"],
            pixel_size_nm=10.0, z_unit="nm")),),
    ),
    "aris": Case(built=(Built("2 channels", _built_aris, Expected(
        n_frames=3, frame_shape=(6, 8), channel="HeightTrace", channels=["HeightTrace", "PhaseTrace"],
        pixel_size_nm=10.0, pixel_size_y_nm=5.0, z_unit="nm", frame_times=[0.0, 0.25, 0.5])),)),
    "nhf": Case(built=(Built("3 files", _built_nhf, Expected(
        n_frames=3, frame_shape=(6, 8), channel="Topography_trace",
        channels=["Topography_trace", "Topography_retrace"], pixel_size_nm=10.0, pixel_size_y_nm=5.0,
        z_unit="nm", frame_times=[0.0, 2.0, 4.0])),)),
    "spm": Case(
        samples=(
            # spm.md §8: Height Sensor (3, 486, 768), 0.130208333 nm/px, mean 538.938944,
            # [0,0,0] = 495.054793, timestamps 0, 209.88, 629.04 s.
            Sample("spm_folder_fastscan_nanolocz", Expected(
                n_frames=3, frame_shape=(486, 768), channel="Height Sensor",
                channels=["Height Sensor", "Amplitude", "Phase"], pixel_size_nm=0.130208333, z_unit="nm",
                frame_times=[0.0, 209.88, 629.04], pixels={(0, 0, 0): 495.054793}, mean=538.938944)),
            # spm.md §8: old_bruker.002 Height, 58.59375 nm/px, range [52.300480, 757.092440].
            Sample("spm_folder_old_bruker", Expected(
                n_frames=2, frame_shape=(256, 256), channel="Height", pixel_size_nm=58.59375, z_unit="nm",
                ranges={0: (52.300480, 757.092440)})),
        ),
        built=(Built("2 files", _built_spm, Expected(n_frames=2, frame_shape=(6, 8), channel="Height Sensor",
                                                    pixel_size_nm=12.5)),),
    ),
    "wsxm": Case(
        samples=(
            # Independent values in tests/test_wsxm.py; stp min -80.7998, max -21.0549 (the header's statistics).
            Sample("wsxm/sample_0.stp", Expected(
                n_frames=1, frame_shape=(512, 512), channel="Topography", channels=["Topography"],
                pixel_size_nm=0.9765625, pixel_size_y_nm=0.9765625, z_unit="nm",
                ranges={0: (-80.79984113928448, -21.054941139284477)})),
            Sample("wsxm/sample_0.top", Expected(
                n_frames=1, frame_shape=(512, 512), channel="Topography", pixel_size_nm=0.9765625, z_unit="nm")),
        ),
        built=(Built("2 files", _built_wsxm, Expected(n_frames=2, frame_shape=(6, 8), channel="Topography",
                                                     pixel_size_nm=10.0, pixel_size_y_nm=5.0, z_unit="nm",
                                                     frame_times=[0.0, 10.0])),),
    ),
    "nid": Case(
        samples=(
            Sample("nid/nid-1.nid", Expected(
                n_frames=1, frame_shape=(256, 256), channel="Z-Axis (Scan forward)", pixel_size_nm=78.125,
                pixel_size_y_nm=78.125, z_unit="nm")),
        ),
        built=(Built("2 directions", _built_nid, Expected(
            n_frames=1, frame_shape=(6, 8), channel="Z-Axis (Scan forward)",
            channels=["Z-Axis (Scan forward)", "Z-Axis (Scan backward)"], pixel_size_nm=10.0, pixel_size_y_nm=5.0,
            z_unit="nm")),),
    ),
    "park": Case(
        samples=(
            Sample("park/example_ps.tiff", Expected(
                n_frames=1, frame_shape=(512, 512), channel="Z Height", pixel_size_nm=1.953125,
                pixel_size_y_nm=1.953125, z_unit="nm")),
        ),
        built=(Built("float32", _built_park, Expected(n_frames=1, frame_shape=(6, 8), channel="Z Height",
                                                     pixel_size_nm=10.0, pixel_size_y_nm=5.0, z_unit="nm")),),
        allow=("ome-tiff",),
    ),
}


def _builtins() -> dict[str, str]:
    """Built-in driver name -> the entry point (plugin) that declares it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # test_no_builtin_plugin_is_set_aside reports them
        return {d.name: d.plugin for d in Registry(discover=True).drivers() if d.distribution == "afmio"}


PLUGIN_OF = _builtins()
BUILTINS = sorted(PLUGIN_OF)


def _params(kind: str) -> list[Any]:
    def label(item: Any) -> str:
        return getattr(item, "label", None) or getattr(item, "target", None) or item.relative

    return [pytest.param(name, item, id=f"{name}-{label(item)}")
            for name in BUILTINS if name in CASES for item in getattr(CASES[name], kind)]


def registry_for(name: str) -> Registry:
    """An isolated registry of the plugin (entry point) providing ``name``, as the kit sees it."""
    return make_registry(PLUGIN_OF[name])


def test_no_builtin_plugin_is_set_aside():
    reg = Registry(discover=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        problems = [str(p) for p in reg.problems() if p.distribution == "afmio"]
    assert not problems, problems


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_has_a_conformance_case(name):
    if name not in CASES:
        pytest.fail(f"built-in driver {name!r} has no conformance case: add one to CASES in {Path(__file__).name}")
    case, driver = CASES[name], registry_for(name).driver(name)
    if driver.can("write") and not (case.round_trips or case.writes):
        pytest.fail(f"built-in writer {name!r} has no round trip or write case")
    if driver.can("read") and not (case.round_trips or case.samples or case.built):
        pytest.fail(f"built-in reader {name!r} has no sample, built file or round trip")


@pytest.mark.parametrize("name", BUILTINS)
def test_declaration_and_claims(name):
    drivers = check_declaration(PLUGIN_OF[name])
    assert name in {d.name for d in drivers}
    check_claims(PLUGIN_OF[name], allow=CASES[name].allow if name in CASES else ())


def _written(name: str, rt: RoundTrip, folder: Path) -> Path:
    path = folder / rt.target
    registry_for(name).save(STACKS[rt.stack][0](), path, format=rt.format, **rt.options)
    return path


@pytest.mark.parametrize(("name", "rt"), _params("round_trips"))
def test_round_trip(name, rt, tmp_path):
    make, _ = STACKS[rt.stack]
    check_round_trip(registry_for(name), make(), tmp_path / rt.target, format=rt.format, **rt.options)


@pytest.mark.parametrize(("name", "rt"), _params("round_trips"))
def test_reader_checks_on_a_written_file(name, rt, tmp_path):
    check_reader(registry_for(name), _written(name, rt, tmp_path), name, STACKS[rt.stack][1])


@pytest.mark.parametrize(("name", "rt"), [p for p in _params("round_trips") if p.values[1].stack == "heights"])
def test_damaged_copies_of_a_written_file(name, rt, tmp_path):
    check_damaged(registry_for(name), _written(name, rt, tmp_path), tmp_path / "damage", driver=name)


@pytest.mark.parametrize(("name", "rt"), _params("round_trips"))
def test_round_trip_of_a_lazy_stack(name, rt, tmp_path):
    reg = registry_for(name)
    reg.save(STACKS[rt.stack][0](), tmp_path / ("src_" + rt.target), format=rt.format, **rt.options)
    with reg.load(tmp_path / ("src_" + rt.target), lazy=True) as lazy:
        check_round_trip(reg, lazy, tmp_path / rt.target, format=rt.format, **rt.options)


@pytest.mark.parametrize(("name", "wo"), _params("writes"))
def test_write_only(name, wo, tmp_path):
    stack = round_trip_stack()
    out = check_write(registry_for(name), stack, tmp_path / wo.target, format=wo.format)
    wo.verify(out, stack)


@pytest.mark.parametrize(("name", "smp"), _params("samples"))
def test_real_sample(name, smp, sample):
    check_reader(registry_for(name), sample(smp.relative), name, smp.expected)


@pytest.mark.parametrize(("name", "smp"), _params("samples"))
def test_damaged_copies_of_a_real_sample(name, smp, sample, tmp_path):
    check_damaged(registry_for(name), sample(smp.relative), tmp_path, driver=name,
                  truncation_must_fail=smp.truncation_must_fail)


@pytest.mark.parametrize(("name", "built"), _params("built"))
def test_built_file(name, built, tmp_path):
    check_reader(registry_for(name), built.make(tmp_path), name, built.expected)


@pytest.mark.parametrize(("name", "built"), _params("built"))
def test_damaged_copies_of_a_built_file(name, built, tmp_path):
    check_damaged(registry_for(name), built.make(tmp_path), tmp_path / "damage", driver=name)
