"""Background tasks: futures with progress and cancellation, no Qt.

Code that runs inside a task reports progress with :func:`report_progress` and polls for
cancellation with :func:`check_cancelled`; outside a task both are cheap no-ops, so operations
call them unconditionally. The task a piece of code belongs to is found through a
:mod:`contextvars` variable that :class:`TaskRunner` sets in the worker thread.

>>> import numpy as np, micrographia as mg
>>> t = mg.submit("filters.gaussian", mg.from_array(np.eye(8)), sigma=1.0)
>>> t.result(timeout=60).shape
(8, 8)

The app watches a :class:`Task` from the GUI thread (``add_progress_callback`` and
``add_done_callback`` are called from the worker thread: relay them through a queued signal).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any

from .errors import CancelledError

__all__ = ["Task", "TaskRunner", "submit", "report_progress", "check_cancelled",
           "default_runner", "current_task"]


class _State:
    """Progress and cancellation state shared by a task and the code running in it."""

    __slots__ = ("cancel_event", "progress", "message", "lock", "callbacks", "task")

    def __init__(self) -> None:
        self.cancel_event = threading.Event()
        self.progress = 0.0
        self.message = ""
        self.lock = threading.Lock()
        self.callbacks: list[Callable[[float, str], Any]] = []
        self.task: Task | None = None


_current: contextvars.ContextVar[_State | None] = contextvars.ContextVar(
    "micrographia_task", default=None)


def report_progress(fraction: float, message: str = "") -> None:
    """Report the progress of the task this code runs in (a no-op outside a task).

    Parameters
    ----------
    fraction : float
        Fraction done, clipped to [0, 1]. Progress never goes backwards: a smaller value than
        the last one reported only updates the message.
    message : str
        Short description of the current step (kept when empty).
    """
    state = _current.get()
    if state is None:
        return
    try:
        f = min(1.0, max(0.0, float(fraction)))
    except (TypeError, ValueError):
        return
    with state.lock:
        state.progress = max(state.progress, f)
        if message:
            state.message = str(message)
        progress, msg, callbacks = state.progress, state.message, list(state.callbacks)
    for cb in callbacks:
        try:
            cb(progress, msg)
        except Exception:  # a broken watcher must not break the computation
            pass


def check_cancelled() -> None:
    """Raise :class:`~micrographia.CancelledError` if the current task was cancelled.

    A no-op outside a task. Long loops call it once per frame or block.

    Raises
    ------
    CancelledError
        When :meth:`Task.cancel` was called on the task this code runs in.
    """
    state = _current.get()
    if state is not None and state.cancel_event.is_set():
        raise CancelledError("cancelled by the user")


def current_task() -> Task | None:
    """Return the task the calling code runs in, or None.

    Returns
    -------
    Task or None
        The task.
    """
    state = _current.get()
    return None if state is None else state.task


class Task:
    """A running or finished background computation.

    Wraps a :class:`concurrent.futures.Future` and adds progress, a message and cooperative
    cancellation. Made by :meth:`TaskRunner.submit` or :func:`submit`.

    Parameters
    ----------
    future : concurrent.futures.Future
        The future of the computation.
    state : _State
        Shared progress/cancellation state (internal).
    name : str
        Human-readable name (operation id or function name).
    """

    def __init__(self, future: concurrent.futures.Future[Any], state: _State, name: str = ""):
        self._future = future
        self._state = state
        self.name = name
        state.task = self

    @property
    def future(self) -> concurrent.futures.Future[Any]:
        """The underlying :class:`concurrent.futures.Future`."""
        return self._future

    @property
    def progress(self) -> float:
        """Fraction done in [0, 1] (1 once the task succeeded)."""
        if self._future.done() and not self._future.cancelled() and \
                self._future.exception() is None:
            return 1.0
        return self._state.progress

    @property
    def message(self) -> str:
        """Last progress message."""
        return self._state.message

    def cancel(self) -> bool:
        """Ask the task to stop.

        A task not yet started never runs; a running one stops at its next
        :func:`check_cancelled` and raises :class:`~micrographia.CancelledError` from
        :meth:`result`.

        Returns
        -------
        bool
            False if the task had already finished, else True.
        """
        if self._future.done():
            return False
        self._state.cancel_event.set()
        self._future.cancel()
        return True

    @property
    def cancel_requested(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._state.cancel_event.is_set()

    def cancelled(self) -> bool:
        """Whether the task finished because it was cancelled.

        Returns
        -------
        bool
            True if it never started or stopped with :class:`~micrographia.CancelledError`.
        """
        f = self._future
        if f.cancelled():
            return True
        return f.done() and isinstance(f.exception(), CancelledError)

    def done(self) -> bool:
        """Whether the task finished (successfully, with an error, or cancelled).

        Returns
        -------
        bool
            True when finished.
        """
        return self._future.done()

    def running(self) -> bool:
        """Whether the task is running now.

        Returns
        -------
        bool
            True while running.
        """
        return self._future.running()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for and return the result.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; None waits for ever.

        Returns
        -------
        Any
            What the function returned.

        Raises
        ------
        CancelledError
            If the task was cancelled (always :class:`micrographia.CancelledError`).
        TimeoutError
            If it did not finish in time.
        Exception
            Whatever the function raised.
        """
        try:
            return self._future.result(timeout)
        except concurrent.futures.CancelledError:
            raise CancelledError("cancelled by the user") from None

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the task and return the exception it raised, or None.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait.

        Returns
        -------
        BaseException or None
            The exception (a :class:`~micrographia.CancelledError` if cancelled).
        """
        try:
            return self._future.exception(timeout)
        except concurrent.futures.CancelledError:
            return CancelledError("cancelled by the user")

    def add_progress_callback(self, callback: Callable[[float, str], Any]) -> None:
        """Call ``callback(fraction, message)`` on every progress report (worker thread).

        Parameters
        ----------
        callback : callable
            Receives the fraction done and the message.
        """
        with self._state.lock:
            self._state.callbacks.append(callback)

    def add_done_callback(self, callback: Callable[[Task], Any]) -> None:
        """Call ``callback(task)`` when the task finishes (at once if it already has).

        Parameters
        ----------
        callback : callable
            Receives this task.
        """
        self._future.add_done_callback(lambda _f: callback(self))

    def __repr__(self) -> str:
        if self._future.cancelled() or self.cancelled():
            st = "cancelled"
        elif self._future.done():
            st = "failed" if self._future.exception() is not None else "done"
        else:
            st = "running" if self._future.running() else "pending"
        return f"<Task {self.name!r} {st} {self.progress:.0%}>"


class TaskRunner:
    """Runs functions in worker threads and hands out :class:`Task` objects.

    Parameters
    ----------
    max_workers : int, optional
        Number of worker threads (default: the number of CPUs, at most 4; numpy, scipy's FFT
        and dask release the GIL, and they use several cores themselves).
    name : str
        Prefix of the worker threads' names.
    """

    def __init__(self, max_workers: int | None = None, name: str = "micrographia"):
        if max_workers is None:
            max_workers = max(1, min(4, os.cpu_count() or 1))
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=name)
        self.max_workers = max_workers

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` in a worker thread.

        Parameters
        ----------
        fn : callable
            The function; it may call :func:`report_progress` and :func:`check_cancelled`.
        *args
            Positional arguments.
        **kwargs
            Keyword arguments.

        Returns
        -------
        Task
            The task.
        """
        state = _State()
        ctx = contextvars.copy_context()
        ready = threading.Event()

        def call() -> Any:
            ready.wait()  # the Task object exists before the function runs
            if state.cancel_event.is_set():
                raise CancelledError("cancelled by the user")
            _current.set(state)
            return fn(*args, **kwargs)

        future = self._executor.submit(ctx.run, call)
        try:
            return Task(future, state, getattr(fn, "__name__", "task"))
        finally:
            ready.set()

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop the worker threads.

        Parameters
        ----------
        wait : bool
            Wait for the running tasks.
        cancel_pending : bool
            Cancel the tasks not yet started.
        """
        self._executor.shutdown(wait=wait, cancel_futures=cancel_pending)


_default: TaskRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> TaskRunner:
    """Return the shared runner used by :func:`submit` (created on first use).

    Returns
    -------
    TaskRunner
        The runner.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = TaskRunner()
        return _default


def submit(op_id: str, *inputs: Any, **params: Any) -> Task:
    """Run a registered operation in the background (``mg.run`` in a worker thread).

    The result is recorded by active recorders when, and only when, the operation succeeds.

    Parameters
    ----------
    op_id : str
        Operation id.
    *inputs : Dataset or Table
        Inputs.
    **params
        Options.

    Returns
    -------
    Task
        Its :meth:`~Task.result` is what :func:`micrographia.run` returns.
    """
    from .api import run

    task = default_runner().submit(run, op_id, *inputs, **params)
    task.name = op_id
    return task
