"""Exceptions raised by Micrographia.

Every error a user can cause (a bad file, a bad parameter, a refused log) is a subclass of
:class:`MicrographiaError`, so callers can catch one type and show its message.
"""

from __future__ import annotations

__all__ = [
    "MicrographiaError",
    "FileReadError",
    "FileWriteError",
    "UnknownFormatError",
    "OperationError",
    "ParameterError",
    "UnknownOperationError",
    "CancelledError",
    "ReplayError",
    "ReplayRefused",
    "PluginError",
]


class MicrographiaError(Exception):
    """Base class of every error Micrographia raises on purpose."""


class FileReadError(MicrographiaError):
    """A file could not be read (missing, truncated, corrupt or of an unsupported kind)."""


class UnknownFormatError(FileReadError):
    """No reader or writer handles a file's extension."""


class FileWriteError(MicrographiaError):
    """A dataset could not be written; no partial file is left behind."""


class OperationError(MicrographiaError):
    """An operation failed while running."""


class ParameterError(OperationError, ValueError):
    """An operation was called with an invalid parameter or input."""


class UnknownOperationError(OperationError, KeyError):
    """No registered operation has the requested id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown operation"


class CancelledError(MicrographiaError):
    """A running task was cancelled by the user."""


class ReplayError(MicrographiaError):
    """A recorded log failed while being replayed."""


class ReplayRefused(ReplayError):
    """A log contains something other than the recorded forms and was not run.

    Parameters
    ----------
    lineno : int
        Line number (1-based) of the offending statement.
    reason : str
        Why it was refused.
    path : str, optional
        The log file.
    """

    def __init__(self, lineno: int, reason: str, path: str | None = None):
        self.lineno = lineno
        self.reason = reason
        self.path = path
        where = f"{path}:{lineno}" if path else f"line {lineno}"
        super().__init__(f"{where}: refused: {reason}")


class PluginError(MicrographiaError):
    """A plugin failed to import, register or declare its hooks."""
