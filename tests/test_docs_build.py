"""The documentation builds with warnings as errors (what ``nox -s docs`` runs), so CI builds it too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The generated pages hold what the code says, not a stale copy.
    formats = (out / "formats.html").read_text(encoding="utf-8")
    import afmio

    for info in afmio.registry.formats():
        assert f">{info.name}<" in formats
    cli = (out / "cli.html").read_text(encoding="utf-8")
    for command in ("formats", "info", "channels", "convert", "export", "gif", "preview", "demo", "plugins"):
        assert f"afmio {command}" in cli
    assert (out / "architecture.html").is_file() and (out / "plugin-guide.html").is_file()
