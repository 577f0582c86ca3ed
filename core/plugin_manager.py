"""Discovery and loading of plugins (pluggy + package entry points).

Every plugin, built-in or third-party, is found through the ``micrographia.plugins``
entry-point group, registered with a :class:`pluggy.PluginManager`, and asked to register its
operations. A plugin that fails to import or register is disabled and reported; the others load.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Operation, Registry

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginRegistrar", "PluginHost", "get_host",
           "reset"]

ENTRY_POINT_GROUP = "micrographia.plugins"


@dataclasses.dataclass
class PluginInfo:
    """What happened to one plugin.

    Parameters
    ----------
    name : str
        Entry-point (or given) name.
    module : str
        Import path.
    distribution : str
        Package that declared it ("" when registered in code).
    version : str
        That package's version.
    loaded : bool
        True when import and registration succeeded.
    error : str
        One-line reason when it failed.
    details : str
        Full traceback when it failed.
    operations : list of str
        Ids it registered.
    """

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    loaded: bool = False
    error: str = ""
    details: str = ""
    operations: list[str] = dataclasses.field(default_factory=list)


class PluginRegistrar:
    """What a plugin's ``micrographia_register`` hook receives: adds operations for one plugin.

    Parameters
    ----------
    registry : Registry
        The shared registry.
    plugin : str
        Name of the plugin being registered.
    """

    def __init__(self, registry: Registry, plugin: str):
        self._registry = registry
        self._plugin = plugin
        self.added: list[str] = []

    def add(self, func: Callable[..., Any], *, id: str, title: str | None = None,
            menu: str = "", cheap: bool = False, gpu: bool = False,
            kinds: tuple[str, ...] | list[str] = (), dtypes: str = "") -> Operation:
        """Register an operation (see :meth:`micrographia.registry.Registry.add`).

        Parameters
        ----------
        func : callable
            The operation function.
        id : str
            Stable id ``group.name``.
        title : str, optional
            Menu text.
        menu : str
            Menu path.
        cheap : bool
            Fast enough for a live preview.
        gpu : bool
            The function accepts cupy arrays.
        kinds : sequence of str
            Accepted kinds of the first input (e.g. ``("signal2d",)``); empty accepts any.
        dtypes : str
            Accepted dtype kind characters of the first input (e.g. ``"b"`` for masks).

        Returns
        -------
        Operation
            The registered operation.
        """
        op = self._registry.add(func, id=id, title=title, menu=menu, cheap=cheap, gpu=gpu,
                                plugin=self._plugin, kinds=kinds, dtypes=dtypes)
        self.added.append(op.id)
        return op


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class PluginHost:
    """Owns the pluggy manager, the registry and the per-plugin report."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and register every plugin declared under ``group``.

        Parameters
        ----------
        group : str
            Entry-point group.
        """
        eps = sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name)
        seen: set[str] = set()
        for ep in eps:
            if ep.name in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(name=ep.name, module=ep.value,
                              distribution=getattr(dist, "name", "") or "",
                              version=getattr(dist, "version", "") or "")
            try:
                plugin = ep.load()
            except BaseException as exc:  # a broken plugin must not break the app
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                info.error = f"import failed: {_one_line(exc)}"
                info.details = traceback.format_exc()
                self.plugins[ep.name] = info
                continue
            self._register(plugin, info)

    def register_plugin(self, plugin: Any, name: str | None = None) -> PluginInfo:
        """Register a plugin object or module given in code (tests, scripts, the app).

        Parameters
        ----------
        plugin : module or object
            Has ``@hookimpl`` functions.
        name : str, optional
            Name; default the module's ``__name__``.

        Returns
        -------
        PluginInfo
            The report for this plugin.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", repr(plugin)))
        return self._register(plugin, info)

    def _register(self, plugin: Any, info: PluginInfo) -> PluginInfo:
        self.plugins[info.name] = info
        try:
            self.pm.register(plugin, name=info.name)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            info.error = f"invalid hooks: {_one_line(exc)}"
            info.details = traceback.format_exc()
            return info
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            info.error = f"unknown hook: {_one_line(exc)}"
            info.details = traceback.format_exc()
            return info
        registrar = PluginRegistrar(self.registry, info.name)
        try:
            for impl in self.pm.hook.micrographia_register.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(registry=registrar)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            for op_id in registrar.added:  # all or nothing
                self.registry.remove(op_id)
            self.pm.unregister(plugin)
            info.error = f"register failed: {_one_line(exc)}"
            info.details = traceback.format_exc()
            return info
        info.loaded = True
        info.operations = list(registrar.added)
        return info

    def failed(self) -> list[PluginInfo]:
        """Return the plugins that failed to load.

        Returns
        -------
        list of PluginInfo
            Failed plugins.
        """
        return [p for p in self.plugins.values() if not p.loaded]

    def report(self) -> Iterable[PluginInfo]:
        """Return every plugin's report, sorted by name.

        Returns
        -------
        iterable of PluginInfo
            Reports.
        """
        return sorted(self.plugins.values(), key=lambda p: p.name)


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """Return the process-wide plugin host, loading entry points on first use.

    Returns
    -------
    PluginHost
        The host.
    """
    global _host
    with _lock:
        if _host is None:
            host = PluginHost()
            host.load_entry_points()
            if not any(p.distribution == "micrographia" for p in host.plugins.values()):
                raise PluginError(
                    "the built-in plugins were not found: Micrographia is not installed "
                    "(run `pip install -e .` in the source folder)")
            _host = host
        return _host


def reset() -> None:
    """Forget the loaded plugins; the next :func:`get_host` discovers them again."""
    global _host
    with _lock:
        _host = None
