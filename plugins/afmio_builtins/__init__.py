"""afmio's built-in format drivers, one module per format.

Each module implements the ``afmio_drivers`` hook and is registered under the
``afmio.drivers`` entry-point group in afmio's own ``pyproject.toml``, exactly as a
third-party plugin is. Heavy libraries (h5py, tifffile, Pillow, matplotlib) are
imported inside the functions that need them, never at module import.
"""
