"""Built-in driver modules stay cheap to import; their functions load on first use.

``afmio.registry.formats()`` imports every driver module for its ``afmio_drivers()``
declaration, so each module keeps only that at its top and forwards everything else
to a private implementation module.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import afmio

DRIVER_MODULES = ("npz", "hdf5", "ome_tiff", "asd", "jpk", "h5jpk", "spm", "gif", "media", "ome_zarr")

# stdlib and afmio modules the drivers use only when reading or writing
HEAVY = (
    "zipfile",
    "xml.etree.ElementTree",
    "concurrent.futures",
    "fractions",
    "pickletools",
    "json",
    "afmio.render",
    "afmio.channels",
)


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_formats_imports_no_driver_implementation():
    loaded = _modules_after("import afmio; afmio.registry.formats()")
    private = sorted(m for m in loaded if m.startswith("afmio_builtins._"))
    assert private == []
    assert [m for m in HEAVY if m in loaded] == []
    # the declarations themselves were imported
    assert {f"afmio_builtins.{m}" for m in DRIVER_MODULES} <= loaded


@pytest.mark.parametrize("module", ["spm", "asd", "npz"])
def test_declaration_module_does_not_import_its_implementation(module):
    loaded = _modules_after(f"import afmio_builtins.{module}")
    assert f"afmio_builtins._{module}_impl" not in loaded


def test_declared_functions_resolve_with_their_real_signatures():
    for driver in afmio.registry.drivers():
        if not driver.spec.read or not driver.spec.read.startswith("afmio_builtins."):
            continue
        read = driver.function("read")
        module, _, attr = driver.spec.read.partition(":")
        impl = importlib.import_module(f"afmio_builtins._{module.rsplit('.', 1)[1]}_impl")
        assert read is getattr(impl, attr)
        # the registry validates options against this signature: it must be the real one
        assert ("lazy" in inspect.signature(read).parameters) is driver.spec.lazy


def test_public_names_forward_and_unknown_names_fail_clearly():
    for name in DRIVER_MODULES:
        module = importlib.import_module(f"afmio_builtins.{name}")
        for attr in module.__all__:
            assert callable(getattr(module, attr)) or attr == "MEMBER_PATTERNS"
        with pytest.raises(AttributeError, match=f"afmio_builtins.{name}' has no attribute 'no_such_name'"):
            module.no_such_name  # noqa: B018
    from afmio_builtins.asd import BLOCK_BYTES
    from afmio_builtins.spm import MEMBER_PATTERNS, read

    assert BLOCK_BYTES > 0 and "*.spm" in MEMBER_PATTERNS and callable(read)
