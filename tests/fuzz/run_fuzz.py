"""A bounded long fuzz run of the binary parsers (``nox -s fuzz -- --minutes 10``).

Runs the hypothesis properties of ``tests/test_robustness.py`` (random byte damage
and truncation of every seed: ASD v0/v1/v2, NanoScope v5/v9 headers, JPK tags,
h5-jpk, bundles) again and again with fresh random seeds and many examples per
round, until the time is up. A failure stops the run and prints hypothesis's
minimal reproducer; turn it into a regression test in the driver's test module.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="wall-clock budget")
    parser.add_argument("--examples", type=int, default=400, help="hypothesis examples per seed and round")
    parser.add_argument("-k", default="random_damage", help="pytest -k expression selecting properties")
    args = parser.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    rounds = executed = 0
    env = {**os.environ, "AFMIO_FUZZ_EXAMPLES": str(args.examples)}
    while time.monotonic() < deadline:
        seed = random.randrange(2**32)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
               str(ROOT / "tests" / "test_robustness.py"), "-k", args.k, f"--hypothesis-seed={seed}", "-x"]
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        rounds += 1
        tail = result.stdout.strip().splitlines()[-1:] or [""]
        n_props = int(tail[0].split()[0]) if tail[0][:1].isdigit() else 0
        executed += n_props * args.examples
        print(f"round {rounds}: seed {seed}, {time.monotonic() - started:.0f} s, {tail[0]}", flush=True)
        if result.returncode != 0:
            print(result.stdout[-20000:])
            print(f"FINDING after {rounds} rounds (~{executed} cases); reproduce with --hypothesis-seed={seed}")
            return 1
    print(f"fuzz: {rounds} rounds, about {executed} damaged inputs executed, no finding")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
