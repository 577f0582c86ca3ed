"""Background running of operations for the app.

Work runs in worker threads through :class:`micrographia.tasks.TaskRunner`; a :class:`TaskWatcher`
living in the GUI thread polls the :class:`~micrographia.tasks.Task` with a timer and re-emits
its progress and outcome as Qt signals, so slots always run in the GUI thread.

:func:`preview` computes an operation without recording it (``micrographia.compute.execute``, the
path ``mg.run`` uses minus the recorder), for the live preview of cheap operations.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6 import QtCore

from micrographia.errors import CancelledError
from micrographia.tasks import Task, TaskRunner

__all__ = ["TaskWatcher", "BackgroundRunner", "preview", "run_operation"]

POLL_MS = 50


def run_operation(op_id: str, inputs: Sequence[Any], params: Mapping[str, Any]) -> Any:
    """Run an operation with ``mg.run`` (recorded by the active recorders on success).

    Parameters
    ----------
    op_id : str
        Operation id.
    inputs : sequence
        Datasets or tables.
    params : mapping
        Options.

    Returns
    -------
    Any
        What ``mg.run`` returns.
    """
    from micrographia.api import run

    return run(op_id, *inputs, **dict(params))


def preview(op_id: str, inputs: Sequence[Any], params: Mapping[str, Any]) -> Any:
    """Compute an operation without recording it (for a live preview).

    Parameters
    ----------
    op_id : str
        Operation id.
    inputs : sequence
        Datasets or tables.
    params : mapping
        Options.

    Returns
    -------
    Any
        The result, not attached to any provenance and not written to any log.
    """
    from micrographia.api import operation
    from micrographia.compute import execute

    op = operation(op_id)
    inputs = tuple(inputs)
    bound = op.bind(inputs, dict(params))
    result, _notes = execute(op, inputs, bound)
    return result


class TaskWatcher(QtCore.QObject):
    """Relays a background task's progress and outcome to the GUI thread.

    Parameters
    ----------
    task : Task
        The task to watch.
    name : str
        Text for the status bar.
    parent : QObject, optional
        Qt parent.

    Signals
    -------
    progress(float, str)
        Fraction done and message, when they change.
    finished(object)
        The result, on success.
    failed(str, str)
        One-line message and details (traceback), on error.
    cancelled()
        The task was cancelled (no result).
    done()
        Emitted last, whatever the outcome.
    """

    progress = QtCore.Signal(float, str)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str, str)
    cancelled = QtCore.Signal()
    done = QtCore.Signal()

    def __init__(self, task: Task, name: str = "", parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.task = task
        self.name = name or task.name
        self.outcome: str | None = None  # "finished", "failed" or "cancelled"
        self.result: Any = None
        self.error: str = ""
        self._last = (-1.0, "")
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def cancel(self) -> None:
        """Ask the task to stop; :attr:`cancelled` follows once it has."""
        self.task.cancel()

    def is_done(self) -> bool:
        """Whether the outcome has been delivered.

        Returns
        -------
        bool
            True once one of finished/failed/cancelled was emitted.
        """
        return self.outcome is not None

    def _poll(self) -> None:
        t = self.task
        state = (t.progress, t.message)
        if state != self._last and not t.done():
            self._last = state
            self.progress.emit(float(state[0]), str(state[1]))
        if not t.done():
            return
        self._timer.stop()
        if t.cancelled() or (t.cancel_requested and t.exception() is not None):
            self.outcome = "cancelled"
            self.cancelled.emit()
        else:
            exc = t.exception()
            if exc is None:
                self.outcome = "finished"
                self.result = t.result()
                self.progress.emit(1.0, t.message)
                self.finished.emit(self.result)
            elif isinstance(exc, CancelledError):
                self.outcome = "cancelled"
                self.cancelled.emit()
            else:
                self.outcome = "failed"
                self.error = str(exc) or type(exc).__name__
                details = "".join(traceback.format_exception(type(exc), exc,
                                                             exc.__traceback__))
                self.failed.emit(self.error, details)
        self.done.emit()


class BackgroundRunner(QtCore.QObject):
    """Submits work to worker threads and keeps track of what is running.

    Parameters
    ----------
    max_workers : int
        Worker threads.
    parent : QObject, optional
        Qt parent.

    Signals
    -------
    started(object)
        A :class:`TaskWatcher` for a newly submitted task.
    idle()
        No task is running any more.
    """

    started = QtCore.Signal(object)
    idle = QtCore.Signal()

    def __init__(self, max_workers: int = 2, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._pool = TaskRunner(max_workers=max_workers, name="micrographia-app")
        self._watchers: list[TaskWatcher] = []

    def submit(self, fn: Callable[..., Any], *args: Any, name: str = "",
               **kwargs: Any) -> TaskWatcher:
        """Run ``fn(*args, **kwargs)`` in a worker thread.

        Parameters
        ----------
        fn : callable
            The work (may call ``report_progress`` / ``check_cancelled``).
        *args
            Positional arguments.
        name : str
            Text for the status bar.
        **kwargs
            Keyword arguments.

        Returns
        -------
        TaskWatcher
            Watches the task from the GUI thread.
        """
        task = self._pool.submit(fn, *args, **kwargs)
        task.name = name or getattr(fn, "__name__", "task")
        watcher = TaskWatcher(task, task.name, self)
        self._watchers.append(watcher)
        watcher.done.connect(lambda w=watcher: self._forget(w))
        self.started.emit(watcher)
        return watcher

    def run(self, op_id: str, inputs: Sequence[Any], params: Mapping[str, Any]) -> TaskWatcher:
        """Run an operation (recorded on success) in the background.

        Parameters
        ----------
        op_id : str
            Operation id.
        inputs : sequence
            Datasets or tables.
        params : mapping
            Options.

        Returns
        -------
        TaskWatcher
            Its watcher.
        """
        return self.submit(run_operation, op_id, tuple(inputs), dict(params), name=op_id)

    def _forget(self, watcher: TaskWatcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
        if not self._watchers:
            self.idle.emit()

    def running(self) -> list[TaskWatcher]:
        """Return the watchers of the tasks not finished yet.

        Returns
        -------
        list of TaskWatcher
            In submission order.
        """
        return list(self._watchers)

    def cancel_all(self) -> None:
        """Ask every running task to stop."""
        for w in list(self._watchers):
            w.cancel()

    def shutdown(self) -> None:
        """Cancel what runs and stop the worker threads (without waiting)."""
        self.cancel_all()
        self._pool.shutdown(wait=False, cancel_pending=True)
