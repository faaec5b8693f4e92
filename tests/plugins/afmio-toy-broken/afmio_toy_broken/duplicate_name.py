"""Reuses the built-in driver name "npz" (an override must declare a new name instead)."""

from afmio import DriverSpec, hookimpl


@hookimpl
def afmio_drivers():
    return [DriverSpec(name="npz", extensions=(".npz",), read="afmio_toy_broken.duplicate_name:read", priority=99)]


def read(path, *, channel=None):
    raise AssertionError("never called")
