"""Drop-in replacements for other packages' io functions.

:mod:`afmio.compat.playnano` offers playNano 0.5.0's documented ``io`` functions
with the same signatures, so a script switches by changing one import::

    # from playnano.io.loader import load_afm_stack
    from afmio.compat.playnano import load_afm_stack
"""

__all__ = ["playnano"]
