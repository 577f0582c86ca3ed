"""Window ▸ Log: the session log, read-only, following it as it grows."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.recorder import Recorder

__all__ = ["LogWindow"]


class LogWindow(QtWidgets.QWidget):
    """Shows a recorder's log and appends new lines as they are recorded.

    Parameters
    ----------
    recorder : Recorder
        The session recorder (its ``lines`` are polled; lines may be written from worker
        threads, so no signal is needed from the recorder).
    parent : QWidget, optional
        Qt parent.
    interval_ms : int
        Polling interval.
    """

    def __init__(self, recorder: Recorder, parent: QtWidgets.QWidget | None = None,
                 interval_ms: int = 200):
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        self.recorder = recorder
        self.setWindowTitle("Log" + (f" — {recorder.path.name}" if recorder.path else ""))
        self.editor = QtWidgets.QPlainTextEdit(self)
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.editor.setFont(font)
        self.path_label = QtWidgets.QLabel(str(recorder.path) if recorder.path else "(in memory)")
        self.path_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.path_label)
        lay.addWidget(self.editor)
        self._shown = 0
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()
        self.resize(720, 420)

    def refresh(self) -> None:
        """Append the lines recorded since the last refresh."""
        lines = list(self.recorder.lines)
        if len(lines) <= self._shown:
            return
        bar = self.editor.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        for line in lines[self._shown:]:
            self.editor.appendPlainText(line)
        self._shown = len(lines)
        if at_end:
            bar.setValue(bar.maximum())

    def text(self) -> str:
        """Return the text shown.

        Returns
        -------
        str
            The log as displayed.
        """
        return self.editor.toPlainText()
