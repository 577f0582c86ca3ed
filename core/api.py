"""The scripting API: ``mg.open``, ``mg.run``, ``mg.save``, ``mg.display`` and friends.

These functions are what recorded logs call, what the app calls, and what users call in scripts
and notebooks; they are the public contract.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import settings as _settings
from .dataset import Axis, Dataset, Table, default_axes
from .errors import FileReadError, ParameterError
from .provenance import ArrayNode, OpenNode, Ref, RunNode
from .recorder import active_recorders
from .registry import Operation

__all__ = ["open", "save", "from_array", "run", "operations", "operation", "display",
           "display_settings", "plugin_report", "formats", "DISPLAY_KEYS"]


def _attach(result: Any, node: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(r.replace(provenance=Ref(node, i)) for i, r in enumerate(result))
    return result.replace(provenance=Ref(node))


def open(path: str | os.PathLike[str], *, signal: int | str | None = None,  # noqa: A001
         lazy: bool | None = None) -> Dataset | list[Dataset]:
    """Open a file: every vendor format RosettaSciIO reads, plus TIFF/PNG/JPEG images.

    Parameters
    ----------
    path : path-like
        The file.
    signal : int or str, optional
        For files holding several signals, return only this one (index, or title).
    lazy : bool, optional
        Load lazily with dask. Default: lazily when the file is larger than the
        ``lazy_threshold`` setting (1 GiB).

    Returns
    -------
    Dataset or list of Dataset
        One dataset, or a list when the file holds several signals and ``signal`` is None.

    Raises
    ------
    FileReadError
        If the file is missing, unreadable, truncated or of an unknown kind (the message names
        the file and the cause).
    """
    from . import io

    p = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    try:
        st = p.stat()
    except FileNotFoundError:
        raise FileReadError(f"{p}: no such file") from None
    except OSError as exc:
        raise FileReadError(f"{p}: cannot access the file: {exc.strerror or exc}") from None
    if p.is_dir():
        raise FileReadError(f"{p}: is a folder, not a file")
    if lazy is None:
        lazy = st.st_size > _settings.get().lazy_threshold
    datasets = io.read(p, lazy=bool(lazy))
    kwargs: tuple[tuple[str, Any], ...] = ()
    if signal is not None:
        kwargs = (("signal", signal),)
    node = OpenNode(str(p), kwargs, st.st_size, st.st_mtime_ns)
    result: Dataset | list[Dataset]
    if signal is not None:
        result = _pick_signal(datasets, signal, p).replace(provenance=Ref(node))
    elif len(datasets) == 1:
        result = datasets[0].replace(provenance=Ref(node))
    else:
        result = [d.replace(provenance=Ref(node, i)) for i, d in enumerate(datasets)]
    for rec in active_recorders():
        rec.record_open(result, node)
    return result


def _pick_signal(datasets: list[Dataset], signal: int | str, path: Path) -> Dataset:
    titles = [d.title for d in datasets]
    if isinstance(signal, (int, np.integer)) and not isinstance(signal, bool):
        if not -len(datasets) <= int(signal) < len(datasets):
            raise FileReadError(f"{path}: has {len(datasets)} signal(s); signal={signal} is "
                                "out of range")
        return datasets[int(signal)]
    if isinstance(signal, str):
        if signal in titles:
            return datasets[titles.index(signal)]
        raise FileReadError(f"{path}: no signal titled {signal!r}; titles are "
                            + ", ".join(repr(t) for t in titles))
    raise ParameterError(f"signal must be an index or a title, got {signal!r}")


def from_array(array: Any, *, signal_dims: int = 2, scale: float = 1.0, units: str = "px",
               title: str = "", axes: Any = None,
               metadata: Mapping[str, Any] | None = None) -> Dataset:
    """Wrap an array as a dataset.

    Parameters
    ----------
    array : array_like
        numpy (copied), dask or cupy array.
    signal_dims : int
        The last ``signal_dims`` axes are the signal (capped at the array's dimensions), the
        others navigation.
    scale : float
        Scale of the signal axes.
    units : str
        Units of the signal axes.
    title : str
        Name.
    axes : sequence of Axis or dict, optional
        Explicit axes (overrides ``signal_dims``, ``scale`` and ``units``).
    metadata : mapping, optional
        Metadata tree.

    Returns
    -------
    Dataset
        The dataset; its provenance says it was made in memory.

    Examples
    --------
    >>> import numpy as np, micrographia as mg
    >>> d = mg.from_array(np.zeros((10, 20, 30)), signal_dims=1, scale=5.0, units="eV")
    >>> d.kind, d.axes[-1].name, d.axes[-1].scale
    ('spectrum_image', 'E', 5.0)
    """
    mod = type(array).__module__.split(".")[0]
    data = array if mod in ("dask", "cupy") else np.array(array, copy=True)
    if data.ndim == 0:
        raise ParameterError("from_array needs an array with at least one dimension")
    if axes is not None:
        axes = tuple(a if isinstance(a, Axis) else Axis(**a) for a in axes)
    else:
        axes = default_axes(data.shape, min(signal_dims, data.ndim), scale=scale, units=units)
    node = ArrayNode(f"array {tuple(data.shape)} {data.dtype}")
    return Dataset(data, axes, title=title, metadata=metadata, provenance=Ref(node))


def _registry() -> Any:
    from .plugin_manager import get_host

    return get_host().registry


def operations() -> list[Operation]:
    """List the registered operations.

    Returns
    -------
    list of Operation
        Each has ``id``, ``title``, ``menu``, ``inputs``, ``params`` (specs with type, default,
        range, units, choices, help) and ``describe()`` for a plain dict.
    """
    return list(_registry())


def operation(op_id: str) -> Operation:
    """Return one registered operation.

    Parameters
    ----------
    op_id : str
        Its id.

    Returns
    -------
    Operation
        The description.
    """
    return _registry().get(op_id)


def run(op_id: str, *inputs: Any, **params: Any) -> Any:
    """Run a registered operation.

    Parameters
    ----------
    op_id : str
        Operation id, e.g. ``"filters.gaussian"``.
    *inputs : Dataset or Table
        Positional inputs.
    **params
        Options (validated against the operation's signature).

    Returns
    -------
    Dataset, Table or tuple
        New objects; the inputs are not modified.

    Raises
    ------
    UnknownOperationError
        If no operation has that id.
    ParameterError
        If an input or option is invalid.
    OperationError
        If the operation failed.

    Examples
    --------
    >>> import numpy as np, micrographia as mg
    >>> d = mg.from_array(np.eye(16))
    >>> g = mg.run("filters.gaussian", d, sigma=2.0)
    >>> g.shape == d.shape and g.provenance.node.op == "filters.gaussian"
    True
    """
    from .compute import execute

    op = _registry().get(op_id)
    bound = op.bind(inputs, params)
    result, notes = execute(op, inputs, bound)
    node = RunNode(op_id, tuple(getattr(x, "provenance", None) for x in inputs),
                   tuple(bound.items()))
    result = _attach(result, node)
    for rec in active_recorders():
        for note in notes:
            rec.comment(note)
        rec.record_run(result, node, inputs)
    return result


def save(obj: Dataset | Table, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write a dataset or table; the format follows the extension.

    ``.hspy``/``.hdf5`` (HyperSpy's HDF5, with the provenance log embedded), ``.tif``/``.tiff``
    (calibrated), ``.png`` (rendered with the display settings), ``.csv`` (tables) and the other
    formats RosettaSciIO writes. The write is atomic: a temporary file is renamed into place.

    Parameters
    ----------
    obj : Dataset or Table
        What to write.
    path : path-like
        Target file.
    **options
        Writer options.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileWriteError
        If the file cannot be written (nothing is left behind).
    """
    from . import io
    from .provenance import log_for

    if not isinstance(obj, (Dataset, Table)):
        raise ParameterError(f"save needs a Dataset or Table, got {type(obj).__name__}")
    p = Path(os.path.expanduser(os.fspath(path)))
    log = log_for(obj, save_name=p.name) if obj.provenance is not None else None
    io.write(obj, p, provenance_log=log, display=display_settings(obj), **options)
    for rec in active_recorders():
        rec.record_save(obj, path, options)
    return p


DISPLAY_KEYS = {
    "cmap": str, "clim": tuple, "gamma": float, "mapping": str, "invert": bool,
    "frame": tuple, "auto_saturation": float, "complex": str,
}
_MAPPINGS = ("linear", "log", "sqrt")
_display: weakref.WeakKeyDictionary[Dataset, dict[str, Any]] = weakref.WeakKeyDictionary()


def display(dataset: Dataset, **settings: Any) -> None:
    """Set how a dataset is shown; recorded, and applied by PNG export and headless rendering.

    Display state is kept beside the data, never in it.

    Parameters
    ----------
    dataset : Dataset
        The dataset.
    **settings
        ``cmap`` (colormap name), ``clim`` ((low, high) display range), ``gamma`` (> 0),
        ``mapping`` ("linear", "log" or "sqrt"), ``invert`` (bool), ``frame`` (navigation
        index tuple), ``auto_saturation`` (percent saturated by auto-contrast), ``complex``
        (what is shown of complex data: "amplitude", "log_amplitude", "phase", "real" or
        "imaginary").

    Raises
    ------
    ParameterError
        On an unknown setting or invalid value.
    """
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"display needs a Dataset, got {type(dataset).__name__}")
    clean: dict[str, Any] = {}
    for k, v in settings.items():
        if k not in DISPLAY_KEYS:
            raise ParameterError(f"unknown display setting {k!r}; known: {', '.join(DISPLAY_KEYS)}")
        want = DISPLAY_KEYS[k]
        if want is tuple:
            v = tuple(float(x) if k == "clim" else int(x) for x in v)
            if k == "clim" and (len(v) != 2 or not v[0] < v[1]):
                raise ParameterError(f"clim must be (low, high) with low < high, got {v}")
        elif want is float:
            v = float(v)
            if k == "gamma" and not v > 0:
                raise ParameterError(f"gamma must be > 0, got {v}")
        elif want is bool:
            v = bool(v)
        else:
            v = str(v)
            if k == "mapping" and v not in _MAPPINGS:
                raise ParameterError(f"mapping must be one of {', '.join(_MAPPINGS)}, got {v!r}")
            if k == "complex":
                from .io.render import COMPLEX_MODES  # one list for display and export

                if v not in COMPLEX_MODES:
                    raise ParameterError(f"complex must be one of {', '.join(COMPLEX_MODES)}, "
                                         f"got {v!r}")
        clean[k] = v
    state = _display.setdefault(dataset, {})
    state.update(clean)
    for rec in active_recorders():
        rec.record_display(dataset, clean)


def display_settings(dataset: Any) -> dict[str, Any]:
    """Return the display settings recorded for a dataset (empty when none).

    Parameters
    ----------
    dataset : Dataset
        The dataset.

    Returns
    -------
    dict
        A copy of its settings.
    """
    try:
        return dict(_display.get(dataset, {}))
    except TypeError:
        return {}


def plugin_report() -> list[Any]:
    """Report every plugin: loaded or failed, with its error and operations.

    Returns
    -------
    list of PluginInfo
        Reports sorted by name.
    """
    from .plugin_manager import get_host

    return list(get_host().report())


def formats() -> list[Any]:
    """List the file formats Micrographia reads and writes.

    Returns
    -------
    list of FormatInfo
        Name, description, extensions, read and write support.
    """
    from . import io

    return io.formats()


def _plugin_versions(op_ids: list[str]) -> dict[str, str]:
    from .plugin_manager import get_host

    host = get_host()
    out: dict[str, str] = {}
    for op_id in op_ids:
        if op_id in host.registry:
            info = host.plugins.get(host.registry.get(op_id).plugin)
            if info is not None:
                out[info.distribution or info.name] = info.version or "?"
    return out


def table_from_columns(columns: Mapping[str, Any], **kwargs: Any) -> Table:
    """Build a :class:`Table` (convenience for plugin authors).

    Parameters
    ----------
    columns : mapping
        Column name to values.
    **kwargs
        ``units``, ``title``, ``metadata``.

    Returns
    -------
    Table
        The table.
    """
    return Table(columns, **kwargs)
