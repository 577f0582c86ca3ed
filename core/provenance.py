"""Provenance: how every dataset was made, as a small graph of open and run nodes.

Every dataset or table returned by :func:`micrographia.open` or :func:`micrographia.run` carries
a :class:`Ref` to the node that produced it. From that graph alone Micrographia writes the slice
of a session's log that a result depends on (:func:`log_for`), embeds it in saved files and
replays it to reproduce them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from typing import Any

__all__ = ["OpenNode", "RunNode", "ArrayNode", "Ref", "file_sha256", "log_for"]


@dataclasses.dataclass(frozen=True, eq=False)
class OpenNode:
    """A file opened with :func:`micrographia.open`.

    Parameters
    ----------
    path : str
        Absolute path of the file.
    kwargs : tuple of (str, Any)
        Recorded keyword arguments (``signal=...``).
    size : int
        File size when opened.
    mtime_ns : int
        Modification time when opened.
    """

    path: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    size: int = -1
    mtime_ns: int = -1
    _hash: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def sha256(self) -> str:
        """Return the SHA-256 of the file (cached; empty if it changed or vanished since opening).

        Returns
        -------
        str
            Hex digest, or ``""`` when the file is no longer the one that was opened.
        """
        if "sha256" not in self._hash:
            try:
                st = os.stat(self.path)
                same = st.st_size == self.size and st.st_mtime_ns == self.mtime_ns
                self._hash["sha256"] = file_sha256(self.path) if same else ""
            except OSError:
                self._hash["sha256"] = ""
        return self._hash["sha256"]


@dataclasses.dataclass(frozen=True, eq=False)
class RunNode:
    """One call of :func:`micrographia.run`.

    Parameters
    ----------
    op : str
        Operation id.
    inputs : tuple of Ref or None
        Provenance of each positional input.
    params : tuple of (str, Any)
        Every option, defaults filled in.
    """

    op: str
    inputs: tuple[Ref | None, ...]
    params: tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayNode:
    """Data made in memory (:func:`micrographia.from_array`); it cannot be replayed.

    Parameters
    ----------
    description : str
        What it was (shape and dtype).
    """

    description: str


@dataclasses.dataclass(frozen=True)
class Ref:
    """Points at a node's output.

    Parameters
    ----------
    node : OpenNode, RunNode or ArrayNode
        The producing node.
    index : int or None
        Which element of a list/tuple result; None when the node produced one object.
    """

    node: OpenNode | RunNode | ArrayNode
    index: int | None = None


_hash_lock = threading.Lock()


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks.

    Parameters
    ----------
    path : path-like
        File.
    chunk : int
        Read size in bytes.

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def log_for(obj: Any, save_name: str | None = None) -> str:
    """Return the minimal runnable log that produces ``obj`` (and saves it as ``save_name``).

    Parameters
    ----------
    obj : Dataset or Table
        A result carrying provenance.
    save_name : str, optional
        File name for a final ``mg.save`` line.

    Returns
    -------
    str
        Python source: a header with versions and input hashes, ``import micrographia as mg``,
        the lines the result depends on, in order.
    """
    from ._version import __version__
    from .recorder import Recorder

    rec = Recorder(None, header=f"# Micrographia {__version__} provenance")
    name = rec.name_for(obj)
    if save_name is not None:
        rec.record_save(obj, save_name, name=name)
    inputs = [n for n in rec.nodes() if isinstance(n, OpenNode)]
    plugins = sorted({n.op.split(".")[0] for n in rec.nodes() if isinstance(n, RunNode)})
    extra = []
    for n in inputs:
        digest = n.sha256()
        extra.append(f"# input {n.path}: sha256 {digest or 'unknown (file changed or missing)'}")
    if plugins:
        from .api import _plugin_versions

        extra.append("# plugins: " + ", ".join(f"{k} {v}" for k, v in
                                               _plugin_versions(rec.op_ids()).items()))
    lines = rec.lines
    return "\n".join(lines[:1] + extra + lines[1:]) + "\n"
