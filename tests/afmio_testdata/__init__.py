"""Test-only helpers: writers that build format files byte by byte, and sample lookup.

Importable from tests as ``afmio_testdata`` (``pythonpath = ["tests"]`` in pytest's config).
"""
