"""The session recorder: each successful open, run, save and display becomes a line of Python.

Lines are flushed to disk as they are recorded, so a crash loses nothing that completed.

The log format (ARCHITECTURE §5)::

    # Micrographia 0.1.0 session, 2026-11-22T10:14:03
    import micrographia as mg
    d1 = mg.open("grain_boundary.dm4")
    d2 = mg.run("filters.gaussian", d1, sigma=1.5)
    mg.save(d2, "smoothed.hspy")

It runs with ``python log.py`` and with ``micrographia replay log.py``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .provenance import ArrayNode, OpenNode, Ref, RunNode

__all__ = ["Recorder", "format_value", "active_recorders", "recording"]


def format_value(v: Any) -> str:
    """Format a parameter value as a Python literal that :func:`ast.literal_eval` reads back.

    Parameters
    ----------
    v : Any
        None, bool, int, float, str, tuple/list, dict, Path, Enum or numpy scalar.

    Returns
    -------
    str
        Source text.

    Raises
    ------
    ValueError
        For values with no literal form (non-finite floats, arbitrary objects).
    """
    if isinstance(v, enum.Enum):
        v = v.value
    if hasattr(v, "item") and getattr(v, "ndim", None) == 0:
        v = v.item()
    if isinstance(v, str):
        r = repr(v)
        if r.startswith("'") and '"' not in v and "'" not in v:
            r = '"' + r[1:-1] + '"'
        return r
    if v is None or isinstance(v, (bool, int)):
        return repr(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot record the non-finite number {v!r}")
        return repr(v)
    if isinstance(v, os.PathLike):
        return repr(os.fspath(v))
    if isinstance(v, (tuple, list)):
        inner = ", ".join(format_value(x) for x in v)
        if isinstance(v, tuple):
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"cannot record a value of type {type(v).__name__}: {v!r}")


class Recorder:
    """Writes a session as a runnable Python log.

    Parameters
    ----------
    path : path-like, optional
        File to write; each line is flushed and fsync'ed as it is recorded. None keeps the log
        in memory only.
    header : str, optional
        First line; default ``# Micrographia <version> session, <date>``.
    append : bool
        Continue an existing log at ``path`` instead of starting a new one.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, header: str | None = None,
                 append: bool = False):
        from ._version import __version__

        self.path = Path(path) if path is not None else None
        self.lines: list[str] = []
        self._names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._node_vars: dict[int, Any] = {}
        self._nodes: list[Any] = []  # keeps nodes alive so their ids stay unique
        self._counters: dict[str, int] = {}
        self._lock = threading.RLock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        if header is None:
            now = _dt.datetime.now().isoformat(timespec="seconds")
            header = f"# Micrographia {__version__} session, {now}"
        self._emit(header)
        self._emit("import micrographia as mg")

    # -- output --------------------------------------------------------------------------
    def _emit(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
                try:
                    os.fsync(self._file.fileno())
                except OSError:
                    pass

    @property
    def text(self) -> str:
        """The log so far."""
        return "\n".join(self.lines) + "\n"

    def close(self) -> None:
        """Close the log file (recording to memory continues to work)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def comment(self, text: str) -> None:
        """Record a comment line (e.g. a GPU fallback note).

        Parameters
        ----------
        text : str
            Comment text; each line gets a ``#`` prefix.
        """
        for line in str(text).splitlines() or [""]:
            self._emit(f"# {line}")

    # -- naming --------------------------------------------------------------------------
    def _new_var(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}{n}"

    @staticmethod
    def _prefix(obj: Any) -> str:
        from .dataset import Table

        return "t" if isinstance(obj, Table) else "d"

    def _bind(self, obj: Any, expr: str) -> None:
        try:
            self._names[obj] = expr
        except TypeError:  # not weak-referenceable: cannot be referred to later
            pass

    def nodes(self) -> Iterator[Any]:
        """Iterate over the provenance nodes written so far, in order.

        Yields
        ------
        OpenNode, RunNode or ArrayNode
            Nodes.
        """
        yield from self._nodes

    def op_ids(self) -> list[str]:
        """Return the ids of the operations recorded so far.

        Returns
        -------
        list of str
            Operation ids in order of first use.
        """
        seen: dict[str, None] = {}
        for n in self._nodes:
            if isinstance(n, RunNode):
                seen[n.op] = None
        return list(seen)

    def name_for(self, obj: Any) -> str:
        """Return the log expression for a dataset or table, writing its provenance if unknown.

        Parameters
        ----------
        obj : Dataset or Table
            An object passed to a recorded call.

        Returns
        -------
        str
            A variable name or ``name[index]``.
        """
        with self._lock:
            if obj is None:
                return "None"
            try:
                known = self._names.get(obj)
            except TypeError:
                known = None
            if known is not None:
                return known
            ref = getattr(obj, "provenance", None)
            if ref is None:
                ref = Ref(ArrayNode(f"{type(obj).__name__} without provenance"))
            expr = self._expr_for_ref(ref, self._prefix(obj))
            self._bind(obj, expr)
            return expr

    def _expr_for_ref(self, ref: Ref, prefix: str) -> str:
        node = ref.node
        entry = self._node_vars.get(id(node))
        if entry is None:
            if isinstance(node, OpenNode):
                entry = self._write_open(node, multi=ref.index is not None)
            elif isinstance(node, RunNode):
                entry = self._write_run(node, n_outputs=None if ref.index is None else -1,
                                        prefix=prefix)
            else:
                var = self._new_var(prefix)
                self._emit(f"# {var}: {node.description}, made in memory: not reproducible "
                           "from this log")
                self._remember(node, var)
                entry = var
        if isinstance(entry, tuple):
            return entry[ref.index or 0]
        return entry if ref.index is None else f"{entry}[{ref.index}]"

    def _remember(self, node: Any, entry: Any) -> None:
        self._node_vars[id(node)] = entry
        self._nodes.append(node)

    def _write_open(self, node: OpenNode, multi: bool) -> str:
        var = self._new_var("f" if multi else "d")
        kw = "".join(f", {k}={format_value(v)}" for k, v in node.kwargs)
        self._emit(f"{var} = mg.open({format_value(node.path)}{kw})")
        self._remember(node, var)
        return var

    def _write_run(self, node: RunNode, n_outputs: int | None, prefix: str,
                   targets: tuple[str, ...] | None = None) -> Any:
        args = [self._expr_for_ref(r, "d") if r is not None else "None" for r in node.inputs]
        kw = [f"{k}={format_value(v)}" for k, v in node.params]
        call = f"mg.run({', '.join([format_value(node.op)] + args + kw)})"
        if targets:
            entry: Any = targets if len(targets) > 1 else targets[0]
            lhs = ", ".join(targets)
        else:
            entry = self._new_var("r" if n_outputs == -1 else prefix)
            lhs = entry
        self._emit(f"{lhs} = {call}")
        self._remember(node, entry)
        return entry

    # -- recording calls -----------------------------------------------------------------
    def record_open(self, result: Any, node: OpenNode) -> None:
        """Record ``result = mg.open(...)``.

        Parameters
        ----------
        result : Dataset or list of Dataset
            What was returned.
        node : OpenNode
            Its provenance node.
        """
        with self._lock:
            multi = isinstance(result, list)
            var = self._write_open(node, multi=multi)
            if multi:
                for i, d in enumerate(result):
                    self._bind(d, f"{var}[{i}]")
            else:
                self._bind(result, var)

    def record_run(self, result: Any, node: RunNode, inputs: tuple[Any, ...] = ()) -> None:
        """Record ``result = mg.run(...)``.

        Parameters
        ----------
        result : Dataset, Table or tuple of them
            What was returned.
        node : RunNode
            Its provenance node.
        inputs : tuple
            The input objects (named from the recorder's table when known).
        """
        with self._lock:
            for obj in inputs:  # make sure every input has a name (writes provenance if not)
                self.name_for(obj)
            if isinstance(result, tuple):
                targets = tuple(self._new_var(self._prefix(o)) for o in result)
                self._write_run_with_inputs(node, inputs, targets)
                for obj, t in zip(result, targets):
                    self._bind(obj, t)
            else:
                target = self._new_var(self._prefix(result))
                self._write_run_with_inputs(node, inputs, (target,))
                self._bind(result, target)

    def _write_run_with_inputs(self, node: RunNode, inputs: tuple[Any, ...],
                               targets: tuple[str, ...]) -> None:
        args = [self.name_for(o) for o in inputs]
        kw = [f"{k}={format_value(v)}" for k, v in node.params]
        call = f"mg.run({', '.join([format_value(node.op)] + args + kw)})"
        self._emit(f"{', '.join(targets)} = {call}")
        self._remember(node, targets if len(targets) > 1 else targets[0])

    def record_save(self, obj: Any, path: str | os.PathLike[str], kwargs: Mapping[str, Any] = (),
                    name: str | None = None) -> None:
        """Record ``mg.save(obj, path, **kwargs)``.

        Parameters
        ----------
        obj : Dataset or Table
            What was saved.
        path : path-like
            Where, as the caller gave it.
        kwargs : mapping
            Extra writer options.
        name : str, optional
            Expression for ``obj`` if already known.
        """
        with self._lock:
            expr = name or self.name_for(obj)
            kw = "".join(f", {k}={format_value(v)}" for k, v in dict(kwargs).items())
            self._emit(f"mg.save({expr}, {format_value(os.fspath(path))}{kw})")

    def record_display(self, obj: Any, settings: Mapping[str, Any]) -> None:
        """Record ``mg.display(obj, **settings)``.

        Parameters
        ----------
        obj : Dataset
            The displayed dataset.
        settings : mapping
            Display settings that changed.
        """
        with self._lock:
            expr = self.name_for(obj)
            kw = "".join(f", {k}={format_value(v)}" for k, v in settings.items())
            self._emit(f"mg.display({expr}{kw})")

    # -- context manager -----------------------------------------------------------------
    def start(self) -> Recorder:
        """Make this recorder active: calls to ``mg.open/run/save/display`` are recorded.

        Returns
        -------
        Recorder
            ``self``.
        """
        with _active_lock:
            _active.append(self)
        return self

    def stop(self) -> None:
        """Stop recording and close the file."""
        with _active_lock:
            if self in _active:
                _active.remove(self)
        self.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_active: list[Recorder] = []
_active_lock = threading.Lock()


def active_recorders() -> list[Recorder]:
    """Return the recorders that are recording now.

    Returns
    -------
    list of Recorder
        Active recorders (most recently started last).
    """
    with _active_lock:
        return list(_active)


def recording(path: str | os.PathLike[str] | None = None, *, append: bool = False) -> Recorder:
    """Record the ``mg`` calls made inside a ``with`` block to a log file.

    Parameters
    ----------
    path : path-like, optional
        Log file (written line by line). None records to memory (``rec.text``).
    append : bool
        Continue an existing log.

    Returns
    -------
    Recorder
        Use it as a context manager.

    Examples
    --------
    >>> import numpy as np, micrographia as mg
    >>> with mg.recording() as rec:
    ...     d = mg.from_array(np.ones((8, 8)))
    ...     g = mg.run("filters.gaussian", d, sigma=1.0)
    >>> rec.lines[-1].startswith('d2 = mg.run("filters.gaussian", d1')
    True
    """
    return Recorder(path, append=append)
