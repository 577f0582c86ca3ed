"""Core and plugins never need Qt (ARCHITECTURE rule 1)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "pyqtgraph", "qtpy")


@pytest.mark.parametrize("folder", ["core", "plugins"])
def test_no_qt_imports_outside_app(folder):
    offenders = []
    for f in sorted((REPO / folder).rglob("*.py")):
        if "app" in f.relative_to(REPO).parts[1:2]:
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in QT:
                    offenders.append(f"{f.relative_to(REPO)}:{node.lineno} imports {n}")
    assert not offenders, "\n".join(offenders)


def test_core_and_plugins_work_with_qt_unimportable(tmp_path):
    """Import every core/plugin module and run a workflow with Qt bindings blocked."""
    script = f"""
import importlib.abc, sys, pkgutil, importlib
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {QT!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import numpy as np
import micrographia as mg, micrographia.plugins
mods = [m.name for m in pkgutil.walk_packages(mg.__path__, "micrographia.")
        if not m.name.startswith("micrographia.app")]
for m in mods:
    importlib.import_module(m)
d = mg.from_array(np.random.default_rng(0).random((3, 32, 32)), scale=0.1, units="nm")
for op in mg.operations():
    pass
g = mg.run("filters.gaussian", d, sigma=1.0)
mg.save(g, {str(tmp_path / "g.hspy")!r})
print("OK", len(mods), len(mg.operations()))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK")
