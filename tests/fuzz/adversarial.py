"""The adversarial run of issues 20/22: damaged inputs, each under a 2 GiB cap and a 10 s limit.

``nox -s fuzz -- adversarial --cases 2000`` (or ``python tests/fuzz/adversarial.py``)
builds random mutations of every corpus seed (byte flips, truncations, extreme header
fields) plus the targeted "tiny file declaring huge content" classes, runs probe,
channels, load and a lazy frame read on each in a subprocess under an address-space
cap, and prints the figures: cases, clean, afmio errors, non-afmio, hangs, oversized
allocations (a case whose peak RSS grew by more than 512 MiB). Exit status 1 when any
failure count is not 0; the offending inputs are kept and listed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from afmio_testdata import mutations  # noqa: E402
from afmio_testdata.adversarial import BUILDERS, run_capped  # noqa: E402
from afmio_testdata.corpus import SEEDS, place  # noqa: E402

OVERSIZED = 512 << 20


def _mutate(data: bytes, seed_obj: object, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.45:
        return mutations.random_flips(data, rng.randrange(2**32), count=rng.choice((1, 2, 4, 8, 32)))
    if choice < 0.7:
        return mutations.truncate(data, rng.choice(mutations.boundaries(len(data), seed_obj.structural)))
    fields = getattr(seed_obj, "int_fields", []) or list(range(0, max(4, min(len(data), 512) - 4), 4))
    endian = getattr(seed_obj, "endian", "<")
    fmt = endian + rng.choice(("i", "I", "H", "h"))
    value = rng.choice(mutations.EXTREME_INTS)
    if fmt[-1] in "IH":
        value = abs(value) % (2**32 if fmt[-1] == "I" else 2**16)
    elif fmt[-1] == "h":
        value = max(-(2**15), min(2**15 - 1, value))
    return mutations.set_field(data, rng.choice(fields), fmt, value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600, help="random mutations in all")
    parser.add_argument("--batch", type=int, default=40, help="cases per capped subprocess")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cap-gib", type=float, default=2.0)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed if args.seed is not None else random.randrange(2**32))
    work = Path(tempfile.mkdtemp(prefix="afmio-adversarial-"))
    seeds = {name: make() for name, make in SEEDS.items()}
    cases: list[tuple[str, Path]] = []
    for k in range(args.cases):
        name = rng.choice(sorted(seeds))
        seed_obj = seeds[name]
        cases.append((f"{name}#{k}", place(seed_obj, _mutate(seed_obj.data, seed_obj, rng), work / f"c{k}")))
    for name, build in BUILDERS.items():
        folder = work / f"t-{name}"
        folder.mkdir()
        cases.append((f"targeted:{name}", build(folder)))
    started = time.monotonic()
    counts = dict(cases=0, clean=0, afmio_errors=0, non_afmio=0, hangs=0, oversized=0, crashes=0)
    bad: list[str] = []
    for start in range(0, len(cases), args.batch):
        batch = cases[start : start + args.batch]
        results = run_capped([p for _, p in batch], cap=int(args.cap_gib * (1 << 30)), seconds=args.seconds)
        previous_peak = 0
        for (label, _path), result in zip(batch, results):
            counts["cases"] += 1
            if "crash" in result:
                counts["crashes"] += 1
                bad.append(f"{label}: crash {str(result['crash'])[-300:]}")
                continue
            outcomes = result["results"]
            peak = int(result.get("peak_rss", 0))
            if peak - previous_peak > OVERSIZED and previous_peak:
                counts["oversized"] += 1
                bad.append(f"{label}: peak RSS grew to {peak >> 20} MiB")
            previous_peak = max(previous_peak, peak)
            if "hang" in outcomes:
                counts["hangs"] += 1
                bad.append(f"{label}: ran past {args.seconds} s")
                continue
            others = [f"{k}: {v}" for k, v in outcomes.items() if v.startswith("other:")]
            if others:
                counts["non_afmio"] += 1
                bad.append(f"{label}: {others[0][:300]}")
            elif all(v == "ok" for v in outcomes.values()):
                counts["clean"] += 1
            else:
                counts["afmio_errors"] += 1
    elapsed = time.monotonic() - started
    print(" ".join(f"{k}={v}" for k, v in counts.items()), f"({elapsed:.0f} s)")
    for line in bad:
        print("  ", line)
    failed = counts["non_afmio"] + counts["hangs"] + counts["oversized"] + counts["crashes"]
    if failed:
        print(f"inputs kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
