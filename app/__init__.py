"""The Micrographia desktop app (PySide6 + pyqtgraph), a client of the core library.

``MainWindow`` and ``main`` are imported lazily, so ``import micrographia.app`` costs nothing
until the app is started (and core never needs Qt).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MainWindow", "main"]

def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import main_window

        return getattr(main_window, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
