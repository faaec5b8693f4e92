"""The plugin guide shows the example plugin's code inline, identical to its files.

Every code block of ``docs/plugin-guide.md`` that shows the example's code is preceded
by ``<!-- example: MARKER -->``; MARKER names a file of ``docs/examples/afmio-gsf``
(the whole file), a top-level function or class of a Python file (``path::name``),
the last lines of a file (``path::tail:N``) or a TOML table (``path::[table]``). The
test fails when a block and the file drift apart, and when a Python or TOML block has
no marker (it could not be checked).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-guide.md"
EXAMPLE = ROOT / "docs" / "examples" / "afmio-gsf"

_BLOCK = re.compile(r"(?:<!-- example: (?P<marker>.+?) -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)


def example_text(marker: str) -> str:
    """The text of the example that ``marker`` names (see the module docstring)."""
    path, _, part = marker.partition("::")
    source = (EXAMPLE / path).read_text().rstrip("\n")
    if not part:
        return source
    lines = source.splitlines()
    if part.startswith("tail:"):
        return "\n".join(lines[-int(part[5:]):])
    if part.startswith("["):
        start = lines.index(part)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        return "\n".join(lines[start:end]).rstrip("\n").rstrip()
    for node in ast.parse(source).body:
        if getattr(node, "name", None) == part:
            first = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
            return "\n".join(lines[first - 1 : node.end_lineno])
    raise KeyError(f"{path} has no top-level {part!r}")


def guide_blocks() -> list[tuple[str | None, str, str]]:
    return [(m["marker"], m["lang"], m["body"]) for m in _BLOCK.finditer(GUIDE.read_text())]


def test_the_guide_shows_code():
    blocks = guide_blocks()
    assert sum(1 for marker, _, _ in blocks if marker) >= 6


@pytest.mark.parametrize("marker", [b[0] for b in guide_blocks() if b[0]])
def test_each_example_block_is_identical_to_the_example_file(marker):
    (body,) = [b for m, _, b in guide_blocks() if m == marker]
    assert body == example_text(marker), f"docs/plugin-guide.md block {marker!r} differs from the example"


def test_no_unchecked_code_block():
    unchecked = [body.splitlines()[0] for marker, lang, body in guide_blocks()
                 if lang in ("python", "toml") and not marker]
    assert unchecked == [], "code blocks without an <!-- example: ... --> marker"
