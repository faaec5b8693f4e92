"""The hook itself fails when called."""

from afmio import hookimpl


@hookimpl
def afmio_drivers():
    raise RuntimeError("toy hook failure")
