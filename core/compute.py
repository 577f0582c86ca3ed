"""Executes an operation: calls the function, checks its result.

Device selection and GPU fallback live here too (see :func:`execute`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def _wants_gpu(op: Operation, inputs: tuple[Any, ...]) -> bool:
    """Whether to move in-memory numpy inputs to the GPU for this call."""
    if not op.gpu:
        return False
    datasets = [x for x in inputs if isinstance(x, Dataset)]
    if not datasets or not all(isinstance(d.data, np.ndarray) for d in datasets):
        return False
    from . import backend

    return backend.selected_device() == "gpu"


def _to_cpu(result: Any) -> Any:
    from . import backend

    if isinstance(result, tuple):
        return tuple(_to_cpu(r) for r in result)
    if isinstance(result, Dataset):
        if result.on_gpu:
            return result.replace(data=backend.to_numpy(result.data))
        if result.is_lazy and backend.is_gpu_array(getattr(result.data, "_meta", None)):
            return result.replace(data=backend.to_device(result.data, "cpu"))
    return result


def _inputs_to(inputs: tuple[Any, ...], device: str) -> tuple[Any, ...]:
    from . import backend

    return tuple(x.replace(data=backend.to_device(x.data, device))
                 if isinstance(x, Dataset) else x for x in inputs)


def _call(op: Operation, inputs: tuple[Any, ...], params: dict[str, Any]) -> Any:
    try:
        return op.func(*inputs, **params)
    except (MicrographiaError, CancelledError):
        raise
    except MemoryError as exc:
        raise OperationError(f"{op.id}: out of memory ({exc})") from exc
    except Exception as exc:
        raise OperationError(f"{op.id} failed: {type(exc).__name__}: {exc}") from exc


def _gpu_reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "OutOfMemory" in name:
        return f"out of GPU memory: {exc}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text}" if text else name


def execute(
    op: Operation, inputs: tuple[Any, ...], params: dict[str, Any]
) -> tuple[Any, list[str]]:
    """Run an operation's function on validated inputs and options.

    When the selected device is the GPU (:func:`micrographia.backend.selected_device`), the
    operation accepts cupy arrays (``gpu=True``) and its inputs are in-memory numpy data, the
    inputs are copied to the GPU, the function runs there and its results are copied back:
    users always get numpy (or dask) results. If anything fails on the GPU (cupy missing, a
    CUDA error, out of GPU memory) the operation runs again on the CPU and a note says so.
    Operations without GPU support given cupy data get it copied to the CPU first.

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
    notes: list[str] = []
    if _wants_gpu(op, inputs):
        try:
            gpu_inputs = _inputs_to(inputs, "gpu")
            result = _to_cpu(check_result(op, op.func(*gpu_inputs, **params)))
            return result, notes
        except (CancelledError, MicrographiaError):
            raise
        except Exception as exc:  # CUDA errors, out of GPU memory, cupy missing
            notes.append(f"GPU failed ({_gpu_reason(exc)}); ran {op.id} on the CPU")
    elif not op.gpu and any(isinstance(x, Dataset) and x.on_gpu for x in inputs):
        inputs = _inputs_to(inputs, "cpu")
    result = _call(op, inputs, params)
    return check_result(op, result), notes
