"""Run cases in fresh processes, interleaved round-robin, and collect every measurement.

Each run is one new interpreter: ``child.py`` with the case's JSON spec, or the
case's own command line (CLI cases). The child's peak resident memory comes from
GNU ``time -f %M`` when it is installed, otherwise from ``os.wait4``'s rusage. The
wall time of the whole process is measured here. Inputs are read once before every
round so all loads are served from the page cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benv import CHILD, Environment
from child import RESULT_MARK


@dataclass
class Case:
    """One thing to measure, repeated in fresh processes.

    ``row`` groups the cases that belong in one report line (afmio, playNano and
    the raw limits for the same bytes); ``role`` is the column.
    """

    key: str
    row: str
    role: str
    env: str  # "afmio" or "playnano": which interpreter runs it
    spec: dict[str, Any] | None = None
    argv: list[str] | None = None
    repeats: int = 3
    warm: tuple[Path, ...] = ()
    timeout: float = 1800.0
    runs: list[dict[str, Any]] = field(default_factory=list)


def _warm(paths: Iterable[Path]) -> None:
    """Read files once so the timed call finds them in the page cache."""
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                with open(f, "rb", buffering=0) as fh:
                    while fh.read(1 << 24):
                        pass
            except OSError:
                pass


def command(case: Case, env: Environment) -> list[str]:
    if case.argv is not None:
        return list(case.argv)
    python = env.python if case.env == "afmio" else env.playnano_python
    assert python is not None
    return [python, str(CHILD), json.dumps(case.spec)]


def run_once(case: Case, env: Environment) -> dict[str, Any]:
    """One fresh process; returns the child's figures plus wall time and peak RSS."""
    cmd = command(case, env)
    # Bytecode caching stays on, as for any user: numpy's installed modules have their
    # .pyc files, and afmio's (an editable install) get theirs on the first run.
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="afmio-bench-run-") as tmp:
        time_file = Path(tmp) / "time"
        if env.gnu_time:
            cmd = [env.gnu_time, "-f", "%M", "-o", str(time_file), *cmd]
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env)
            timer = threading.Timer(case.timeout, proc.kill)
            timer.start()
            try:
                # wait4 gives this child's own rusage (the fallback for peak RSS).
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace").strip()
        peak = _read_time_file(time_file) if env.gnu_time else None
    if peak is None:
        peak = usage.ru_maxrss / 1024  # Linux: KiB
    result: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
    if case.argv is not None:
        result = {"ok": proc.returncode == 0}
        if proc.returncode:
            result["error"] = stderr[-500:] or f"exit {proc.returncode}"
    elif not result:
        result = {"ok": False, "error": stderr[-500:] or f"no result (exit {proc.returncode})"}
    if wall >= case.timeout:
        result = {"ok": False, "error": f"timed out after {case.timeout:.0f} s"}
    result["wall_s"] = wall
    result["peak_rss_mb"] = peak
    return result


def _read_time_file(path: str) -> float | None:
    try:
        text = Path(path).read_text().strip().splitlines()
    except OSError:
        return None
    for line in reversed(text):
        if line.strip().isdigit():
            return int(line.strip()) / 1024
    return None


def run_all(cases: list[Case], env: Environment, log: Callable[[str], None] = print) -> None:
    """Run every case ``case.repeats`` times, round-robin across cases."""
    rounds = max((c.repeats for c in cases), default=0)
    total = sum(c.repeats for c in cases)
    done = 0
    started = time.perf_counter()
    for r in range(rounds):
        for case in cases:
            if r >= case.repeats:
                continue
            _warm(case.warm)
            res = run_once(case, env)
            case.runs.append(res)
            done += 1
            t = res.get("t_call_s")
            figure = f"{t * 1000:9.1f} ms" if t is not None else f"{res['wall_s'] * 1000:9.1f} ms wall"
            status = figure if res.get("ok") else "FAILED " + str(res.get("error", ""))[:120]
            log(f"[{done:4d}/{total}] {time.perf_counter() - started:6.0f}s  round {r + 1}  {case.key:<58} {status}")


def run_single(case: Case, env: Environment) -> dict[str, Any]:
    """Run a case once outside the timed rounds (input generation)."""
    _warm(case.warm)
    return run_once(case, env)


def eprint(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
