"""Every real EM file of ../shared/data opens in the app through File ▸ Open's code path.

For each file: one window per signal, the view class that fits the signal's axes, and the image
drawn over exactly the calibrated extent (pixel centres at ``offset + i * scale``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6 import QtWidgets

import micrographia as mg
from micrographia.app.views import view_class_for

SHARED = Path(os.environ.get("MICROGRAPHIA_SHARED_DATA",
                             Path(__file__).resolve().parents[3] / "shared" / "data"))
# Companion files that are opened through another file, or are not EM files.
SKIP_SUFFIXES = (".npy", ".hdr", ".ser")


def _files() -> list[str]:
    inventory = SHARED / "inventory.json"
    if not inventory.is_file():
        return ["(shared data absent)"]
    names = [e["file"] for e in json.loads(inventory.read_text())]
    return sorted(n for n in names if not n.endswith(SKIP_SUFFIXES))


@pytest.fixture
def shell(qtbot, monkeypatch, shared_data):
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec",
                        lambda self: pytest.fail(f"error shown: {self.text()}"))
    from micrographia.app import MainWindow

    w = MainWindow(recover=False)
    qtbot.addWidget(w)
    yield w
    for win in w.windows():
        win.close()
    w.close()


def _calibrated_extent(view, ds):
    """(x0, x1, y0, y1) the 2-D image item must cover, from the axes it shows."""
    item = view.image_item
    r = item.mapRectToParent(item.boundingRect()).normalized()
    return r.left(), r.right(), r.top(), r.bottom()


@pytest.mark.parametrize("name", _files())
def test_real_file_opens_in_the_right_windows(shell, qtbot, shared_data, name):
    path = shared_data / name
    expected = mg.open(path)
    expected = expected if isinstance(expected, list) else [expected]
    wins = shell.open(path)
    assert len(wins) == len(expected), name
    for win, ds in zip(wins, expected):
        view = win.view
        assert type(view) is view_class_for(ds), f"{name}: {ds.kind} shown by {type(view)}"
        assert view.dataset.shape == ds.shape and view.dataset.axes == ds.axes
        frame = view.current_frame()
        assert frame.ndim in (1, 2) and frame.size > 0
        if ds.kind in ("image", "stack") and getattr(view, "image_item", None) is not None:
            ax_y, ax_x = ds.sig_axes
            x0, x1, y0, y1 = _calibrated_extent(view, ds)
            xs = sorted((ax_x.coords[0] - ax_x.scale / 2, ax_x.coords[-1] + ax_x.scale / 2))
            ys = sorted((ax_y.coords[0] - ax_y.scale / 2, ax_y.coords[-1] + ax_y.scale / 2))
            assert (x0, x1) == pytest.approx(tuple(xs), rel=1e-6, abs=1e-9), name
            assert (y0, y1) == pytest.approx(tuple(ys), rel=1e-6, abs=1e-9), name
    # the open is recorded with the file's absolute path
    assert f'mg.open("{path}")' in shell.session.recorder.text
