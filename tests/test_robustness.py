"""Bad input, faults and concurrency across every built-in reader.

Every damaged input must end in success or an ``AfmioError`` that names the file:
never another exception, never a hang, never an allocation the file cannot justify.
The corpus is deterministic (truncations at every structural boundary, header fields
set to extreme values) plus hypothesis-driven random damage; ``nox -s fuzz`` runs the
same properties for longer (``AFMIO_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import afmio
from afmio import AfmioError
from afmio.synthetic import synthetic_stack
from afmio_testdata import mutations
from afmio_testdata.corpus import SEEDS, Seed, place

EXAMPLES = int(os.environ.get("AFMIO_FUZZ_EXAMPLES", "15"))
TIME_LIMIT_S = 10
#: Memory a damaged file may cost beyond its size (float32 of int16 data, plus overheads).
SLACK_BYTES = 64 << 20
EXPANSION = 16

_seed_cache: dict[str, Seed] = {}


def get_seed(key: str) -> Seed:
    if key not in _seed_cache:
        _seed_cache[key] = SEEDS[key]()
    return _seed_cache[key]


@contextlib.contextmanager
def time_limit(seconds: int):
    def alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_clean_outcome(path: Path, budget_bytes: int) -> None:
    """Load, probe and list channels; each must succeed or raise an AfmioError naming ``path``."""
    for action in (lambda: afmio.load(path), lambda: afmio.registry.probe(path),
                   lambda: afmio.registry.channels(path)):
        tracemalloc.start()
        try:
            with time_limit(TIME_LIMIT_S):
                result = action()
                if isinstance(result, afmio.AFMImageStack):
                    result.close()
        except AfmioError as exc:
            assert str(path) in str(exc) or path.name in str(exc), f"error does not name the file: {exc}"
        except TimeoutError:
            pytest.fail(f"{path}: no answer within {TIME_LIMIT_S} s")
        except Exception as exc:  # the property: nothing but afmio errors
            pytest.fail(f"{path}: {type(exc).__name__} escaped: {exc}")
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak <= budget_bytes, f"{path}: allocated {peak:,} bytes for a {budget_bytes:,}-byte budget"


def _check(seed: Seed, data: bytes, tmp: Path) -> None:
    folder = tmp / "case"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    path = place(seed, data, folder)
    total = len(data) + sum(len(b) for b in seed.siblings.values())
    assert_clean_outcome(path, EXPANSION * total + SLACK_BYTES)


def test_seeds_are_valid(tmp_path):
    """The corpus starts from files afmio reads (so damage, not the seed, causes errors)."""
    for key in SEEDS:
        seed = get_seed(key)
        path = place(seed, seed.data, tmp_path / key)
        stack = afmio.load(path)
        assert stack.n_frames >= 1, key


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_truncations_at_every_boundary(key, tmp_path):
    seed = get_seed(key)
    for size in mutations.boundaries(len(seed.data), seed.structural):
        _check(seed, mutations.truncate(seed.data, size), tmp_path)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_header_fields_set_to_extremes(key, tmp_path):
    seed = get_seed(key)
    for offset in seed.int_fields:
        for value in mutations.EXTREME_INTS:
            _check(seed, mutations.set_field(seed.data, offset, seed.endian + "i", value), tmp_path)
    for text_key in seed.text_keys:
        for value in (b"0", b"-1", b"99999999999", b"nan", b"inf", b"", b"1e308 nm", b"x y z"):
            _check(seed, mutations.replace_text_value(seed.data, text_key, value), tmp_path)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_wrong_magic_and_empty(key, tmp_path):
    seed = get_seed(key)
    _check(seed, b"", tmp_path)
    _check(seed, b"\x00" * 16 + seed.data[16:], tmp_path)
    _check(seed, b"NOT AN AFM FILE\n" * 4, tmp_path)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_random_damage(key, tmp_path_factory):
    seed = get_seed(key)
    tmp = tmp_path_factory.mktemp("rand")

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 15,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        blob = seed.data
        n = data.draw(st.integers(1, 12), label="flips")
        positions = data.draw(st.lists(st.integers(0, max(0, len(blob) - 1)), min_size=n, max_size=n))
        values = data.draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))
        blob = mutations.flip_bytes(blob, positions, values)
        if data.draw(st.booleans(), label="truncate too"):
            blob = blob[: data.draw(st.integers(0, len(blob)))]
        _check(seed, blob, tmp)

    run()


def test_directories_and_files_swapped(tmp_path):
    for name in ["movie.asd", "bundle.npz", "b.h5", "s.ome.tif", "m.h5-jpk"]:
        (tmp_path / name).mkdir()
        with pytest.raises(AfmioError) as info:
            afmio.load(tmp_path / name)
        assert name in str(info.value)
    (tmp_path / "store.ome.zarr.d").write_bytes(b"")
    fake_store = tmp_path / "fake.ome.zarr"
    fake_store.write_bytes(b"not a folder")
    with pytest.raises(AfmioError):
        afmio.load(fake_store)


def test_library_never_unpickles():
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("core", "plugins"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text("utf-8")
            for needle in ("allow_pickle=True", "pickle.load", "Unpickler", "pickle.loads"):
                if needle in text:
                    offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []


# ------------------------------------------------------------------ writing faults
WRITABLE = ["npz", "hdf5", "ome-tiff", "ome-zarr-zip", "gif"]
EXT = {"npz": ".npz", "hdf5": ".h5", "ome-tiff": ".ome.tif", "ome-zarr-zip": ".ome.zarr.zip", "gif": ".gif"}


class FailingSource(afmio.ArrayFrameSource):
    """Frames that fail to read half-way (a disk error, a crash in the producer)."""

    def read_frame(self, index):
        if index >= 2:
            raise RuntimeError("simulated crash while reading frame")
        return super().read_frame(index)

    def read_frames(self, start, stop):
        if stop > 2:
            raise RuntimeError("simulated crash while reading frames")
        return super().read_frames(start, stop)


@pytest.mark.parametrize("fmt", WRITABLE)
def test_crash_mid_write_keeps_previous_file(fmt, tmp_path):
    good = synthetic_stack(4, 16, 16)
    target = tmp_path / f"movie{EXT[fmt]}"
    afmio.save(good, target, format=fmt)
    before = target.read_bytes()
    doomed = afmio.AFMImageStack(FailingSource(good.data.copy()), 0.5, "height_trace", None,
                                 good.frame_metadata)
    with pytest.raises(afmio.PluginError, match="simulated crash") as info:  # not a user error
        afmio.save(doomed, target, format=fmt, overwrite=True)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


_FULL_DISK = r"""
import resource, signal, sys
import afmio
from afmio.synthetic import synthetic_stack
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
stack = synthetic_stack(20, 64, 64)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    afmio.save(stack, sys.argv[1], format=sys.argv[2], compression="none")
except afmio.WriteError as exc:
    print("WriteError", exc)
except Exception as exc:
    print("OTHER", type(exc).__name__, exc)
"""


@pytest.mark.parametrize("fmt", ["npz", "hdf5", "ome-zarr-zip"])
def test_full_disk_gives_write_error_and_leaves_nothing(fmt, tmp_path):
    target = tmp_path / f"big{EXT[fmt]}"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", _FULL_DISK, str(target), fmt],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("WriteError"), out.stdout + out.stderr
    assert str(target) in out.stdout
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ paths and threads
def _sample_inputs(samples_root: Path | None, tmp: Path) -> list[Path]:
    stack = synthetic_stack(3, 16, 16)
    inputs = []
    for fmt in ("npz", "hdf5", "ome-tiff", "ome-zarr"):
        path = tmp / f"bundle{EXT.get(fmt, '.ome.zarr')}"
        afmio.save(stack, path, format=fmt)
        inputs.append(path)
    for key in ("asd-v1-2ch", "h5-jpk", "jpk", "spm-v9"):
        seed = get_seed(key)
        inputs.append(place(seed, seed.data, tmp / key))
    if samples_root is not None:
        inputs += [samples_root / "asd" / "asd_sample_0.asd", samples_root / "spm_folder_fastscan_nanolocz",
                   samples_root / "jpk_folder_streptavidin_nanoracer", samples_root / "h5jpk" / "sample_0.h5-jpk"]
    return inputs


def test_concurrent_loads_are_identical(tmp_path):
    from afmio_testdata.samples import samples_root

    inputs = _sample_inputs(samples_root(), tmp_path)
    reference = [afmio.load(p).data for p in inputs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = list(pool.map(lambda p: afmio.load(p).data, inputs * 4))
    for i, data in enumerate(runs):
        np.testing.assert_array_equal(data, reference[i % len(inputs)])


def test_concurrent_lazy_reads(tmp_path):
    seed = get_seed("asd-v1-2ch")
    path = place(seed, seed.data, tmp_path)
    eager = afmio.load(path).data
    with afmio.load(path, lazy=True) as lazy, ThreadPoolExecutor(max_workers=4) as pool:
        frames = list(pool.map(lazy.get_frame, [i % eager.shape[0] for i in range(40)]))
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame, eager[i % eager.shape[0]])


def test_awkward_paths(tmp_path):
    stack = synthetic_stack(2, 8, 8)
    odd = tmp_path / "dossier données" / "ünïcode scan №1"
    for fmt, ext in EXT.items():
        if fmt == "gif":
            continue
        path = afmio.save(stack, odd.with_name(odd.name + ext), format=fmt)
        link = tmp_path / f"link{ext}"
        link.symlink_to(path)
        path.chmod(0o444)
        np.testing.assert_array_equal(afmio.load(link).data, stack.data)
        np.testing.assert_array_equal(afmio.load(str(path)).data, stack.data)
    seed = get_seed("jpk")
    folder = place(seed, seed.data, tmp_path / "dossier données")
    link = tmp_path / "jpk link"
    link.symlink_to(folder, target_is_directory=True)
    assert afmio.load(link).n_frames == afmio.load(folder).n_frames == 2
