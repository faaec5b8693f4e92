"""Fails at import, like a plugin whose dependency is not installed."""

import afmio_toy_broken_missing_dependency  # noqa: F401
