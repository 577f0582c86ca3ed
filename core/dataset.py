"""The data model: calibrated axes, immutable datasets and result tables.

A :class:`Dataset` is an n-dimensional array (numpy, dask or cupy) with one :class:`Axis` per
dimension. Navigation axes come first and signal axes last, as in HyperSpy: an image is
``(y, x)``, a stack ``(t | y, x)``, a spectrum image ``(y, x | E)`` and a 4D-STEM scan
``(scan_y, scan_x | ky, kx)``. Datasets hold data and calibration only; display state lives in
the views.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["Axis", "Intensity", "Dataset", "Table", "freeze", "thaw"]


def freeze(obj: Any) -> Any:
    """Return a read-only deep copy of nested mappings and sequences.

    Parameters
    ----------
    obj : Any
        A value made of dicts, lists, tuples and scalars (arrays are kept as read-only copies).

    Returns
    -------
    Any
        Mappings become :class:`types.MappingProxyType`, lists become tuples.
    """
    if isinstance(obj, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return tuple(freeze(v) for v in obj)
    if isinstance(obj, np.ndarray):
        a = obj.copy()
        a.flags.writeable = False
        return a
    return obj


def thaw(obj: Any) -> Any:
    """Return a plain, mutable deep copy of a value made by :func:`freeze`.

    Parameters
    ----------
    obj : Any
        A frozen value.

    Returns
    -------
    Any
        Mapping proxies become dicts and tuples become lists.
    """
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [thaw(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


@dataclasses.dataclass(frozen=True)
class Axis:
    """One calibrated axis of a dataset.

    The calibrated coordinate of index ``i`` is ``offset + i * scale`` in ``units``.

    Parameters
    ----------
    name : str
        Axis name, e.g. ``"x"``, ``"y"``, ``"t"``, ``"E"``, ``"kx"``.
    size : int
        Number of samples.
    scale : float
        Calibrated step between samples (may be negative, as some TIA files have).
    offset : float
        Calibrated coordinate of the first sample.
    units : str
        Units of ``scale`` and ``offset``; ``"px"`` when uncalibrated.
    navigate : bool
        True for navigation axes (scan positions, frames), False for signal axes.
    """

    name: str
    size: int
    scale: float = 1.0
    offset: float = 0.0
    units: str = "px"
    navigate: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "offset", float(self.offset))
        object.__setattr__(self, "units", "" if self.units is None else str(self.units))
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "navigate", bool(self.navigate))
        if self.size < 0:
            raise ParameterError(f"axis {self.name!r}: size must be >= 0, got {self.size}")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ParameterError(f"axis {self.name!r}: scale must be finite and non-zero")
        if not math.isfinite(self.offset):
            raise ParameterError(f"axis {self.name!r}: offset must be finite")

    @property
    def coords(self) -> np.ndarray:
        """Calibrated coordinates of every sample (float64 array of length ``size``)."""
        return self.offset + self.scale * np.arange(self.size, dtype=np.float64)

    @property
    def calibrated(self) -> bool:
        """Whether the axis carries physical units (not pixels/channels with unit scale)."""
        return self.units not in ("", "px", "pixel", "pixels", "<undefined>") or (
            self.scale != 1.0
        )

    def index(self, value: float) -> float:
        """Convert a calibrated coordinate to a (fractional) index.

        Parameters
        ----------
        value : float
            Calibrated coordinate.

        Returns
        -------
        float
            ``(value - offset) / scale``.
        """
        return (value - self.offset) / self.scale

    def replace(self, **changes: Any) -> Axis:
        """Return a copy with some fields changed.

        Parameters
        ----------
        **changes
            Field names and new values.

        Returns
        -------
        Axis
            The new axis.
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the axis as a plain dict (RosettaSciIO's axis layout).

        Returns
        -------
        dict
            Keys ``name, size, scale, offset, units, navigate``.
        """
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Intensity:
    """Calibration of the data values: ``physical = offset + scale * value`` in ``units``.

    Parameters
    ----------
    units : str
        Units of the calibrated values (e.g. ``"counts"``, ``"e-"``); empty when unknown.
    scale : float
        Gain.
    offset : float
        Offset.
    """

    units: str = ""
    scale: float = 1.0
    offset: float = 0.0


def _is_lazy(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "dask"


def _is_cupy(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "cupy"


def _readonly(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        if data.flags.writeable:
            data = data.view()
            data.flags.writeable = False
        return data
    if _is_lazy(data) or _is_cupy(data):
        return data
    return _readonly(np.asarray(data))


_DEFAULT_NAMES = {
    1: ("x",),
    2: ("y", "x"),
    3: ("z", "y", "x"),
    4: ("w", "z", "y", "x"),
}


def default_axes(shape: Sequence[int], signal_dims: int = 2, *, scale: float = 1.0,
                 units: str = "px") -> tuple[Axis, ...]:
    """Build axes for an array of ``shape``, the last ``signal_dims`` being the signal.

    Parameters
    ----------
    shape : sequence of int
        Array shape.
    signal_dims : int
        Number of trailing signal axes (0 to ``len(shape)``).
    scale : float
        Scale given to the signal axes.
    units : str
        Units of the signal axes.

    Returns
    -------
    tuple of Axis
        Navigation axes named ``t``, ``n1``... (or ``scan_y, scan_x`` for 4-D data with two
        signal dims); signal axes named ``x``; ``y, x``; or ``E`` for 1-D signals.
    """
    ndim = len(shape)
    if not 0 <= signal_dims <= ndim:
        raise ParameterError(f"signal_dims must be between 0 and {ndim}, got {signal_dims}")
    nav_dims = ndim - signal_dims
    if signal_dims == 1:
        sig_names: tuple[str, ...] = ("E",) if nav_dims else ("x",)
    elif signal_dims == 2 and nav_dims == 2:
        sig_names = ("ky", "kx")
    else:
        sig_names = _DEFAULT_NAMES.get(signal_dims, tuple(f"s{i}" for i in range(signal_dims)))
    if nav_dims == 1:
        nav_names: tuple[str, ...] = ("t",)
    elif nav_dims == 2:
        nav_names = ("y", "x") if signal_dims == 1 else ("scan_y", "scan_x")
    else:
        nav_names = tuple(f"n{i}" for i in range(nav_dims))
    axes = [Axis(n, s, navigate=True) for n, s in zip(nav_names, shape[:nav_dims])]
    axes += [Axis(n, s, scale=scale, units=units) for n, s in zip(sig_names, shape[nav_dims:])]
    return tuple(axes)


class Dataset:
    """An immutable calibrated n-d dataset.

    Parameters
    ----------
    data : array_like
        numpy, dask or cupy array. numpy data is made read-only (no copy).
    axes : sequence of Axis, optional
        One per dimension, navigation axes first. Default: :func:`default_axes` with two signal
        dimensions (fewer if the array has fewer dimensions).
    title : str
        Human-readable name (file name, operation).
    metadata : mapping, optional
        Normalised metadata (instrument, beam energy, acquisition date ...), HyperSpy's tree.
    original_metadata : mapping, optional
        Everything the file said, unchanged.
    intensity : Intensity, optional
        Calibration of the values.
    provenance : Provenance, optional
        How this dataset was made; set by :func:`micrographia.open` and :func:`micrographia.run`.

    Examples
    --------
    >>> import numpy as np
    >>> import micrographia as mg
    >>> d = mg.from_array(np.zeros((3, 64, 64)), scale=0.2, units="nm")
    >>> d.nav_shape, d.sig_shape, d.axes[-1].units
    ((3,), (64, 64), 'nm')
    """

    __slots__ = ("_data", "_axes", "_title", "_metadata", "_original_metadata", "_intensity",
                 "_provenance", "__weakref__")

    def __init__(self, data: Any, axes: Iterable[Axis] | None = None, *, title: str = "",
                 metadata: Mapping[str, Any] | None = None,
                 original_metadata: Mapping[str, Any] | None = None,
                 intensity: Intensity | None = None, provenance: Any = None):
        data = _readonly(data)
        shape = tuple(int(s) for s in data.shape)
        if axes is None:
            axes = default_axes(shape, min(2, len(shape)))
        axes = tuple(axes)
        if len(axes) != len(shape):
            raise ParameterError(
                f"dataset has {len(shape)} dimensions {shape} but {len(axes)} axes were given")
        for i, (ax, n) in enumerate(zip(axes, shape)):
            if not isinstance(ax, Axis):
                raise ParameterError(f"axis {i} is not an Axis: {ax!r}")
            if ax.size != n:
                raise ParameterError(
                    f"axis {i} ({ax.name!r}) has size {ax.size} but the data has {n} there")
        navs = [a.navigate for a in axes]
        if navs != sorted(navs, reverse=True):
            raise ParameterError("navigation axes must come before signal axes: "
                                 + ", ".join(f"{a.name}{'*' if a.navigate else ''}" for a in axes))
        self._data = data
        self._axes = axes
        self._title = str(title)
        self._metadata = freeze(metadata or {})
        self._original_metadata = freeze(original_metadata or {})
        self._intensity = intensity or Intensity()
        self._provenance = provenance

    # -- the public contract -------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The array (numpy read-only, dask or cupy)."""
        return self._data

    @property
    def axes(self) -> tuple[Axis, ...]:
        """One :class:`Axis` per dimension, navigation axes first."""
        return self._axes

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Normalised, read-only metadata tree."""
        return self._metadata

    @property
    def original_metadata(self) -> Mapping[str, Any]:
        """Read-only metadata exactly as the file gave it."""
        return self._original_metadata

    @property
    def title(self) -> str:
        """Human-readable name."""
        return self._title

    @property
    def intensity(self) -> Intensity:
        """Calibration of the data values."""
        return self._intensity

    @property
    def provenance(self) -> Any:
        """How the dataset was made (a :class:`micrographia.provenance.Ref`), or None."""
        return self._provenance

    # -- derived -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape."""
        return tuple(a.size for a in self._axes)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._axes)

    @property
    def dtype(self) -> np.dtype:
        """Data type of the array."""
        return np.dtype(self._data.dtype)

    @property
    def nbytes(self) -> int:
        """Size of the array in bytes (even when lazy)."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def nav_axes(self) -> tuple[Axis, ...]:
        """Navigation axes."""
        return tuple(a for a in self._axes if a.navigate)

    @property
    def sig_axes(self) -> tuple[Axis, ...]:
        """Signal axes."""
        return tuple(a for a in self._axes if not a.navigate)

    @property
    def nav_shape(self) -> tuple[int, ...]:
        """Shape of the navigation axes."""
        return tuple(a.size for a in self.nav_axes)

    @property
    def sig_shape(self) -> tuple[int, ...]:
        """Shape of the signal axes."""
        return tuple(a.size for a in self.sig_axes)

    @property
    def signal_dims(self) -> int:
        """Number of signal dimensions."""
        return len(self.sig_axes)

    @property
    def is_lazy(self) -> bool:
        """True when the data is a dask array (not yet loaded)."""
        return _is_lazy(self._data)

    @property
    def on_gpu(self) -> bool:
        """True when the data is a cupy array."""
        return _is_cupy(self._data)

    @property
    def kind(self) -> str:
        """What the axes describe.

        One of ``"image"``, ``"stack"``, ``"spectrum"``, ``"spectrum_image"``, ``"4d"``,
        ``"signal1d_stack"``, ``"image_series"`` (more than one navigation dimension of images),
        ``"scalar_map"`` (no signal axes) or ``"nd"``.
        """
        n, s = len(self.nav_axes), self.signal_dims
        if s == 2:
            return {0: "image", 1: "stack", 2: "4d"}.get(n, "image_series")
        if s == 1:
            return {0: "spectrum", 1: "signal1d_stack", 2: "spectrum_image"}.get(n, "nd")
        if s == 0:
            return "scalar_map"
        return "nd"

    def axis(self, key: int | str) -> Axis:
        """Return an axis by index or name.

        Parameters
        ----------
        key : int or str
            Position or name.

        Returns
        -------
        Axis
            The axis.
        """
        return self._axes[self.axis_index(key)]

    def axis_index(self, key: int | str) -> int:
        """Return the position of an axis given by index or name.

        Parameters
        ----------
        key : int or str
            Position (negative counts from the end) or name.

        Returns
        -------
        int
            The non-negative position.
        """
        if isinstance(key, (int, np.integer)):
            k = int(key)
            if not -self.ndim <= k < self.ndim:
                raise ParameterError(f"axis index {k} out of range for {self.ndim} dimensions")
            return k % self.ndim
        for i, a in enumerate(self._axes):
            if a.name == key:
                return i
        raise ParameterError(
            f"no axis named {key!r}; axes are {', '.join(a.name for a in self._axes)}")

    def numpy(self) -> np.ndarray:
        """Return the data as a numpy array (computing dask, copying from the GPU).

        Returns
        -------
        numpy.ndarray
            The values; read-only when no conversion was needed.
        """
        d = self._data
        if _is_lazy(d):
            d = d.compute()
        if _is_cupy(d):
            d = d.get()
        return np.asarray(d)

    def compute(self) -> Dataset:
        """Return a dataset whose data is loaded into memory as numpy.

        Returns
        -------
        Dataset
            ``self`` if already in memory, else a new in-memory dataset.
        """
        if isinstance(self._data, np.ndarray):
            return self
        return self.replace(data=self.numpy())

    def replace(self, **changes: Any) -> Dataset:
        """Return a new dataset with some fields changed (the original is untouched).

        Parameters
        ----------
        **changes
            Any of ``data, axes, title, metadata, original_metadata, intensity, provenance``.

        Returns
        -------
        Dataset
            The new dataset.
        """
        fields = dict(data=self._data, axes=self._axes, title=self._title,
                      metadata=self._metadata, original_metadata=self._original_metadata,
                      intensity=self._intensity, provenance=self._provenance)
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown Dataset fields: {sorted(unknown)}")
        fields.update(changes)
        data = fields.pop("data")
        axes = fields.pop("axes")
        return Dataset(data, axes, **fields)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        nav = ", ".join(f"{a.name}:{a.size}" for a in self.nav_axes)
        sig = ", ".join(f"{a.name}:{a.size}" for a in self.sig_axes)
        lazy = " lazy" if self.is_lazy else ""
        return f"<Dataset {self._title!r} ({nav} | {sig}) {self.dtype}{lazy}>"


class Table:
    """A table of named columns: the one result type for measurements, shifts, peaks ...

    Parameters
    ----------
    columns : mapping of str to array_like
        Column name to 1-D values; all columns have the same length.
    units : mapping of str to str, optional
        Units of some columns.
    title : str
        Human-readable name.
    metadata : mapping, optional
        Extra information (e.g. the source dataset's calibration).
    provenance : Provenance, optional
        How the table was made.

    Examples
    --------
    >>> import micrographia as mg
    >>> t = mg.Table({"dx": [0.0, 1.5], "dy": [0.0, -0.25]}, units={"dx": "px", "dy": "px"})
    >>> t.columns, t["dx"].tolist(), len(t)
    (('dx', 'dy'), [0.0, 1.5], 2)
    """

    __slots__ = ("_columns", "_units", "_title", "_metadata", "_provenance", "__weakref__")

    def __init__(self, columns: Mapping[str, Any], *, units: Mapping[str, str] | None = None,
                 title: str = "", metadata: Mapping[str, Any] | None = None,
                 provenance: Any = None):
        cols: dict[str, np.ndarray] = {}
        length = None
        for name, values in columns.items():
            a = np.asarray(values)
            if a.ndim != 1:
                raise ParameterError(f"column {name!r} must be 1-D, got shape {a.shape}")
            if length is None:
                length = a.shape[0]
            elif a.shape[0] != length:
                raise ParameterError(
                    f"column {name!r} has {a.shape[0]} rows, expected {length}")
            a = a.copy()
            a.flags.writeable = False
            cols[str(name)] = a
        self._columns = cols
        self._units = {k: str(v) for k, v in (units or {}).items() if k in cols}
        self._title = str(title)
        self._metadata = freeze(metadata or {})
        self._provenance = provenance

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(self._columns)

    @property
    def units(self) -> Mapping[str, str]:
        """Units of the columns that have them."""
        return MappingProxyType(self._units)

    @property
    def title(self) -> str:
        """Human-readable name."""
        return self._title

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Read-only extra information."""
        return self._metadata

    @property
    def provenance(self) -> Any:
        """How the table was made, or None."""
        return self._provenance

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {', '.join(self._columns)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return 0 if not self._columns else len(next(iter(self._columns.values())))

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Iterate over rows as tuples of Python scalars.

        Yields
        ------
        tuple
            One value per column.
        """
        cols = list(self._columns.values())
        for i in range(len(self)):
            yield tuple(c[i].item() for c in cols)

    def replace(self, **changes: Any) -> Table:
        """Return a new table with some fields changed.

        Parameters
        ----------
        **changes
            Any of ``columns, units, title, metadata, provenance``.

        Returns
        -------
        Table
            The new table.
        """
        fields = dict(columns=self._columns, units=self._units, title=self._title,
                      metadata=self._metadata, provenance=self._provenance)
        fields.update(changes)
        cols = fields.pop("columns")
        return Table(cols, **fields)

    def __repr__(self) -> str:
        return f"<Table {self._title!r} {len(self)} rows: {', '.join(self.columns)}>"
