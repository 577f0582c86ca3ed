"""The hooks a Micrographia plugin may implement.

A plugin is a module (or object) with functions decorated by :data:`micrographia.hookimpl`,
published under the ``micrographia.plugins`` entry-point group::

    [project.entry-points."micrographia.plugins"]
    my_plugin = "my_package.micrographia_plugin"

Registration is declarative and cheap: import heavy libraries inside the operation functions.
"""

from __future__ import annotations

import pluggy

PROJECT = "micrographia"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def micrographia_register(registry):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """Register this plugin's operations.

    Call ``registry.add(func, id="group.name", title=..., menu="Process/...")`` once per
    operation. Ids are a public contract: they are written to recorded logs and must never change
    meaning.

    Parameters
    ----------
    registry : micrographia.plugins_manager.PluginRegistrar
        The registrar; its ``add`` has the signature of :meth:`micrographia.registry.Registry.add`
        without ``plugin``.
    """
