"""``micrographia --screenshot OUT.png FILE…`` writes one PNG of all windows and exits 0."""

from __future__ import annotations

import pytest
from PySide6 import QtGui, QtWidgets

from micrographia import cli
from micrographia.recorder import active_recorders


@pytest.fixture
def no_modal(monkeypatch):
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec",
                        lambda self: QtWidgets.QMessageBox.StandardButton.Ok)


def test_screenshot_cli_writes_png_of_all_windows(qtbot, no_modal, shared_data, tmp_path,
                                                  monkeypatch):
    from micrographia.app import main_window

    made = []
    orig_init = main_window.MainWindow.__init__

    def spy(self, *a, **k):
        orig_init(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(main_window.MainWindow, "__init__", spy)
    out = tmp_path / "shot.png"
    args = ["--screenshot", str(out), str(shared_data / "dm3" / "multi_signal.dm3")]
    code = cli.main(args)  # `micrographia --screenshot OUT FILE`
    assert code == 0
    img = QtGui.QImage(str(out))
    assert not img.isNull()
    (shell,) = made
    # layout: main window on the top row, the two image windows side by side below, each
    # under a 22 px title strip, 10 px gaps
    main_size = shell.size()
    assert len(shell.errors) == 0
    assert not any(p.name.startswith(".shot.png") for p in tmp_path.iterdir())  # atomic
    assert img.width() >= main_size.width() + 20
    assert img.height() >= main_size.height() + 22 + 10 + 400
    # the session ended cleanly: no recorder left active, marker removed
    assert shell.session.recorder not in active_recorders()
    assert not shell.session.marker.exists()
    assert "mg.open(" in shell.session.path.read_text()


def test_screenshot_reports_unreadable_file(qtbot, no_modal, tmp_path):
    out = tmp_path / "shot.png"
    from micrographia.app import main

    assert main(["--screenshot", str(out), str(tmp_path / "missing.dm3")]) == 1
    assert out.is_file()  # the main window is still drawn
