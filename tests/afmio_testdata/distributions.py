"""Expose a plugin project as an installed distribution without installing it.

The project's packages are copied into a site folder next to a
``<name>-<version>.dist-info`` holding ``METADATA`` and ``entry_points.txt``
generated from its ``pyproject.toml``; with the folder on ``sys.path`` (or
``PYTHONPATH``), :mod:`importlib.metadata` finds the entry points exactly as for a
pip-installed distribution.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def expose(project: Path, site: Path) -> tuple[str, str]:
    """Make ``project`` (a folder with ``pyproject.toml``) importable and discoverable from ``site``.

    Returns
    -------
    (str, str)
        The distribution's name and version.
    """
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = meta["name"], meta["version"]
    site.mkdir(parents=True, exist_ok=True)
    for package in project.iterdir():
        if (package / "__init__.py").is_file():
            shutil.copytree(package, site / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    dist_info = site / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in meta.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in entries.items())
        lines.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    return name, version
