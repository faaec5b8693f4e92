"""Test kit for afmio driver authors: isolated registries and conformance checks.

Installed with afmio; pytest loads :mod:`afmio.testing.plugin` automatically (the
``pytest11`` entry point), which provides the ``afmio_registry`` fixture. The
checks are plain functions that raise ``AssertionError`` with a message saying
what is wrong and how to fix it::

    from afmio.testing import Expected, check_declaration, check_claims, check_reader

    def test_declaration():
        check_declaration("afmio-gsf")           # an installed distribution, or a module

    def test_reads_sample(afmio_registry, tmp_path):
        check_reader(afmio_registry, "tests/data/frame.gsf", "gsf",
                     Expected(n_frames=1, frame_shape=(64, 64), z_unit="nm"), tmp_dir=tmp_path)
"""

from __future__ import annotations

from .claims import Collision, check_claims, check_declaration
from .conformance import (
    ROUND_TRIP_PROPERTIES,
    DamageReport,
    Expected,
    check_damaged,
    check_lazy,
    check_load,
    check_probe,
    check_reader,
    check_resolves,
    check_round_trip,
    check_write,
)
from .guards import no_leaked_handles, open_files
from .registries import SpecPlugin, find_entry_points, installed_registry, make_registry

__all__ = [
    "ROUND_TRIP_PROPERTIES",
    "Collision",
    "DamageReport",
    "Expected",
    "SpecPlugin",
    "check_claims",
    "check_damaged",
    "check_declaration",
    "check_lazy",
    "check_load",
    "check_probe",
    "check_reader",
    "check_resolves",
    "check_round_trip",
    "check_write",
    "find_entry_points",
    "installed_registry",
    "make_registry",
    "no_leaked_handles",
    "open_files",
]
