"""Reading every format RosettaSciIO knows, chosen by extension.

RosettaSciIO and its readers are imported on first use, never when this module is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..dataset import Dataset
from ..errors import FileReadError, UnknownFormatError

__all__ = ["read_vendor", "plugins_for", "plugin_specs", "readable_extensions"]

_logger = logging.getLogger("micrographia.io")

# Readers whose optional dependency is missing here, tried last so that a working reader of
# the same extension answers first (MRCZ claims .mrc but needs the mrcz package).
_TRY_LAST = {"MRCZ", "USID", "Arina", "Delmic", "Tofwerk", "Impulse", "Protochips"}
_NOISE = ("Falling back to slow pure python code",)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        msg = record.getMessage()
        return not any(n in msg for n in _NOISE)


_FILTER = _DropNoise()


@lru_cache(maxsize=1)
def plugin_specs() -> tuple[dict[str, Any], ...]:
    """Return RosettaSciIO's plugin specifications (cheap: no reader is imported).

    Returns
    -------
    tuple of dict
        ``IO_PLUGINS`` entries.
    """
    import rsciio

    return tuple(rsciio.IO_PLUGINS)


def plugins_for(ext: str) -> list[dict[str, Any]]:
    """Return the RosettaSciIO plugins that claim an extension, best first.

    Parameters
    ----------
    ext : str
        Extension without the dot, any case.

    Returns
    -------
    list of dict
        Plugin specifications.
    """
    ext = ext.lower().lstrip(".")
    found = [p for p in plugin_specs() if ext in (e.lower() for e in p["file_extensions"])]
    # the plugin whose default extension this is goes first (HSPY for .hdf5, not Delmic)
    found.sort(key=lambda p: (p["name"] in _TRY_LAST,
                              p["file_extensions"][p.get("default_extension", 0)].lower() != ext))
    return found


def readable_extensions() -> list[str]:
    """Return every extension (lower case, no dot) some RosettaSciIO plugin reads.

    Returns
    -------
    list of str
        Sorted extensions.
    """
    return sorted({e.lower() for p in plugin_specs() for e in p["file_extensions"]})


@contextlib.contextmanager
def quiet_readers() -> Iterator[list[warnings.WarningMessage]]:
    """Collect reader warnings and drop known noise from RosettaSciIO's loggers.

    Yields
    ------
    list of warnings.WarningMessage
        The warnings raised inside the block.
    """
    rs_logger = logging.getLogger("rsciio")
    rs_logger.addFilter(_FILTER)
    for name in ("rsciio.utils._decorator",):
        logging.getLogger(name).addFilter(_FILTER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield caught
        finally:
            rs_logger.removeFilter(_FILTER)


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, FileReadError):
        return text
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _call_reader(spec: dict[str, Any], path: Path, lazy: bool) -> list[dict[str, Any]]:
    mod = importlib.import_module(spec["api"])
    kwargs: dict[str, Any] = {"lazy": lazy}
    if spec["name"] == "EMD":
        try:
            return mod.file_reader(str(path), **kwargs)
        except ModuleNotFoundError as exc:
            if "sparse" not in str(exc):
                raise
            # RosettaSciIO wants the optional `sparse` package for Velox EDS spectrum images;
            # decode the stream densely here instead (eager; made lazy afterwards if asked).
            from ._velox import read_velox_dense

            try:
                return read_velox_dense(path)
            except Exception as dense_exc:  # noqa: BLE001 - fall back to the other signals
                out = _read_velox_without_si(path)
                _logger.warning("%s: the EDS spectrum image was skipped (%s); install the "
                                "optional 'sparse' package to read it", path.name,
                                _cause(dense_exc))
                return out
    if spec["name"] in ("HSPY",):
        kwargs["mode"] = "r"
    return mod.file_reader(str(path), **kwargs)


def _read_velox_without_si(path: Path) -> list[dict[str, Any]]:
    """Read the images and spectra of a Velox EMD file, skipping its spectrum stream."""
    import h5py
    from rsciio.emd._emd_velox import FeiEMDReader

    class _NoSpectrumImage(FeiEMDReader):  # type: ignore[misc]
        def _read_data(self, select_type: Any) -> None:
            if self.im_type == "SpectrumStream":
                self.load_images = self.load_single_spectrum = True
                self.load_SI = False
                self._read_single_spectrum()
                self._read_images()
            else:
                super()._read_data(select_type)

    with h5py.File(path, "r") as f:
        reader = _NoSpectrumImage(lazy=False)
        reader.read_file(f)
        return list(reader.dictionaries)


def _check_complete(path: Path) -> None:
    """Catch truncations that a reader would silently fill with zeros."""
    import struct

    if path.suffix.lower() == ".bcf":
        # Bruker SFS container: chunk size at 0x128 and number of chunks at 0x148; the
        # chunks follow the header, so a shorter file lost data (rsciio reads zeros there).
        with open(path, "rb") as f:
            head = f.read(0x14C)
        if len(head) == 0x14C and head[:8] == b"AAMVHFSS":
            (chunk,) = struct.unpack_from("<I", head, 0x128)
            (n_chunks,) = struct.unpack_from("<I", head, 0x148)
            need = chunk * n_chunks
            size = path.stat().st_size
            if 0 < need and size < need:
                raise FileReadError(f"{path}: the file is truncated ({size} bytes; the Bruker "
                                    f"container declares at least {need})")


def read_vendor(path: Path, *, lazy: bool = False) -> list[Dataset]:
    """Read a file with the RosettaSciIO plugin(s) that claim its extension.

    Parameters
    ----------
    path : Path
        The file.
    lazy : bool
        Return dask arrays.

    Returns
    -------
    list of Dataset
        One per signal in the file.

    Raises
    ------
    UnknownFormatError
        If no plugin reads the extension.
    FileReadError
        If every candidate reader failed (the message names the file and the cause).
    """
    from ._convert import signal_to_dataset

    ext = path.suffix.lower().lstrip(".")
    specs = plugins_for(ext)
    if not specs:
        raise UnknownFormatError(
            f"{path}: unknown file extension {path.suffix or '(none)'!r}; readable extensions: "
            + ", ".join(f".{e}" for e in _all_readable()))
    _check_complete(path)
    errors: list[tuple[str, BaseException]] = []
    for spec in specs:
        with quiet_readers() as caught:
            try:
                try:
                    signals = _call_reader(spec, path, lazy)
                except ImportError:
                    raise
                except Exception:
                    if not lazy:
                        raise
                    # some readers cannot load lazily (e.g. DM RGB images): load eagerly,
                    # the conversion wraps the arrays in dask
                    signals = _call_reader(spec, path, False)
                if not signals:
                    raise FileReadError("the file holds no signal")
                out = [signal_to_dataset(s, fallback_title=path.stem, lazy=lazy,
                                         reader=spec["name"]) for s in signals]
                empty = [d for d in out if 0 in d.shape]
                if empty:
                    raise FileReadError(f"no data in the file (signal shape {empty[0].shape}); "
                                        "it may be truncated")
            except MemoryError:
                raise FileReadError(f"{path}: not enough memory to load it; open it lazily "
                                    "(lazy=True) to work on it piece by piece") from None
            except Exception as exc:  # noqa: BLE001 - any reader failure becomes FileReadError
                errors.append((spec["name"], exc))
                continue
        for w in caught:
            msg = str(w.message)
            if any(n in msg for n in _NOISE):
                continue
            if issubclass(w.category, (ResourceWarning, DeprecationWarning,
                                       PendingDeprecationWarning)):
                _logger.debug("%s: %s", path.name, msg)  # about the reader, not the file
                continue
            _logger.warning("%s: %s", path.name, msg)
        return out
    # prefer the error of a reader that could run over a missing optional dependency
    real = [(n, e) for n, e in errors if not isinstance(e, ImportError)] or errors
    name, exc = real[0]
    raise FileReadError(f"{path}: cannot be read as {name} ({_cause(exc)})")


def _all_readable() -> list[str]:
    return sorted(set(readable_extensions()) | {"tif", "tiff", "png", "jpg", "jpeg"})
