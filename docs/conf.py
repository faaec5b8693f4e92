"""Sphinx configuration for the afmio documentation (``nox -s docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
import afmio  # noqa: E402
import afmio.progress  # noqa: E402

afmio.progress.set_enabled(False)  # the CLI reference is generated in-process: no bars in the build

project = "afmio"
author = "afmio developers"
copyright = "afmio developers"
release = afmio.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "afmio_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# examples/ holds example plugin distributions (code with their own READMEs), not pages.
exclude_patterns = ["_build", "examples", "README-proposal.md", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}

html_theme = "alabaster"
html_title = f"afmio {release}"
html_static_path = ["_static"]
html_css_files = ["afmio.css"]  # code blocks and wide tables scroll instead of being clipped
