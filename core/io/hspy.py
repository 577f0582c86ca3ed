"""HyperSpy's HDF5 format (``.hspy``/``.hdf5``) with the provenance log embedded.

Files are written with RosettaSciIO's HSPY writer (HyperSpy's own layout) from a complete
signal dictionary, with fixed chunking and no timestamps, so writing the same dataset twice
gives byte-identical files. h5py and RosettaSciIO are imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..dataset import Dataset
from ..errors import FileReadError

__all__ = ["write_hspy", "read_provenance_hspy", "PROVENANCE_ATTR_LIMIT"]

# HDF5 attributes in the compact storage HyperSpy files use must stay under 64 KiB; longer
# logs go into a string dataset instead of an attribute.
PROVENANCE_ATTR_LIMIT = 60_000


def _chunks(ds: Dataset) -> tuple[int, ...] | None:
    if ds.ndim == 0 or 0 in ds.shape:
        return None
    try:
        from rsciio._hierarchical import get_signal_chunks
    except ImportError:  # pragma: no cover - private helper moved
        return None
    sig = [i for i, a in enumerate(ds.axes) if not a.navigate]
    return tuple(int(c) for c in get_signal_chunks(ds.shape, ds.dtype, sig))


def write_hspy(ds: Dataset, path: Path, *, provenance_log: str | None = None,
               display: Mapping[str, Any] | None = None, compression: str | None = "gzip",
               **options: Any) -> None:
    """Write a dataset in HyperSpy's HDF5 layout.

    Parameters
    ----------
    ds : Dataset
        The dataset (numpy or dask; dask is written chunk by chunk).
    path : Path
        Target file (written directly; the caller makes the write atomic).
    provenance_log : str, optional
        Stored at ``metadata.Micrographia.provenance``.
    display : mapping, optional
        Stored at ``metadata.Micrographia.display``.
    compression : str or None
        HDF5 compression filter (``"gzip"`` by default, as HyperSpy).
    **options
        ``chunks`` (HDF5 chunk shape; default: whole signals per chunk, as HyperSpy), other
        options are passed to ``rsciio.hspy.file_writer``.
    """
    import h5py
    from rsciio.hspy import file_writer

    from ._convert import dataset_to_signal

    if ds.on_gpu:
        ds = ds.replace(data=ds.numpy())
    long_log = provenance_log if (provenance_log and len(provenance_log.encode("utf-8"))
                                  > PROVENANCE_ATTR_LIMIT) else None
    signal = dataset_to_signal(ds, provenance_log=None if long_log else provenance_log,
                               display=display)
    chunks = options.pop("chunks", _chunks(ds))
    # RosettaSciIO writes the HyperSpy tree (axes, metadata, attributes); the data set is
    # created and filled here, chunk by chunk in C order, so that a lazy (dask) dataset is
    # never loaded whole and gives the same bytes as an eager write of the same values.
    if path.exists() and path.stat().st_size == 0:
        path.unlink()  # the writer appends (mode "a") to an HDF5 file: start from none
    file_writer(str(path), signal, write_dataset=False, show_progressbar=False, **options)
    with h5py.File(path, "r+") as f:
        exp = next(iter(f["Experiments"].values()))
        filters: dict[str, Any] = {}
        if chunks is not None and compression:
            filters = {"compression": compression, "shuffle": True}
        dset = exp.create_dataset("data", shape=ds.shape, dtype=ds.dtype, chunks=chunks,
                                  track_times=False, **filters)
        _fill(dset, ds.data)
        if long_log:
            grp = exp.require_group("metadata/Micrographia")
            grp.create_dataset("provenance", data=long_log,
                               dtype=h5py.string_dtype("utf-8"), track_times=False)


def _fill(dset: Any, data: Any) -> None:
    """Write ``data`` into ``dset``; dask arrays one chunk at a time, in C order."""
    import numpy as np

    if 0 in dset.shape:
        return
    if type(data).__module__.split(".")[0] != "dask":
        dset[...] = np.ascontiguousarray(data)
        return
    if dset.chunks is not None:
        data = data.rechunk(dset.chunks)
    for idx in np.ndindex(*data.numblocks):
        block = data.blocks[idx]
        starts = [sum(c[:i]) for c, i in zip(data.chunks, idx)]
        region = tuple(slice(s0, s0 + n) for s0, n in zip(starts, block.shape))
        dset[region] = np.ascontiguousarray(block.compute(scheduler="synchronous"))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "shape") and getattr(value, "shape", None) == ():
        return _text(value[()])
    return str(value)


def read_provenance_hspy(path: Path) -> str:
    """Return the provenance log stored in an ``.hspy`` file ("" when there is none).

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    str
        The log text.

    Raises
    ------
    FileReadError
        If the file cannot be opened as HDF5.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            exps = f.get("Experiments")
            if not isinstance(exps, h5py.Group):
                return ""
            for exp in exps.values():
                grp = exp.get("metadata/Micrographia") if isinstance(exp, h5py.Group) else None
                if not isinstance(grp, h5py.Group):
                    continue
                if "provenance" in grp.attrs:
                    return _text(grp.attrs["provenance"])
                if isinstance(grp.get("provenance"), h5py.Dataset):
                    return _text(grp["provenance"][()])
            return ""
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such file") from None
    except OSError as exc:
        raise FileReadError(f"{path}: not a readable HDF5 file ({' '.join(str(exc).split())})"
                            ) from None
