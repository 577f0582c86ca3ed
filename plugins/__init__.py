"""Micrographia's built-in plugins.

Each module here is a plugin registered through the ``micrographia.plugins`` entry-point group,
exactly like a third-party plugin: it defines operation functions and a ``micrographia_register``
hook that adds them to the registry.
"""
