"""Plugins that are broken on purpose (see pyproject.toml)."""
