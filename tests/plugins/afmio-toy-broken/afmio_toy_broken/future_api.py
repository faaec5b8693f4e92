"""Written for a contract version this afmio does not implement."""

from afmio import DriverSpec, hookimpl


@hookimpl
def afmio_drivers():
    return [DriverSpec(name="future", extensions=(".future",), read="afmio_toy_broken.future_api:read",
                       api_version=2)]


def read(path, *, channel=None):
    raise AssertionError("never called")
