"""``afmio plugins``: which plugins provide which drivers, and what was set aside."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import EXIT_ERROR, registry

__all__ = ["register"]


def cmd_plugins(args: argparse.Namespace) -> int:
    reg = registry()
    by_plugin: dict[str, list[Any]] = {}
    for driver in reg.drivers():
        by_plugin.setdefault(driver.plugin, []).append(driver)
    if not args.json:
        for plugin, drivers in sorted(by_plugin.items()):
            first = drivers[0]
            dist = f"{first.distribution} {first.version or ''}".strip() if first.distribution else "(not installed)"
            names = ", ".join(d.name for d in drivers)
            print(f"{plugin:<12} {dist:<16} {names}")
    problems = [str(p) for p in reg.problems()]
    if args.check:
        # Import every declared function: a typo in a "module:function" string shows up now,
        # not when a user first opens such a file.
        for driver in reg.drivers():
            problems.extend(f"{driver.plugin}: {exc}" for exc in driver.import_problems())
    if args.json:
        listing = [
            {"plugin": plugin, "distribution": drivers[0].distribution, "version": drivers[0].version,
             "drivers": [d.name for d in drivers]}
            for plugin, drivers in sorted(by_plugin.items())
        ]
        print(json.dumps({"plugins": listing, "problems": problems}, indent=2))
        return EXIT_ERROR if args.check and problems else 0
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if args.check:
        n = len(reg.drivers())
        print(f"{n} driver(s) in {len(by_plugin)} plugin(s); {len(problems)} problem(s)")
        return EXIT_ERROR if problems else 0
    return 0


def register(sub: Any) -> None:
    """Add ``plugins`` to the sub-command parser ``sub``."""
    p = sub.add_parser(
        "plugins",
        help="list plugins and their drivers; --check fails on any problem",
        description="List the plugins found through the 'afmio.drivers' entry points and the drivers each "
                    "declares. --check also imports every declared function and exits 1 on any problem.",
    )
    p.add_argument("--check", action="store_true", help="import every driver function; exit 1 on problems")
    p.add_argument("--json", action="store_true", help="machine-readable output (plugins, drivers, problems)")
    p.set_defaults(func=cmd_plugins)
