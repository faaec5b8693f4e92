"""afmio's built-in format drivers, one module per format.

Each module implements the ``afmio_drivers`` hook and is registered under the
``afmio.drivers`` entry-point group in afmio's own ``pyproject.toml``, exactly as a
third-party plugin is. A driver module holds its docstring (the user documentation) and
its declaration only; its code lives in ``_<name>_impl.py``, imported the first time any
other attribute is looked up, and heavy libraries (h5py, tifffile, Pillow, matplotlib)
are imported inside the functions that need them. So listing formats stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["forward_to"]


def forward_to(implementation: str, public: str) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that fetches names from ``implementation``.

    Use as ``__getattr__ = forward_to("afmio_builtins._asd_impl", __name__)``.
    """

    def __getattr__(name: str) -> Any:
        # Dunder look-ups (pluggy and importlib probe them) must not load the implementation.
        if name.startswith("__"):
            raise AttributeError(f"module {public!r} has no attribute {name!r}")
        module = importlib.import_module(implementation)
        try:
            return getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {public!r} has no attribute {name!r}") from None

    return __getattr__
