"""afmio benchmarks: speed and memory against the raw-read limit and playNano 0.5.0.

Run ``nox -s bench`` (full) or ``nox -s bench -- --quick`` (under two minutes), or
directly ``python bench/run.py [--quick] [--out DIR]``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benv
import cases
import inputs as inputs_mod
import report
import runner
import summary
import targets
from inputs import Size

FULL_SIZES = [Size(50, 128, 128), Size(500, 256, 256), Size(2000, 256, 256)]
QUICK_SIZES = [Size(50, 128, 128)]
GIB = 1 << 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small inputs, fewer repeats (under 2 minutes)")
    p.add_argument("--out", type=Path, default=benv.BENCH_DIR / "results", help="where the reports go")
    p.add_argument("--workdir", type=Path, help="keep inputs here (reused by later runs); default: a temp dir")
    p.add_argument("--keep", action="store_true", help="do not delete the temporary work folder")
    p.add_argument("--playnano-python", help="interpreter that has playnano==0.5.0 installed")
    p.add_argument("--setup-playnano", action="store_true",
                   help=f"create {benv.DEFAULT_PN_VENV} with playnano==0.5.0 if needed and use it")
    p.add_argument("--no-playnano", action="store_true", help="afmio-only figures")
    p.add_argument("--sizes", help="comma-separated NxHxW synthetic sizes (default by mode)")
    p.add_argument("--big-gib", type=float, help="size of the large ASD (default 2, quick 0.25; 0 = skip)")
    p.add_argument("--repeats", type=int, help="runs per case for every case (overrides the defaults)")
    p.add_argument("--only", help="regular expression: run only the cases whose key matches")
    p.add_argument("--rerender", type=Path, metavar="JSON",
                   help="rebuild the Markdown/JSON report of an earlier run (no measuring)")
    return p.parse_args(argv)


def settings_for(args: argparse.Namespace, sizes: list[Size]) -> cases.Settings:
    if args.quick:
        st = cases.Settings(quick=True, repeats_small=3, repeats_large=3, repeats_playnano_small=1,
                            repeats_playnano_large=1, gif_size=Size(50, 128, 128),
                            gif_array_size=Size(50, 128, 128), interop_loads=False)
    else:
        st = cases.Settings(quick=False, repeats_small=5, repeats_large=3, repeats_playnano_small=5,
                            repeats_playnano_large=3, gif_size=Size(100, 256, 256), gif_array_size=Size(500, 256, 256))
    labels = {s.label for s in sizes}
    if st.gif_array_size.label not in labels:  # GIF from the largest stack that is there
        src = max(sizes, key=lambda s: s.nbytes)
        st.gif_array_size = src
        st.gif_size = Size(min(src.n, st.gif_size.n), src.h, src.w)
    if args.repeats:
        st.repeats_small = st.repeats_large = args.repeats
        st.repeats_playnano_small = st.repeats_playnano_large = args.repeats
    return st


def parse_sizes(text: str) -> list[Size]:
    out = []
    for part in text.split(","):
        n, h, w = (int(x) for x in part.strip().lower().split("x"))
        out.append(Size(n, h, w))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = runner.eprint
    if args.rerender:
        md_path, json_path = report.rerender(args.rerender, args.out)
        print(md_path.read_text(encoding="utf-8"))
        log(f"wrote {md_path} and {json_path}")
        return 0
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.perf_counter()

    pn_python = args.playnano_python
    if args.setup_playnano and not args.no_playnano:
        log(f"setting up {benv.DEFAULT_PN_VENV} with {benv.PLAYNANO_REQUIREMENT}")
        pn_python = benv.setup_playnano_venv()
    env = benv.detect(pn_python, args.no_playnano)
    log(f"afmio {env.afmio_version}; {env.playnano_note}")
    missing = [k for k, v in env.drivers.items() if not v["read"] and not v["write"]]
    if missing:
        env.notes.append("afmio drivers not available: " + ", ".join(missing))

    sizes = parse_sizes(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    st = settings_for(args, sizes)
    big_gib = args.big_gib if args.big_gib is not None else (0.25 if args.quick else 2.0)

    temp = None
    if args.workdir:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        temp = tempfile.mkdtemp(prefix="afmio-bench-")
        workdir = Path(temp)
    log(f"work folder {workdir}")

    def playnano_save(kind: str, array: Path, out: Path) -> None:
        case = runner.Case(f"gen playnano {out.name}", "", "gen", "playnano",
                           {"op": "playnano_save", "kind": kind, "array": str(array), "out": str(out),
                            "cleanup": False})
        res = runner.run_single(case, env)
        if not res.get("ok"):
            log(f"playNano could not write {out.name}: {res.get('error')}")

    try:
        inputs = inputs_mod.prepare(
            env, workdir, sizes, big_bytes=int(big_gib * GIB), enlarged_samples=not args.quick,
            run_playnano_save=playnano_save if env.playnano_python else None, log=log,
        )
        plan = cases.build(env, inputs, sizes, st)
        if args.only:
            pattern = re.compile(args.only)
            keep = {k for k in plan.cases if pattern.search(k)}
            plan.cases = {k: c for k, c in plan.cases.items() if k in keep}
            plan.rows = {k: r for k, r in plan.rows.items()
                         if any(v in keep for v in r.roles.values())}
        log(f"{len(plan.cases)} cases, {sum(c.repeats for c in plan.cases.values())} runs "
            f"(inputs ready after {time.perf_counter() - t0:.0f} s)")
        runner.run_all(list(plan.cases.values()), env, log)
        res = summary.Results(plan)
        checked = targets.evaluate(res, args.quick)
        meta = {
            "mode": "quick" if args.quick else "full",
            "started": started,
            "elapsed_s": time.perf_counter() - t0,
            "python_version": platform.python_version(),
            "cpus": os.cpu_count(),
            "sizes": [s.label for s in sizes],
            "big_asd": str(inputs.big_asd.name) if inputs.big_asd else None,
            "big_asd_bytes": inputs.big_asd.stat().st_size if inputs.big_asd else None,
            "argv": sys.argv[1:] if argv is None else argv,
        }
        md_path, json_path = report.write(args.out, res, checked, env, inputs, meta)
    finally:
        if temp and not args.keep:
            shutil.rmtree(temp, ignore_errors=True)
    print(md_path.read_text(encoding="utf-8"))
    log(f"wrote {md_path} and {json_path} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
