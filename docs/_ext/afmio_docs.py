"""Sphinx directives that build pages from afmio itself, so the docs cannot drift.

``.. afmio-formats::``
    The formats table, from ``afmio.registry.formats()`` at build time.
``.. afmio-cli::``
    The help text of ``afmio`` and of every sub-command, from the real parser.
``.. afmio-drivers::``
    One section per built-in driver module, holding its module docstring
    (a driver's user documentation).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _registry() -> Any:
    import afmio

    with warnings.catch_warnings():  # a broken plugin is listed in the table, not a build warning
        warnings.simplefilter("ignore")
        afmio.registry.formats()
    return afmio.registry


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "—"


class FormatsDirective(SphinxDirective):
    """Render ``registry.formats()`` as a list-table."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        reg = _registry()
        rows = [("Name", "Aliases", "Extensions", "Kind", "Read", "Write", "Lazy", "Description")]
        for info in reg.formats():
            rows.append((
                f"``{info.name}``",
                ", ".join(f"``{a}``" for a in info.aliases),
                " ".join(f"``{e}``" for e in info.extensions),
                info.kind,
                "yes" if info.read else "",
                "yes" if info.write else "",
                "yes" if info.lazy else "",
                info.description,
            ))
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 10 10 14 6 5 5 5 45", ""]
        for row in rows:
            lines.append(f"   * - {_cell(row[0])}")
            lines.extend(f"     - {_cell(cell)}" for cell in row[1:])
        problems = reg.problems()
        if problems:
            lines += ["", "Plugins set aside when these pages were built:", ""]
            lines += [f"* ``{p}``" for p in problems]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="afmio-formats"), self.content_offset, container)
        return container.children


class CliDirective(SphinxDirective):
    """One literal block per command: exactly what ``--help`` prints."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from afmio.cli import build_parser

        os.environ["COLUMNS"] = "100"  # stable wrapping, whatever the build terminal
        parser = build_parser()
        out: list[nodes.Node] = [nodes.literal_block(text=parser.format_help().rstrip(), language="text")]
        sub_action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsers")
        for name, sub in sub_action.choices.items():
            section = nodes.section(ids=[f"afmio-{name}"], names=[f"afmio {name}"])
            section += nodes.title(text=f"afmio {name}")
            section += nodes.literal_block(text=sub.format_help().rstrip(), language="text")
            out.append(section)
        return out


class DriversDirective(SphinxDirective):
    """``automodule`` for every module that provides a built-in driver."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        reg = _registry()
        modules: dict[str, list[str]] = {}
        for driver in reg.drivers():
            if driver.distribution not in (None, "afmio"):
                continue
            ref = driver.spec.read or driver.spec.write or ""
            modules.setdefault(ref.partition(":")[0], []).append(driver.name)
        lines: list[str] = []
        for module, names in sorted(modules.items()):
            title = ", ".join(names)
            lines += [title, "-" * len(title), "", f".. automodule:: {module}", "   :no-members:", ""]
        container = nodes.section()
        nested_parse_with_titles(self.state, StringList(lines, source="afmio-drivers"), container)
        return container.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("afmio-formats", FormatsDirective)
    app.add_directive("afmio-cli", CliDirective)
    app.add_directive("afmio-drivers", DriversDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
