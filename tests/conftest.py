"""Shared test fixtures.

Real EM files live in ../shared/data (outside the repository); tests that need them use the
``shared_data`` fixture, which skips with a clear reason when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MICROGRAPHIA_SHARED_DATA", REPO.parent / "shared" / "data"))

if os.environ.get("MICROGRAPHIA_BLOCK_QT") == "1":
    # Prove that core and plugins work with no Qt binding importable (CI runs the suite so).
    import importlib.abc
    import sys

    class _BlockQt(importlib.abc.MetaPathFinder):
        blocked = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "pyqtgraph", "qtpy")

        def find_spec(self, fullname, path=None, target=None):  # noqa: D102
            if fullname.split(".")[0] in self.blocked:
                raise ImportError(f"{fullname} is blocked: Qt must not be needed here")
            return None

    sys.meta_path.insert(0, _BlockQt())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when the real EM files are not available."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip(f"real EM files not available ({SHARED_DATA} is absent)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's settings and session folders."""
    cfg = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("MICROGRAPHIA_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("MICROGRAPHIA_SESSION_DIR", str(cfg / "sessions"))
    monkeypatch.delenv("MICROGRAPHIA_DEVICE", raising=False)
    monkeypatch.delenv("MICROGRAPHIA_LAZY_THRESHOLD", raising=False)
    from micrographia import settings

    settings.reset_cache()
    yield
    settings.reset_cache()
