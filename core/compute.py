"""Executes an operation: calls the function, checks its result.

Device selection and GPU fallback live here too (see :func:`execute`).
"""

from __future__ import annotations

from typing import Any

from .dataset import Dataset, Table
from .errors import CancelledError, MicrographiaError, OperationError
from .registry import Operation

__all__ = ["execute", "check_result"]


def check_result(op: Operation, result: Any) -> Any:
    """Check that an operation returned a Dataset, a Table or a tuple of them.

    Parameters
    ----------
    op : Operation
        The operation (for the message).
    result : Any
        What its function returned.

    Returns
    -------
    Any
        ``result`` (lists become tuples).

    Raises
    ------
    OperationError
        If the result has another type (a plugin bug).
    """
    if isinstance(result, list):
        result = tuple(result)
    items = result if isinstance(result, tuple) else (result,)
    if not items or not all(isinstance(r, (Dataset, Table)) for r in items):
        kinds = ", ".join(type(r).__name__ for r in items) or "nothing"
        raise OperationError(
            f"{op.id} (plugin {op.plugin or '?'}) returned {kinds}; an operation must return a "
            "Dataset, a Table or a tuple of them")
    return result


def execute(op: Operation, inputs: tuple[Any, ...], params: dict[str, Any]) -> tuple[Any, list[str]]:
    """Run an operation's function on validated inputs and options.

    Parameters
    ----------
    op : Operation
        The operation.
    inputs : tuple
        Positional inputs.
    params : dict
        Validated options (:meth:`Operation.bind`).

    Returns
    -------
    result : Dataset, Table or tuple
        The checked result.
    notes : list of str
        Remarks for the log (e.g. a GPU fallback), possibly empty.

    Raises
    ------
    OperationError
        Wrapping any exception the function raised (MicrographiaErrors pass through).
    """
    try:
        result = op.func(*inputs, **params)
    except (MicrographiaError, CancelledError):
        raise
    except MemoryError as exc:
        raise OperationError(f"{op.id}: out of memory ({exc})") from exc
    except Exception as exc:
        raise OperationError(f"{op.id} failed: {type(exc).__name__}: {exc}") from exc
    return check_result(op, result), []
