"""Conformance checks on files: loading, probing, lazy reads, round trips, damage.

Each check takes a registry (usually :func:`~afmio.testing.make_registry` of the
plugin under test), the author's sample files and expected values, and raises
``AssertionError`` with a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AfmioError, OverwriteError
from ..hookspecs import ProbeResult
from ..ioutil import natural_sort_key
from ..metadata import FRAME_METADATA_KEYS
from ..registry import Registry
from ..stack import AFMImageStack
from .damage import Damage, corruptions, truncations
from .guards import memory_cap, no_leaked_handles, time_limit

__all__ = [
    "ROUND_TRIP_PROPERTIES",
    "DamageReport",
    "Expected",
    "check_damaged",
    "check_lazy",
    "check_load",
    "check_probe",
    "check_reader",
    "check_resolves",
    "check_round_trip",
    "check_write",
]

#: What :func:`check_round_trip` compares; ``ignore=`` names the ones a format cannot store.
ROUND_TRIP_PROPERTIES = ("data", "pixel_size", "timing", "z_unit", "channel")


@dataclass(frozen=True)
class Expected:
    """What a sample must load as. Every field is optional; None is not checked.

    Attributes
    ----------
    n_frames : int
    frame_shape : (int, int)
        ``(height, width)``.
    channel : str
        The default channel (what ``channel=None`` loads), spelt as the file does.
    channels : sequence of str
        Every channel, in the file's order.
    pixel_size_nm, pixel_size_y_nm : float
    z_unit : str
    frame_times : sequence of float
        Seconds since frame 0 for the first ``len(frame_times)`` frames.
    pixels : mapping of (frame, row, column) to float
        Values at a few positions, in the stack's units, checked independently of
        the driver (from the format's documentation or another program).
    ranges : mapping of frame to (float, float)
        ``(min, max)`` of a frame's values (independent of orientation).
    mean : float
        Mean of every value of the stack (computed in float64).
    rel : float
        Relative tolerance for the float comparisons.
    """

    n_frames: int | None = None
    frame_shape: tuple[int, int] | None = None
    channel: str | None = None
    channels: Sequence[str] | None = None
    pixel_size_nm: float | None = None
    pixel_size_y_nm: float | None = None
    z_unit: str | None = None
    frame_times: Sequence[float] | None = None
    pixels: Mapping[tuple[int, int, int], float] | None = None
    ranges: Mapping[int, tuple[float, float]] | None = None
    mean: float | None = None
    rel: float = 1e-6


def _close(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)


def _metadata_diff(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} against {len(b)} frame-metadata entries"
    for i, (x, y) in enumerate(zip(a, b)):
        for key in sorted(set(x) | set(y)):
            if not _same_value(x.get(key), y.get(key)):
                return f"frame {i} key {key!r}: {x.get(key)!r} against {y.get(key)!r}"
    return None


def _first_diff(a: np.ndarray, b: np.ndarray, rtol: float = 0.0, atol: float = 0.0) -> str | None:
    if a.shape != b.shape:
        return f"shape {a.shape} against {b.shape}"
    if rtol == 0 and atol == 0:
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if np.issubdtype(a.dtype, np.floating) else a == b
    else:
        same = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if bool(np.all(same)):
        return None
    bad = np.argwhere(~same)
    idx = tuple(int(i) for i in bad[0])
    return (f"{len(bad)} of {a.size} values differ; first at {idx}: {a[idx]!r} against {b[idx]!r}"
            f" (max |diff| {float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))):.3g})")


def check_resolves(registry: Registry, path: str | Path, driver: str) -> None:
    """Check that ``path`` is read by ``driver`` when no format is given."""
    res = registry.resolve(path)
    if res.driver.name != driver:
        others = "; ".join(f"{n}: {why}" for n, why in res.rejected) or "none"
        raise AssertionError(
            f"{path} resolves to driver {res.driver.name!r} ({res.reason}), not {driver!r}. "
            f"Other candidates: {others}"
        )


def _check_stack_shape(stack: Any, what: str) -> AFMImageStack:
    if not isinstance(stack, AFMImageStack):
        raise AssertionError(f"{what} returned {type(stack).__name__}, not an AFMImageStack")
    n, h, w = stack.shape
    if min(n, h, w) < 1:
        raise AssertionError(f"{what} gave an empty stack of shape {stack.shape}")
    if len(stack.frame_metadata) != n:
        raise AssertionError(f"{what}: {len(stack.frame_metadata)} frame-metadata entries for {n} frames")
    for i, md in enumerate(stack.frame_metadata):
        missing = [k for k in FRAME_METADATA_KEYS if k not in md]
        if missing:
            raise AssertionError(
                f"{what}: frame {i} metadata lacks {', '.join(missing)}; build it with "
                "afmio.build_frame_metadata(...) (None where unknown)"
            )
    if not isinstance(stack.z_unit, str) or not stack.z_unit:
        raise AssertionError(f"{what}: z_unit must be a non-empty string, got {stack.z_unit!r}")
    if not isinstance(stack.channel, str) or not stack.channel:
        raise AssertionError(f"{what}: channel must be a non-empty string, got {stack.channel!r}")
    return stack


def _compare_expected(stack: AFMImageStack, expected: Expected, what: str) -> None:
    e, rel = expected, expected.rel
    checks: list[tuple[str, Any, Any, bool]] = []
    if e.n_frames is not None:
        checks.append(("n_frames", stack.n_frames, e.n_frames, stack.n_frames == e.n_frames))
    if e.frame_shape is not None:
        checks.append(("frame shape", stack.image_shape, tuple(e.frame_shape),
                       stack.image_shape == tuple(e.frame_shape)))
    if e.channel is not None:
        checks.append(("channel", stack.channel, e.channel, stack.channel == e.channel))
    if e.pixel_size_nm is not None:
        checks.append(("pixel_size_nm", stack.pixel_size_nm, e.pixel_size_nm,
                       _close(stack.pixel_size_nm, e.pixel_size_nm, rel)))
    if e.pixel_size_y_nm is not None:
        checks.append(("pixel_size_y_nm", stack.pixel_size_y_nm, e.pixel_size_y_nm,
                       _close(stack.pixel_size_y_nm, e.pixel_size_y_nm, rel)))
    if e.z_unit is not None:
        checks.append(("z_unit", stack.z_unit, e.z_unit, stack.z_unit == e.z_unit))
    if e.frame_times is not None:
        got = stack.get_frame_times()[: len(e.frame_times)]
        ok = len(got) == len(e.frame_times) and all(_close(a, b, rel) for a, b in zip(got, e.frame_times))
        checks.append(("frame times (s)", got, list(e.frame_times), ok))
    for (f, r, c), value in (e.pixels or {}).items():
        got_v = float(stack.get_frame(f)[r, c])
        checks.append((f"value at frame {f}, row {r}, column {c}", got_v, value,
                       math.isclose(got_v, value, rel_tol=rel, abs_tol=1e-9)))
    for f, (lo, hi) in (e.ranges or {}).items():
        frame = np.asarray(stack.get_frame(f), np.float64)
        got_r = (float(np.nanmin(frame)), float(np.nanmax(frame)))
        checks.append((f"range of frame {f}", got_r, (lo, hi),
                       all(math.isclose(a, b, rel_tol=rel, abs_tol=1e-9) for a, b in zip(got_r, (lo, hi)))))
    if e.mean is not None:
        got_m = float(np.nanmean(np.asarray(stack.data, np.float64)))
        checks.append(("mean", got_m, e.mean, math.isclose(got_m, e.mean, rel_tol=rel, abs_tol=1e-9)))
    wrong = [f"{name}: got {got!r}, expected {want!r}" for name, got, want, ok in checks if not ok]
    if wrong:
        raise AssertionError(f"{what} differs from the expected values:\n" + "\n".join(f"  - {w}" for w in wrong))


def check_load(
    registry: Registry,
    path: str | Path,
    expected: Expected | None = None,
    *,
    channel: str | None = None,
    driver: str | None = None,
) -> AFMImageStack:
    """Load ``path`` eagerly and check the stack against ``expected``.

    Also checks the model's invariants (3-D, six metadata keys per frame, a unit
    and a channel name), that ``provenance["source"]`` names ``driver`` when
    given, that the frames are floating point, and that loading leaves no file
    handle open.

    Returns
    -------
    AFMImageStack
        The loaded stack.
    """
    what = f"load of {Path(path).name}" + (f" (channel {channel!r})" if channel else "")
    with no_leaked_handles(path, what=what):
        stack = registry.load(path, channel=channel)
    stack = _check_stack_shape(stack, what)
    if not np.issubdtype(stack.dtype, np.floating):
        raise AssertionError(f"{what}: frames are {stack.dtype}, expected floating point in physical units")
    source = stack.provenance.get("source", {})
    if driver is not None and source.get("driver") != driver:
        raise AssertionError(f"{what}: read by {source.get('driver')!r}, expected driver {driver!r}")
    if expected is not None:
        _compare_expected(stack, expected, what)
        if expected.channels is not None:
            listed = registry.channels(path)
            if list(listed) != list(expected.channels):
                raise AssertionError(f"{what}: channels are {listed!r}, expected {list(expected.channels)!r}")
    return stack


def check_probe(
    registry: Registry,
    path: str | Path,
    *,
    every_channel: bool = True,
    rel: float = 1e-9,
) -> ProbeResult:
    """Check that ``probe`` (headers only) agrees with a full load.

    Compares frame count, frame shape, default channel, channel list, pixel sizes
    (and per-frame ones), z unit and frame times (the fields the probe fills in), checks that
    ``registry.channels`` gives the probe's list and, with ``every_channel``,
    that each listed channel loads under its own name.
    """
    name = Path(path).name
    with no_leaked_handles(path, what=f"probe of {name}"):
        probe = registry.probe(path)
    if not isinstance(probe, ProbeResult):
        raise AssertionError(f"probe of {name} returned {type(probe).__name__}, not a ProbeResult")
    stack = registry.load(path)
    wrong: list[str] = []

    def differs(field: str, probed: Any, loaded: Any, same: bool) -> None:
        if not same:
            wrong.append(f"{field}: probe says {probed!r}, load gives {loaded!r}")

    differs("n_frames", probe.n_frames, stack.n_frames, probe.n_frames == stack.n_frames)
    shape = tuple(int(v) for v in probe.frame_shape) if probe.frame_shape is not None else None
    differs("frame_shape", probe.frame_shape, stack.image_shape, shape == stack.image_shape)
    if probe.channels and probe.default_channel is None:
        wrong.append("default_channel is None although channels are listed")
    if probe.default_channel is not None:
        differs("default_channel", probe.default_channel, stack.channel, probe.default_channel == stack.channel)
    if stack.channel not in probe.channels:
        wrong.append(f"channels {probe.channels!r} do not include the loaded channel {stack.channel!r}")
    if probe.pixel_size_nm is not None:
        differs("pixel_size_nm", probe.pixel_size_nm, stack.pixel_size_nm,
                _close(probe.pixel_size_nm, stack.pixel_size_nm, rel))
    if probe.pixel_size_y_nm is not None:
        differs("pixel_size_y_nm", probe.pixel_size_y_nm, stack.pixel_size_y_nm,
                _close(probe.pixel_size_y_nm, stack.pixel_size_y_nm, rel))
    if probe.z_unit is not None:
        differs("z_unit", probe.z_unit, stack.z_unit, probe.z_unit == stack.z_unit)
    if probe.frame_times is not None:
        times = stack.get_frame_times()
        same = len(probe.frame_times) == len(times) and all(
            _close(float(a), float(b), 1e-6) for a, b in zip(probe.frame_times, times))
        differs("frame_times", probe.frame_times, times, same)
    if probe.frame_pixel_sizes_nm is not None:
        sizes = [m.get("frame_pixel_size_nm") for m in stack.frame_metadata]
        same = len(probe.frame_pixel_sizes_nm) == len(sizes) and all(
            b is not None and _close(float(a), float(b), rel) for a, b in zip(probe.frame_pixel_sizes_nm, sizes))
        differs("frame_pixel_sizes_nm", probe.frame_pixel_sizes_nm, sizes, same)
    listed = registry.channels(path)
    differs("channels() against probe().channels", probe.channels, listed, list(listed) == list(probe.channels))
    if wrong:
        raise AssertionError(f"probe of {name} disagrees with load:\n" + "\n".join(f"  - {w}" for w in wrong))
    if every_channel:
        for ch in probe.channels:
            try:
                other = registry.load(path, channel=ch)
            except AfmioError as exc:
                raise AssertionError(f"{name}: the probe lists channel {ch!r} but loading it fails: {exc}") from exc
            if other.channel != ch or other.n_frames != stack.n_frames:
                raise AssertionError(
                    f"{name}: load(channel={ch!r}) gave channel {other.channel!r} with {other.n_frames} frames "
                    f"(the default channel has {stack.n_frames})"
                )
    return probe


def check_lazy(registry: Registry, path: str | Path, *, channel: str | None = None) -> None:
    """Check that ``lazy=True`` gives the same stack as an eager load.

    A driver declaring ``lazy=True`` must return a stack that has not read its
    frames yet; single frames, slices, blocks and ``.data`` must equal the eager
    load exactly, and so must the metadata; ``close()`` (or leaving a ``with``
    block) must release every file handle. A driver without lazy support must load
    eagerly and say so in ``provenance["source"]``.
    """
    name = Path(path).name
    driver = registry.resolve(path).driver
    eager = registry.load(path, channel=channel)
    with no_leaked_handles(path, what=f"lazy load of {name} followed by close()"):
        lazy = registry.load(path, channel=channel, lazy=True)
        try:
            _compare_lazy(driver.spec.lazy, driver.name, eager, lazy, name)
        finally:
            lazy.close()
    with no_leaked_handles(path, what=f"lazy load of {name} in a with block"), \
            registry.load(path, channel=channel, lazy=True) as again:
        frame = again.get_frame(again.n_frames - 1)
        diff = _first_diff(np.asarray(frame), eager.data[-1])
        if diff:
            raise AssertionError(f"lazy {name}: last frame differs from the eager load: {diff}")


def _compare_lazy(declared: bool, driver: str, eager: AFMImageStack, lazy: AFMImageStack, name: str) -> None:
    what = f"lazy load of {name} (driver {driver!r})"
    source = lazy.provenance.get("source", {})
    if declared and not lazy.is_lazy:
        raise AssertionError(
            f"{what}: the spec says lazy=True but load(lazy=True) returned an in-memory stack; return "
            "AFMImageStack(frame_source, ...) when lazy is requested, or declare lazy=False"
        )
    if not declared and "note" not in source:
        raise AssertionError(f"{what}: an eager fallback must be noted in provenance['source']")
    if lazy.shape != eager.shape or lazy.dtype != eager.dtype:
        raise AssertionError(f"{what}: shape/dtype {lazy.shape}/{lazy.dtype} against eager "
                             f"{eager.shape}/{eager.dtype}")
    n = eager.n_frames
    for i in range(n):
        diff = _first_diff(np.asarray(lazy.get_frame(i)), eager.data[i])
        if diff:
            raise AssertionError(f"{what}: frame {i} differs from the eager load: {diff}")
    if n >= 2:
        sub = lazy[1:n]
        diff = _first_diff(sub.data, eager.data[1:n])
        if diff:
            raise AssertionError(f"{what}: slice [1:{n}] differs from the eager load: {diff}")
        blocks = np.concatenate(list(lazy.iter_frames(block=2)))
        diff = _first_diff(blocks, eager.data)
        if diff:
            raise AssertionError(f"{what}: iter_frames(block=2) differs from the eager load: {diff}")
    for attr in ("channel", "pixel_size_nm", "pixel_size_y_nm", "z_unit"):
        if getattr(lazy, attr) != getattr(eager, attr):
            raise AssertionError(f"{what}: {attr} is {getattr(lazy, attr)!r}, eager gives {getattr(eager, attr)!r}")
    md = _metadata_diff(lazy.frame_metadata, eager.frame_metadata)
    if md:
        raise AssertionError(f"{what}: frame metadata differs from the eager load: {md}")
    diff = _first_diff(lazy.data, eager.data)
    if diff:
        raise AssertionError(f"{what}: .data differs from the eager load: {diff}")


def check_write(
    registry: Registry,
    stack: AFMImageStack,
    path: str | Path,
    *,
    format: str | None = None,
    **options: Any,
) -> Path:
    """Save ``stack`` to ``path`` and check how the save behaved (for any writer).

    Checks that something was written, that the save left no file handle and no
    temporary file behind, and that saving again without ``overwrite`` raises
    :class:`~afmio.OverwriteError`. Use it alone for write-only formats (rendered
    videos), then check the output with an independent reader.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists; give the check a fresh path")
    with no_leaked_handles(path.parent, what=f"save to {path.name}"):
        out = registry.save(stack, path, format=format, **options)
    if not Path(out).exists():
        raise AssertionError(f"save to {path.name} returned {out} but nothing is there")
    if (Path(out).is_file() and Path(out).stat().st_size == 0) or (Path(out).is_dir() and not any(out.iterdir())):
        raise AssertionError(f"save to {path.name} wrote nothing (an empty file or folder)")
    leftovers = [p.name for p in path.parent.iterdir() if ".afmio-" in p.name]
    if leftovers:
        raise AssertionError(f"save to {path.name} left temporary files behind: {leftovers}")
    try:
        registry.save(stack, path, format=format, **options)
    except OverwriteError:
        pass
    else:
        raise AssertionError(f"saving to the existing {path.name} without overwrite=True did not raise OverwriteError")
    return Path(out)


def check_round_trip(
    registry: Registry,
    stack: AFMImageStack,
    path: str | Path,
    *,
    format: str | None = None,
    read_format: str | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    ignore: Collection[str] = (),
    **options: Any,
) -> AFMImageStack:
    """Save ``stack`` to ``path`` and check that it reads back equal.

    Compares data (exactly, unless ``rtol``/``atol`` are given), pixel sizes,
    frame times, z unit and channel, after the checks of :func:`check_write`.

    Parameters
    ----------
    path : path-like
        The output; must not exist yet (use a temporary folder).
    format, read_format : str, optional
        Output driver, and the driver to read it back with (default: chosen from
        the path like any user's load).
    ignore : collection of str
        Properties of :data:`ROUND_TRIP_PROPERTIES` the format cannot store.
    **options
        Writer options.

    Returns
    -------
    AFMImageStack
        The stack read back.
    """
    unknown = set(ignore) - set(ROUND_TRIP_PROPERTIES)
    if unknown:
        raise ValueError(f"ignore= takes {ROUND_TRIP_PROPERTIES}, not {sorted(unknown)}")
    path = check_write(registry, stack, path, format=format, **options)
    with no_leaked_handles(path, what=f"load of the written {path.name}"):
        back = registry.load(path, format=read_format)
    back = _check_stack_shape(back, f"reading back {path.name}")
    wrong: list[str] = []
    if back.shape != stack.shape:
        wrong.append(f"shape: wrote {stack.shape}, read {back.shape}")
    elif "data" not in ignore:
        diff = _first_diff(back.data, np.asarray(stack.data), rtol, atol)
        if diff:
            wrong.append(f"data: {diff}")
    if "pixel_size" not in ignore:
        for attr in ("pixel_size_nm", "pixel_size_y_nm"):
            if not _close(getattr(back, attr), getattr(stack, attr), 1e-9):
                wrong.append(f"{attr}: wrote {getattr(stack, attr)!r}, read {getattr(back, attr)!r}")
    if "timing" not in ignore:
        wrote = [md.get("timestamp") for md in stack.frame_metadata]
        read = [md.get("timestamp") for md in back.frame_metadata]
        same = len(wrote) == len(read) and all(
            (a is None and b is None) or (a is not None and b is not None and _close(a, b, 1e-9))
            for a, b in zip(wrote, read))
        if not same:
            wrong.append(f"timestamps: wrote {wrote[:5]}..., read {read[:5]}...")
    if "z_unit" not in ignore and back.z_unit != stack.z_unit:
        wrong.append(f"z_unit: wrote {stack.z_unit!r}, read {back.z_unit!r}")
    if "channel" not in ignore and back.channel != stack.channel:
        wrong.append(f"channel: wrote {stack.channel!r}, read {back.channel!r}")
    if wrong:
        raise AssertionError(f"{path.name} does not read back equal:\n" + "\n".join(f"  - {w}" for w in wrong))
    return back


@dataclass(frozen=True)
class DamageReport:
    """How a driver handled damaged copies: how many raised an afmio error, how many loaded."""

    variants: int
    raised: int
    loaded: int


def _target_member(copy: Path, driver: Any) -> Path:
    """The file of a copied folder to damage: its first member, else its shallowest file."""
    if copy.is_file():
        return copy
    top = sorted((p for p in copy.iterdir() if p.is_file() and not p.name.startswith(".")),
                 key=lambda p: natural_sort_key(p.name))
    members = [p for p in top if driver.member_match(p.name)]
    if members:
        return members[0]
    files = sorted((p for p in copy.rglob("*") if p.is_file()),
                   key=lambda p: (len(p.relative_to(copy).parts), natural_sort_key(str(p.relative_to(copy)))))
    if not files:
        raise ValueError(f"{copy} has no file to damage")
    return files[0]


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _call_roles(driver: Any, path: Path, damage: Damage, sample: str) -> bool:
    """Run sniff, probe, channels and read on a damaged copy; True when read succeeded."""
    def fail(role: str, exc: BaseException) -> AssertionError:
        return AssertionError(
            f"driver {driver.name!r} {role} raised {_type_name(exc)}: {exc} on a copy of {sample} "
            f"with {damage.label}. Raise an afmio error naming the file instead "
            "(afmio.CorruptFileError(path, detail), or TruncatedFileError when the file ends early)."
        )

    if driver.can("sniff"):
        try:
            answer = driver.function("sniff")(path)
        except AfmioError:  # resolution reads an afmio error from sniff as "not mine"
            answer = False
        except Exception as exc:
            raise AssertionError(
                f"driver {driver.name!r} sniff raised {_type_name(exc)}: {exc} on a copy of {sample} "
                f"with {damage.label}; sniff must answer False or None for content it does not know"
            ) from exc
        if answer not in (True, False, None):
            raise AssertionError(f"driver {driver.name!r} sniff returned {answer!r}; expected True, False or None")
    calls: list[tuple[str, dict[str, Any]]] = []
    if driver.can("probe"):
        calls.append(("probe", {}))
    if driver.can("channels"):
        calls.append(("channels", {}))
    calls.append(("read", {"lazy": False} if driver.spec.lazy else {}))
    if driver.spec.lazy:
        calls.append(("read", {"lazy": True}))
    loaded = True
    for role, kwargs in calls:
        label = f"{role}(lazy=True)" if kwargs.get("lazy") else role
        try:
            result = driver.function(role)(path, **({"channel": None} if role == "read" else {}), **kwargs)
            if role == "read":
                try:
                    if isinstance(result, AFMImageStack):
                        for _ in result.iter_frames(block=max(1, result.n_frames)):
                            pass
                finally:
                    if isinstance(result, AFMImageStack):
                        result.close()
        except AfmioError as exc:
            names = {path.name} | ({p.name for p in path.iterdir()} if path.is_dir() else set())
            if not any(n and n in str(exc) for n in names):
                raise AssertionError(
                    f"driver {driver.name!r} {label} raised {type(exc).__name__}({exc}) on a copy of {sample} "
                    f"with {damage.label}, but the message does not name the file"
                ) from exc
            if role == "read":
                loaded = False
        except MemoryError:  # reported by memory_cap with advice
            raise
        except Exception as exc:
            raise fail(label, exc) from exc
    return loaded


def check_damaged(
    registry: Registry,
    path: str | Path,
    tmp_dir: str | Path,
    *,
    driver: str | None = None,
    truncation_must_fail: bool = True,
    positions: int = 12,
    random_variants: int = 8,
    seconds: float = 10.0,
    memory_headroom: int = 4 << 30,
) -> DamageReport:
    """Check that truncated and corrupted copies of ``path`` raise afmio errors, not crashes.

    The driver's own functions (``sniff``, ``probe``, ``channels``, ``read``, and a
    lazy read when declared) are called directly on each damaged copy, without the
    registry's safety net, so a bare ``IndexError`` or ``struct.error`` is caught
    here. Each call must return or raise an :class:`~afmio.AfmioError` whose
    message names the file, within ``seconds``, without allocating more than
    ``memory_headroom`` bytes and without leaving a file handle open. For a
    folder, the first member file is damaged (for a folder format without member
    patterns, such as a Zarr store, its shallowest file: the metadata).

    Parameters
    ----------
    tmp_dir : path-like
        Where the damaged copies are written (pytest's ``tmp_path``).
    truncation_must_fail : bool
        A truncated copy must raise (default). Set False for formats whose
        trailing bytes are optional, so that a cut file can still be read.
    positions, random_variants : int
        How many targeted and random corruptions to try.

    Returns
    -------
    DamageReport
    """
    src = Path(path)
    d = registry.driver(driver) if driver else registry.resolve(src).driver
    root = Path(tmp_dir) / "afmio-damaged"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    copy = root / src.name
    if src.is_dir():
        shutil.copytree(src, copy)
    else:
        shutil.copyfile(src, copy)
    member = _target_member(copy, d)
    original = member.read_bytes()
    raised = loaded = 0
    variants = [*truncations(original), *corruptions(original, positions=positions, random_variants=random_variants)]
    try:
        for damage in variants:
            member.write_bytes(damage.data)
            what = f"driver {d.name!r} on a copy of {src.name} with {damage.label}"
            with no_leaked_handles(copy, what=what), time_limit(seconds, what), \
                    memory_cap(memory_headroom, what), warnings.catch_warnings():
                # Warnings about a damaged file are the driver being helpful, not a failure
                # (and must not turn into errors under a strict warnings filter).
                warnings.simplefilter("ignore")
                ok = _call_roles(d, copy, damage, src.name)
            if ok and damage.truncated and truncation_must_fail:
                raise AssertionError(
                    f"driver {d.name!r} read a copy of {src.name} {damage.label} without an error; compare the "
                    "size the header promises with the file size (afmio.ioutil.require_size) and raise "
                    "TruncatedFileError"
                )
            loaded += ok
            raised += not ok
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return DamageReport(len(variants), raised, loaded)


def check_reader(
    registry: Registry,
    path: str | Path,
    driver: str,
    expected: Expected | None = None,
    *,
    tmp_dir: str | Path | None = None,
    every_channel: bool = True,
    truncation_must_fail: bool = True,
) -> AFMImageStack:
    """Run every reader check on one sample: resolution, load, probe, lazy, damage.

    ``tmp_dir`` enables the damaged-copy check (pass pytest's ``tmp_path``).
    Returns the eagerly loaded stack.
    """
    check_resolves(registry, path, driver)
    stack = check_load(registry, path, expected, driver=driver)
    check_probe(registry, path, every_channel=every_channel)
    check_lazy(registry, path)
    if tmp_dir is not None:
        check_damaged(registry, path, tmp_dir, driver=driver, truncation_must_fail=truncation_must_fail)
    return stack
