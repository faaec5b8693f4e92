"""afmio-gsf: Gwyddion Simple Field (``.gsf``) frames for afmio.

Installing the distribution is all it takes: afmio finds the driver through the
``afmio.drivers`` entry point, so ``afmio.load("frame.gsf")`` and
``afmio.save(stack, "frames", format="gsf")`` just work.
"""

__version__ = "0.1.0"
