"""The demo: a synthetic HS-AFM video written through every built-in writer and read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MissingDependencyError
from .registry import Registry
from .stack import AFMImageStack
from .synthetic import synthetic_stack

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What happened to one format in the demo."""

    format: str
    path: Path
    size_bytes: int
    round_trip: str  # "exact", "write-only", "skipped: …" or a failure text
    ok: bool
    skipped: bool = False  # an optional extra is not installed (not a failure)


def _compare(original: AFMImageStack, loaded: AFMImageStack) -> str | None:
    """Return None when ``loaded`` equals ``original`` (data, pixels, times, unit), else why not."""
    if loaded.data.shape != original.data.shape:
        return f"shape {loaded.data.shape} != {original.data.shape}"
    if not np.array_equal(loaded.data, original.data):
        return f"data differ (max |diff| {np.nanmax(np.abs(loaded.data - original.data)):.3g})"
    if not np.isclose(loaded.pixel_size_nm, original.pixel_size_nm, rtol=1e-6):
        return f"pixel size {loaded.pixel_size_nm} != {original.pixel_size_nm}"
    if not np.allclose(loaded.get_frame_times(), original.get_frame_times()):
        return "timestamps differ"
    if loaded.z_unit != original.z_unit:
        return f"z unit {loaded.z_unit!r} != {original.z_unit!r}"
    return None


def run_demo(
    out_dir: str | Path,
    *,
    registry: Registry | None = None,
    n_frames: int = 20,
    size: int = 128,
    overwrite: bool = True,
) -> list[DemoResult]:
    """Synthesise a video, write it with every built-in writer, read each back and compare."""
    if registry is None:
        from . import registry as default_registry

        registry = default_registry
    from .progress import progress

    out = Path(out_dir)
    stack = synthetic_stack(n_frames, size, size)
    results = []
    writers = [i for i in registry.formats() if i.write and i.distribution in (None, "afmio")]
    for info in progress(writers, total=len(writers), desc="demo", unit="format"):
        ext = info.extensions[0] if info.extensions else ""
        path = out / f"demo{ext}" if ext else out / f"demo_{info.name}"
        if ext and registry.driver(info.name).member_match(path.name):
            path = out / f"demo_{info.name}"  # one image per file: the video goes to a folder of them
        try:
            registry.save(stack, path, format=info.name, overwrite=overwrite)
        except MissingDependencyError as exc:
            results.append(DemoResult(info.name, path, 0, f"skipped: needs afmio[{exc.extra}]", True, True))
            continue
        except Exception as exc:  # report and go on: the demo shows what works
            results.append(DemoResult(info.name, path, 0, f"write failed: {exc}", False))
            continue
        size_bytes = (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        )
        if not info.read:
            results.append(DemoResult(info.name, path, size_bytes, "write-only", True))
            continue
        try:
            loaded = registry.load(path, format=info.name)
            why = _compare(stack, loaded)
        except Exception as exc:
            why = f"read failed: {exc}"
        results.append(DemoResult(info.name, path, size_bytes, "exact" if why is None else why, why is None))
    return results
