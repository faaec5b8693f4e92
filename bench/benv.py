"""What this machine offers the benchmark: drivers, playNano, GNU time, disk, samples."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CHILD = BENCH_DIR / "child.py"

#: Where ``--setup-playnano`` puts a separate virtual environment with playNano 0.5.0.
DEFAULT_PN_VENV = Path("/tmp/afmio-bench-pn")
PLAYNANO_REQUIREMENT = "playnano==0.5.0"

#: afmio driver names (and the alternative spellings a driver might use) per format key.
DRIVER_NAMES = {
    "hdf5": ("hdf5", "h5"),
    "npz": ("npz",),
    "ome-tiff": ("ome-tiff", "ome_tiff", "tiff", "tif"),
    "asd": ("asd",),
    "aris": ("aris",),
    "jpk": ("jpk",),
    "h5-jpk": ("h5-jpk", "h5jpk"),
    "spm": ("spm", "nanoscope"),
    "gif": ("gif",),
    "ome-zarr": ("ome-zarr", "zarr"),
    "gwy": ("gwy", "gwyddion"),
    "ibw": ("ibw",),
    "wsxm": ("wsxm",),
    "topostats": ("topostats",),
}


@dataclass
class Environment:
    """Facts gathered once, before any input is made."""

    python: str
    drivers: dict[str, dict[str, bool]]  # format key -> {"read": bool, "write": bool}
    playnano_python: str | None
    playnano_note: str
    gnu_time: str | None
    afmio_cli: list[str]
    samples: Path | None
    afmio_version: str
    notes: list[str] = field(default_factory=list)

    def can(self, fmt: str, mode: str) -> bool:
        return self.drivers.get(fmt, {}).get(mode, False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "python_version": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "afmio_version": self.afmio_version,
            "drivers": self.drivers,
            "playnano_python": self.playnano_python,
            "playnano_note": self.playnano_note,
            "peak_rss_tool": self.gnu_time or "os.wait4 rusage",
            "samples": str(self.samples) if self.samples else None,
            "notes": self.notes,
        }


def afmio_drivers() -> dict[str, dict[str, bool]]:
    """Which formats the installed afmio can read and write (by driver name or alias)."""
    import warnings

    import afmio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugins that are not written yet are reported elsewhere
        infos = afmio.registry.formats()
    by_name: dict[str, Any] = {}
    for info in infos:
        for name in (info.name, *info.aliases):
            by_name.setdefault(name.lower(), info)
    found: dict[str, dict[str, bool]] = {}
    for key, names in DRIVER_NAMES.items():
        info = next((by_name[n] for n in names if n in by_name), None)
        found[key] = {"read": bool(info and info.read), "write": bool(info and info.write)}
    return found


def has_playnano(python: str) -> bool:
    """True when ``python`` can import playNano 0.5.0's io package."""
    code = "import importlib.metadata as m, playnano.io.loader; print(m.version('playnano'))"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "0.5.0"


def setup_playnano_venv(venv: Path = DEFAULT_PN_VENV) -> str:
    """Create ``venv`` with playNano 0.5.0 (once) and return its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not has_playnano(str(python)):
        subprocess.run([str(python), "-m", "pip", "install", "-q", PLAYNANO_REQUIREMENT], check=True)
    return str(python)


def find_playnano(explicit: str | None, disabled: bool) -> tuple[str | None, str]:
    """Choose the interpreter for the playNano cases; the note says which and why."""
    if disabled:
        return None, "playNano cases disabled (--no-playnano)"
    if explicit:
        if has_playnano(explicit):
            return explicit, f"playNano 0.5.0 from {explicit}"
        return None, f"--playnano-python {explicit} cannot import playnano 0.5.0: afmio-only figures"
    if has_playnano(sys.executable):
        return sys.executable, "playNano 0.5.0 installed in the benchmark's own environment"
    default = DEFAULT_PN_VENV / "bin" / "python"
    if default.exists() and has_playnano(str(default)):
        return str(default), f"playNano 0.5.0 from the separate venv {DEFAULT_PN_VENV}"
    return None, (
        "playNano 0.5.0 not available (not installed here, no --playnano-python, no "
        f"{DEFAULT_PN_VENV}; try --setup-playnano): afmio-only figures"
    )


def find_samples() -> Path | None:
    env = os.environ.get("AFMIO_SAMPLES")
    for cand in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "samples"]:
        if cand.is_dir():
            return cand
    return None


def afmio_cli() -> list[str]:
    """The ``afmio`` console script beside this interpreter, else ``python -m afmio``."""
    script = Path(sys.executable).with_name("afmio")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "afmio"]


def detect(playnano_python: str | None, no_playnano: bool) -> Environment:
    import afmio

    pn, note = find_playnano(playnano_python, no_playnano)
    gnu = shutil.which("time", path="/usr/bin:/bin")
    env = Environment(
        python=sys.executable,
        drivers=afmio_drivers(),
        playnano_python=pn,
        playnano_note=note,
        gnu_time=gnu if gnu and _is_gnu_time(gnu) else None,
        afmio_cli=afmio_cli(),
        samples=find_samples(),
        afmio_version=afmio.__version__,
    )
    if env.gnu_time is None:
        env.notes.append("GNU time not found: child peak RSS from os.wait4's rusage instead")
    return env


def _is_gnu_time(path: str) -> bool:
    try:
        out = subprocess.run([path, "-f", "%M", "true"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stderr.strip().isdigit()


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free
