"""One benchmark measurement, run in a fresh interpreter: ``python child.py '<json spec>'``.

The parent (``runner.py``) starts this script once per case and run. It imports only
the standard library at start-up, so the import cases measure a clean interpreter and
the script also runs in a virtual environment that has playNano but not afmio.

Each operation prepares its inputs (arrays, stacks, heavy third-party modules),
then only the library call is timed with ``time.perf_counter()``. Around the call
the script reads the resident set size (``VmRSS``), resets the kernel's high-water
mark (``/proc/self/clear_refs``) so that ``VmHWM`` afterwards is the peak reached
*during* the call. The result is one JSON line on stdout after ``RESULT_MARK``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_MARK = "AFMIO_BENCH_RESULT "

PIXEL_SIZE_NM = 0.5
FRAME_TIME_S = 0.1
START_EPOCH_MS = 1_700_000_000_000


# --------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _path_size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


def measure(call: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Run ``call`` once; return timing and memory figures plus its result."""
    rss_before = _status_kb("VmRSS")
    peak_ok = _reset_peak()
    t0 = time.perf_counter()
    value = call()
    t1 = time.perf_counter()
    rss_after = _status_kb("VmRSS")
    hwm = _status_kb("VmHWM") if peak_ok else None
    fig = {
        "t_call_s": t1 - t0,
        "rss_before_mb": rss_before / 1024 if rss_before is not None else None,
        "rss_after_mb": rss_after / 1024 if rss_after is not None else None,
        "call_peak_mb": (hwm - rss_before) / 1024 if hwm is not None and rss_before is not None else None,
    }
    return fig, value


# --------------------------------------------------------------------------- inputs
def _frame_meta(n: int, height: int) -> list[dict[str, Any]]:
    """Per-frame metadata with the six keys both libraries use (plain dicts)."""
    return [
        {
            "timestamp": i * FRAME_TIME_S,
            "frame_pixel_size_nm": PIXEL_SIZE_NM,
            "frame_duration_s": FRAME_TIME_S,
            "start_epoch_ms": START_EPOCH_MS + round(i * FRAME_TIME_S * 1000),
            "scan_direction": "topDown",
            "line_rate": height / FRAME_TIME_S,
        }
        for i in range(n)
    ]


def _load_array(spec: dict[str, Any]) -> Any:
    import numpy as np

    arr = np.load(spec["array"])
    frames = spec.get("frames")
    if frames:
        arr = np.ascontiguousarray(arr[:frames])
    return arr


def _afmio_stack(spec: dict[str, Any]) -> Any:
    from afmio import AFMImageStack

    data = _load_array(spec)
    stack = AFMImageStack(
        data, PIXEL_SIZE_NM, "height_trace", spec["array"], _frame_meta(data.shape[0], data.shape[1])
    )
    stack.acquisition.update({"instrument": "afmio synthetic"})
    return stack


def _playnano_stack(spec: dict[str, Any]) -> Any:
    from playnano.afm_stack import AFMImageStack

    data = _load_array(spec)
    return AFMImageStack(data, PIXEL_SIZE_NM, "height_trace", Path(spec["array"]), _frame_meta(*data.shape[:2]))


def _preimport(names: list[str]) -> None:
    """Import third-party modules before timing: the call, not the import, is measured."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _afmio() -> Any:
    """afmio with its registry discovered and its drivers' code imported.

    Discovery and imports are start-up, timed elsewhere; built-in drivers import their
    implementation module on first use, so that happens here, as playNano's imports do.
    """
    import afmio
    import afmio.progress

    afmio.progress.set_enabled(False)  # no bars drawn inside a timed call
    for driver in afmio.registry.drivers():
        for role in ("read", "write", "sniff"):
            if driver.can(role):
                try:
                    driver.function(role)
                except Exception:  # an optional extra missing: that case is skipped anyway
                    pass
    return afmio


def _describe(data: Any) -> dict[str, Any]:
    return {"dtype": str(data.dtype), "shape": list(data.shape), "nbytes": int(data.nbytes)}


# --------------------------------------------------------------------------- operations
def op_import(spec: dict[str, Any]) -> dict[str, Any]:
    """Cold import of ``modules`` (and ``afmio.registry.formats()`` when asked)."""
    import importlib

    def call() -> Any:
        mods = [importlib.import_module(m) for m in spec["modules"]]
        if spec.get("formats"):
            return len(mods[0].registry.formats())
        return None

    fig, n = measure(call)
    if n is not None:
        fig["n_formats"] = n
    return fig


def op_afmio_load(spec: dict[str, Any]) -> dict[str, Any]:
    afmio = _afmio()

    _preimport(spec.get("preimport", []))
    opts = dict(spec.get("options") or {})

    def call() -> Any:
        stack = afmio.load(spec["path"], channel=spec.get("channel"), **opts)
        return stack.data

    fig, data = measure(call)
    fig.update(_describe(data))
    return fig


def op_afmio_save(spec: dict[str, Any]) -> dict[str, Any]:
    afmio = _afmio()

    _preimport(spec.get("preimport", []))
    stack = _afmio_stack(spec)
    out = Path(spec["out"])
    opts = dict(spec.get("options") or {})
    os.sync()
    fig, _ = measure(lambda: afmio.save(stack, out, overwrite=True, **opts))
    fig["out_bytes"] = _path_size(out)
    fig["data_nbytes"] = int(stack.data.nbytes)
    return fig


def op_afmio_lazy_walk(spec: dict[str, Any]) -> dict[str, Any]:
    afmio = _afmio()

    def call() -> Any:
        total = 0.0
        n = 0
        with afmio.load(spec["path"], channel=spec.get("channel"), lazy=True) as stack:
            for frame in stack.iter_frames():
                total += float(frame[0, 0]) + float(frame[-1, -1])
                n += 1
            return n, stack.is_lazy, str(stack.dtype), list(stack.shape)

    fig, (n, still_lazy, dtype, shape) = measure(call)
    fig.update({"frames_walked": n, "still_lazy": still_lazy, "dtype": dtype, "shape": shape})
    return fig


def op_afmio_cli(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``afmio.cli.main(argv)`` in this process (e.g. a streaming convert)."""
    import io
    from contextlib import redirect_stdout

    from afmio.cli import main

    _afmio()
    _preimport(spec.get("preimport", []))
    out = Path(spec["out"]) if spec.get("out") else None
    os.sync()
    sink = io.StringIO()
    with redirect_stdout(sink):
        fig, code = measure(lambda: main(spec["argv"]))
    if code:
        raise RuntimeError(f"afmio {' '.join(spec['argv'])} exited with {code}")
    if out is not None:
        fig["out_bytes"] = _path_size(out)
    return fig


def op_playnano_load(spec: dict[str, Any]) -> dict[str, Any]:
    from playnano.io.loader import load_afm_stack

    _preimport(spec.get("preimport", []))

    def call() -> Any:
        return load_afm_stack(Path(spec["path"]), channel=spec.get("channel") or "height_trace").data

    fig, data = measure(call)
    fig.update(_describe(data))
    return fig


def op_playnano_save(spec: dict[str, Any]) -> dict[str, Any]:
    from playnano.io import export_data

    writer = {"h5": export_data.save_h5_bundle, "npz": export_data.save_npz_bundle,
              "ome.tif": export_data.save_ome_tiff_stack}[spec["kind"]]
    stack = _playnano_stack(spec)
    out = Path(spec["out"])
    os.sync()
    fig, _ = measure(lambda: writer(out, stack))
    fig["out_bytes"] = _path_size(out)
    fig["data_nbytes"] = int(stack.data.nbytes)
    return fig


def op_playnano_gif(spec: dict[str, Any]) -> dict[str, Any]:
    from playnano.io.gif_export import export_gif

    stack = _playnano_stack(spec)
    out = Path(spec["out"])
    os.sync()
    fig, _ = measure(lambda: export_gif(stack, True, str(out.parent), out.stem, None))
    fig["out_bytes"] = _path_size(out)
    return fig


def op_afmreader_load(spec: dict[str, Any]) -> dict[str, Any]:
    """AFMReader's loader (``"AFMReader.<module>:<function>"``) on one file."""
    import importlib

    module, _, name = spec["loader"].partition(":")
    loader = getattr(importlib.import_module(module), name)
    _preimport(spec.get("preimport", []))
    args = [Path(spec["path"])] + ([spec["channel"]] if spec.get("channel") is not None else [])

    def call() -> Any:
        result = loader(*args)
        if isinstance(result, dict):  # load_topostats: the image is one entry
            return result.get("image", result.get("image_original"))
        return result[0] if isinstance(result, tuple) else result

    fig, data = measure(call)
    if data is not None and hasattr(data, "dtype"):
        fig.update(_describe(data))
    return fig


def _file_list(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path]


def op_raw_fromfile(spec: dict[str, Any]) -> dict[str, Any]:
    """Read the same bytes into new numpy arrays (``np.fromfile``)."""
    import numpy as np

    files = _file_list(Path(spec["path"]))
    fig, arrays = measure(lambda: [np.fromfile(f, dtype=np.uint8) for f in files])
    fig["nbytes"] = sum(a.nbytes for a in arrays)
    return fig


def op_raw_readinto(spec: dict[str, Any]) -> dict[str, Any]:
    """Read the same bytes into one preallocated, already-touched buffer."""
    import numpy as np

    files = _file_list(Path(spec["path"]))
    total = sum(f.stat().st_size for f in files)
    buf = np.zeros(total, np.uint8)  # zeros + fill: pages are mapped before timing
    buf.fill(1)
    view = memoryview(buf)

    def call() -> int:
        pos = 0
        for f in files:
            with open(f, "rb", buffering=0) as fh:
                while True:
                    n = fh.readinto(view[pos:])
                    if not n:
                        break
                    pos += n
        return pos

    fig, n = measure(call)
    fig["nbytes"] = n
    return fig


def op_raw_tofile(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the float32 stack with ``ndarray.tofile`` (no fsync)."""
    data = _load_array(spec)
    out = Path(spec["out"])
    os.sync()
    fig, _ = measure(lambda: data.tofile(out))
    fig["out_bytes"] = _path_size(out)
    return fig


def _asd_layout(path: Path) -> dict[str, Any]:
    """The few v0/v1/v2 header fields the decode floor needs."""
    import numpy as np

    head = np.fromfile(path, dtype=np.uint8, count=200).tobytes()

    def i32(off: int) -> int:
        return int.from_bytes(head[off : off + 4], "little", signed=True)

    def f32(off: int) -> float:
        return float(np.frombuffer(head, "<f4", count=1, offset=off)[0])

    version = i32(0)
    if version not in (1, 2):
        raise ValueError(f"decode floor supports ASD v1/v2 only (file is v{version})")
    return {
        "data_start": i32(4),
        "frame_header": i32(8),
        "n_frames": i32(36),
        "x": i32(48),
        "y": i32(52),
        "factor": -9.99 / 4096 * f32(157) * f32(161),  # unipolar 0..10 V, TP
    }


def asd_decode_floor(path: str | Path) -> Any:
    """The ASD decode floor: one structured read of channel 1's frame records, then one
    vectorised int16 -> float32 conversion into a new array (what a load must return)."""
    import numpy as np

    lay = _asd_layout(Path(path))
    rec = np.dtype([("head", f"V{lay['frame_header']}"), ("data", "<i2", (lay["y"], lay["x"]))])
    n = lay["n_frames"]
    records = np.fromfile(path, dtype=rec, count=n, offset=lay["data_start"])
    out = np.empty((n, lay["y"], lay["x"]), np.float32)
    np.multiply(records["data"], np.float32(lay["factor"]), out=out, casting="unsafe")
    return out


def op_raw_asd_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """Time :func:`asd_decode_floor` (the header is parsed inside the timed call, as a load would)."""
    import numpy  # noqa: F401 - imported before timing, like every other case

    fig, data = measure(lambda: asd_decode_floor(spec["path"]))
    fig.update(_describe(data))
    return fig


def gif_output_size(height: int, width: int, min_height: int = 512) -> tuple[int, int]:
    """``(width, height)`` of the frames both tools write: upscaled to ``min_height`` rows."""
    out_h = max(min_height, height)
    return max(1, round(width * out_h / height)), out_h


def op_raw_gif_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """A fixed-palette Pillow encode of the same frames, no text, at the size both tools write.

    afmio and playNano upscale frames under 512 rows to 512 rows (bicubic); the floor
    does the same (one global range, Pillow's bicubic resize, one fixed palette, one
    single-threaded ``save_all``), so it encodes as many pixels as they do.
    """
    import numpy as np
    from PIL import Image

    data = _load_array(spec)
    out = Path(spec["out"])
    palette = np.repeat(np.arange(256, dtype=np.uint8), 3).tolist()
    size = gif_output_size(data.shape[1], data.shape[2], int(spec.get("min_height", 512)))
    os.sync()

    def call() -> None:
        lo, hi = float(data.min()), float(data.max())
        scaled = ((data - lo) * (255.0 / (hi - lo or 1.0))).astype(np.uint8)
        frames = []
        for frame in scaled:
            img = Image.fromarray(frame, mode="L")
            if img.size != size:
                img = img.resize(size, Image.Resampling.BICUBIC)
            img = img.convert("P")
            img.putpalette(palette)
            frames.append(img)
        frames[0].save(out, save_all=True, append_images=frames[1:], duration=200, loop=0, optimize=False)

    fig, _ = measure(call)
    fig["out_bytes"] = _path_size(out)
    return fig


OPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "import": op_import,
    "afmio_load": op_afmio_load,
    "afmio_save": op_afmio_save,
    "afmio_lazy_walk": op_afmio_lazy_walk,
    "afmio_cli": op_afmio_cli,
    "playnano_load": op_playnano_load,
    "playnano_save": op_playnano_save,
    "playnano_gif": op_playnano_gif,
    "afmreader_load": op_afmreader_load,
    "raw_fromfile": op_raw_fromfile,
    "raw_readinto": op_raw_readinto,
    "raw_tofile": op_raw_tofile,
    "raw_asd_floor": op_raw_asd_floor,
    "raw_gif_floor": op_raw_gif_floor,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    try:
        result = OPS[spec["op"]](spec)
        result["ok"] = True
    except Exception as exc:  # reported, not raised: one failing case must not stop the run
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        out = spec.get("out")
        if out and spec.get("cleanup", True):
            _remove(Path(out))
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
