"""Listing formats imports only the built-ins' table; a format's module loads on first use.

``afmio.registry.formats()`` imports :mod:`afmio_builtins.catalog` (one table of
declarations) and nothing else of the built-ins, so no driver implementation, no heavy
library and no picture code is imported to list formats.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import afmio

# stdlib, third-party and afmio modules the drivers use only when reading or writing
HEAVY = (
    "h5py",
    "tifffile",
    "PIL",
    "matplotlib",
    "zipfile",
    "xml.etree.ElementTree",
    "concurrent.futures",
    "fractions",
    "pickletools",
    "json",
    "afmio.channels",
)


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_formats_imports_only_the_catalog():
    loaded = _modules_after("import afmio; afmio.registry.formats()")
    builtins = sorted(m for m in loaded if m.startswith("afmio_builtins"))
    assert builtins == ["afmio_builtins", "afmio_builtins.catalog"]
    assert [m for m in HEAVY if m in loaded] == []


def test_every_builtin_function_is_a_real_attribute_of_its_format_module():
    for driver in afmio.registry.drivers():
        if driver.distribution != "afmio":
            continue
        for role in ("read", "write", "probe", "channels", "sniff"):
            ref = getattr(driver.spec, role)
            if ref is None:
                continue
            module_name, _, attr = ref.partition(":")
            module = importlib.import_module(module_name)
            assert driver.function(role) is getattr(module, attr)
            assert module.__doc__, f"{module_name} has no user documentation"
        if driver.spec.read:
            # the registry validates options against this signature: it must be the real one
            assert ("lazy" in inspect.signature(driver.function("read")).parameters) is driver.spec.lazy


def test_format_modules_expose_their_code_directly():
    from afmio_builtins import asd, spm

    assert inspect.isfunction(asd.read) and inspect.isfunction(spm.read)
    assert asd.BLOCK_BYTES > 0 and "*.spm" in spm.MEMBER_PATTERNS
