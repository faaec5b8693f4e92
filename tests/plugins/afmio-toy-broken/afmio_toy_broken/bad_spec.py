"""Declares an invalid driver: upper-case extension, no reader and no writer."""

from afmio import DriverSpec, hookimpl


@hookimpl
def afmio_drivers():
    return [DriverSpec(name="bad-spec", extensions=("TIF",))]
