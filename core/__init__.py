"""Micrographia: electron-microscopy image and spectrum-image analysis, recorded and replayable.

>>> import micrographia as mg
>>> d = mg.open("grain_boundary.dm4")                 # doctest: +SKIP
>>> g = mg.run("filters.gaussian", d, sigma=1.5)      # doctest: +SKIP
>>> mg.save(g, "smoothed.hspy")                       # doctest: +SKIP

The names re-exported here are the public, versioned API. Heavy modules are imported on first
use, so ``import micrographia`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .dataset import Axis, Dataset, Intensity, Table
from .errors import (
    CancelledError,
    FileReadError,
    FileWriteError,
    MicrographiaError,
    OperationError,
    ParameterError,
    PluginError,
    ReplayError,
    ReplayRefused,
    UnknownFormatError,
    UnknownOperationError,
)
from .hookspecs import hookimpl
from .registry import Range, Step, Units, Widget

_LAZY = {
    "open": "api", "save": "api", "from_array": "api", "run": "api", "operations": "api",
    "operation": "api", "display": "api", "display_settings": "api", "plugin_report": "api",
    "formats": "api",
    "recording": "recorder", "Recorder": "recorder",
    "submit": "tasks", "Task": "tasks", "report_progress": "tasks", "check_cancelled": "tasks",
    "settings": None, "io": None, "replay": None, "backend": None, "provenance": None,
}

__all__ = [
    "__version__", "Axis", "Dataset", "Intensity", "Table", "Range", "Step", "Units", "Widget",
    "hookimpl", "MicrographiaError", "FileReadError", "FileWriteError", "UnknownFormatError",
    "OperationError", "ParameterError", "UnknownOperationError", "CancelledError",
    "ReplayError", "ReplayRefused", "PluginError", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = _LAZY[name]
        if mod is None:
            return importlib.import_module(f".{name}", __name__)
        value = getattr(importlib.import_module(f".{mod}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'micrographia' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
