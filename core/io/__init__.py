"""File input and output.

* :func:`read` reads every format RosettaSciIO reads (DM3/DM4, Velox and Berkeley EMD, Bruker
  BCF, TIA, MRC, Merlin MIB, blockfile, HSPY, MSA, TIFF, PNG/JPEG ...) into datasets laid out
  as HyperSpy shows them: navigation axes first, signal axes last.
* :func:`write` writes atomically (temporary file, fsync, rename): ``.hspy``/``.hdf5``
  (HyperSpy's layout with the provenance log embedded; byte-identical for identical input),
  ``.tif``/``.tiff`` (calibrated), ``.png``/``.jpg`` (rendered with the display settings),
  ``.csv`` (tables). Other formats are refused with a clear message: RosettaSciIO's other
  writers (NCEM EMD, NumPy ...) do not keep the navigation/signal split or the calibration.
* :func:`read_provenance`, :func:`read_table`, :func:`formats` and :func:`describe`.

Heavy libraries (RosettaSciIO, h5py, dask, tifffile, Pillow) are imported on first use.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..dataset import Dataset, Table
from ..errors import FileReadError, FileWriteError, MicrographiaError
from .table import read_table

__all__ = ["read", "write", "read_provenance", "read_table", "formats", "describe",
           "FormatInfo", "WRITABLE_EXTENSIONS"]

_HSPY = ("hspy", "hdf5")
_TIFF = ("tif", "tiff")
_RASTER = ("png", "jpg", "jpeg")
WRITABLE_EXTENSIONS = (*_HSPY, *_TIFF, *_RASTER, "csv")


@dataclasses.dataclass(frozen=True)
class FormatInfo:
    """One file format.

    Parameters
    ----------
    name : str
        Short name (RosettaSciIO's plugin name for vendor formats).
    description : str
        One line.
    extensions : tuple of str
        Lower-case extensions without the dot.
    read : bool
        Micrographia reads it.
    write : bool
        Micrographia writes it.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    read: bool
    write: bool


# -- reading -------------------------------------------------------------------------------
def read(path: Path, *, lazy: bool = False) -> list[Dataset]:
    """Read every signal in a file.

    Parameters
    ----------
    path : Path
        The file; the reader is chosen by extension (when several RosettaSciIO plugins claim
        it, they are tried in turn).
    lazy : bool
        Return dask arrays instead of loading the data.

    Returns
    -------
    list of Dataset
        One per signal, navigation axes first and signal axes last (HyperSpy's order; DM
        spectrum images come out as ``(y, x | E)``). Titles come from ``General.title`` (the
        file stem when absent); ``metadata`` is RosettaSciIO's HyperSpy-style tree.

    Raises
    ------
    UnknownFormatError
        If no reader handles the extension (the message lists the readable ones).
    FileReadError
        If the file is missing, empty, truncated or corrupt (one line naming the file and
        the cause).
    """
    from .vendor import read_vendor

    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such file") from None
    except OSError as exc:
        raise FileReadError(f"{path}: cannot access the file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise FileReadError(f"{path}: is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise FileReadError(f"{path}: permission denied")
    if st.st_size == 0:
        if path.suffix.lower().lstrip(".") not in _known_read_extensions():
            read_vendor(path, lazy=lazy)  # raises UnknownFormatError
        raise FileReadError(f"{path}: the file is empty (0 bytes)")
    if path.suffix.lower() == ".csv" and _is_our_table(path):
        raise FileReadError(f"{path}: is a Micrographia table; read it with read_table()")
    try:
        return read_vendor(path, lazy=lazy)
    except MicrographiaError:
        raise
    except Exception as exc:  # noqa: BLE001 - never let a raw exception escape
        raise FileReadError(f"{path}: {type(exc).__name__}: {exc}") from None


def _is_our_table(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().startswith("# micrographia table")
    except OSError:
        return False


def _known_read_extensions() -> set[str]:
    from .vendor import readable_extensions

    return set(readable_extensions()) | set(_TIFF) | set(_RASTER)


def read_provenance(path: Path) -> str:
    """Return the provenance log embedded in a file written by :func:`write`.

    Parameters
    ----------
    path : Path
        An ``.hspy``/``.hdf5`` file (other formats carry no log and give ``""``).

    Returns
    -------
    str
        The log text, or ``""`` when the file has none (e.g. written by HyperSpy).

    Raises
    ------
    FileReadError
        If the file is missing or cannot be read.
    """
    from .hspy import read_provenance_hspy

    path = Path(path)
    if not path.is_file():
        raise FileReadError(f"{path}: no such file")
    if path.suffix.lower().lstrip(".") in _HSPY:
        return read_provenance_hspy(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise FileReadError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if head == b"\x89HDF\r\n\x1a\n":
        return read_provenance_hspy(path)
    return ""


# -- writing -------------------------------------------------------------------------------
def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, writer: Callable[[Path], Any]) -> Path:
    """Run ``writer(tmp)`` on a temporary file beside ``path``, then rename it into place.

    Parameters
    ----------
    path : Path
        Final file.
    writer : callable
        Writes the whole file to the path it is given.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileWriteError
        If anything fails; the temporary file is removed and an existing ``path`` is intact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot create the folder {path.parent} "
                             f"({exc.strerror or exc})") from None
    if path.is_dir():
        raise FileWriteError(f"{path}: is a folder")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                        dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write in {path.parent} "
                             f"({exc.strerror or exc})") from None
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            # keep the permissions of the file being replaced
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(exc, FileWriteError):
            raise
        if isinstance(exc, MicrographiaError):
            raise FileWriteError(f"{path}: {exc}") from None
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise FileWriteError(f"{path}: could not be written ({type(exc).__name__}: {msg})"
                             ) from None
    return path


def _write_tiff(ds: Dataset, tmp: Path, **options: Any) -> None:
    from rsciio.tiff import file_writer

    from ._convert import dataset_to_signal

    if ds.signal_dims != 2 or len(ds.nav_axes) > 1:
        raise FileWriteError(f"TIFF holds images and image stacks; this is a {ds.kind} with "
                             f"shape {ds.shape} (save it as .hspy)")
    sig = dataset_to_signal(ds)
    if ds.is_lazy or ds.on_gpu:
        sig["data"] = ds.numpy()
    file_writer(str(tmp), sig, **options)


def _write_raster(ds: Dataset, tmp: Path, display: Mapping[str, Any] | None,
                  ext: str, **options: Any) -> None:
    from PIL import Image

    from .render import render

    rgb = render(ds, display)
    fmt = "PNG" if ext == "png" else "JPEG"
    if fmt == "JPEG":
        options.setdefault("quality", 95)
    Image.fromarray(rgb).save(tmp, format=fmt, **options)


def write(obj: Dataset | Table, path: Path, *, provenance_log: str | None = None,
          display: Mapping[str, Any] | None = None, **options: Any) -> Path:
    """Write a dataset or table atomically; the format follows the extension.

    Parameters
    ----------
    obj : Dataset or Table
        What to write. Tables go to ``.csv`` only; datasets to every other format.
    path : Path
        Target file; missing parent folders are created.
    provenance_log : str, optional
        Log text embedded in ``.hspy`` files (``metadata.Micrographia.provenance``).
    display : mapping, optional
        Display settings: embedded in ``.hspy`` (``metadata.Micrographia.display``) and
        used to render ``.png``/``.jpg`` (``frame`` selects the frame of a stack).
    **options
        Passed to the writer (e.g. ``compression`` or ``chunks`` for ``.hspy``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    FileWriteError
        If the object does not fit the format or the file cannot be written; a previous file
        at ``path`` stays intact and no temporary file is left behind.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if path.is_dir():
        raise FileWriteError(f"{path}: is a folder, not a file")
    if isinstance(obj, Table):
        if ext != "csv":
            raise FileWriteError(f"{path}: tables are written as .csv, not "
                                 f"{path.suffix or '(no extension)'}")
        from .table import table_to_csv_text

        text = table_to_csv_text(obj)

        def _w(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(text)

        return atomic_write(path, _w)
    if not isinstance(obj, Dataset):
        raise FileWriteError(f"{path}: can write a Dataset or a Table, not "
                             f"{type(obj).__name__}")
    if ext == "csv":
        raise FileWriteError(f"{path}: .csv holds tables only; save a dataset as .hspy, .tif "
                             "or .png")
    if ext in _HSPY:
        from .hspy import write_hspy

        return atomic_write(path, lambda tmp: write_hspy(
            obj, tmp, provenance_log=provenance_log, display=display, **options))
    if ext in _TIFF:
        return atomic_write(path, lambda tmp: _write_tiff(obj, tmp, **options))
    if ext in _RASTER:
        return atomic_write(path, lambda tmp: _write_raster(obj, tmp, display, ext, **options))
    raise FileWriteError(f"{path}: cannot write {path.suffix or 'files without an extension'}; "
                         "writable extensions: "
                         + ", ".join(f".{e}" for e in WRITABLE_EXTENSIONS))


# -- formats and description ---------------------------------------------------------------
_OWN = (
    FormatInfo("HyperSpy HDF5", "HyperSpy's format; Micrographia embeds the provenance log",
               ("hspy", "hdf5"), True, True),
    FormatInfo("TIFF", "calibrated TIFF images and stacks; ImageJ and vendor tags",
               ("tif", "tiff"), True, True),
    FormatInfo("PNG/JPEG", "images rendered with the display settings: colormap, contrast",
               ("png", "jpg", "jpeg"), True, True),
    FormatInfo("CSV table", "result tables with units", ("csv",), True, True),
)
_OWN_PLUGINS = {"HSPY", "TIFF"}


def formats() -> list[FormatInfo]:
    """List the formats Micrographia reads and writes.

    RosettaSciIO plugins are listed when their reader module is installed (checked with
    ``importlib.util.find_spec`` for the plugin and its third-party dependency, without
    importing readers).

    Returns
    -------
    list of FormatInfo
        Micrographia's own formats first, then RosettaSciIO's.
    """
    from .vendor import plugin_specs

    out = list(_OWN)
    for spec in plugin_specs():
        if spec["name"] in _OWN_PLUGINS or not _reader_available(spec):
            continue
        exts = tuple(dict.fromkeys(e.lower() for e in spec["file_extensions"]))
        if spec["name"] == "Image":  # PNG/JPEG are listed above (read and written)
            exts = tuple(e for e in exts if e not in _RASTER)
        desc = " ".join(str(spec.get("description", "")).split())
        desc = desc.split(". ")[0].rstrip(".")  # the first sentence
        if len(desc) > 90:
            desc = desc[:87].rsplit(" ", 1)[0] + "..."
        out.append(FormatInfo(spec["name"], desc, exts, True, False))
    return out


# Third-party modules some readers need beyond Micrographia's dependencies.
_EXTRA_DEPS = {"MRCZ": "mrcz", "USID": "pyUSID", "Arina": "hdf5plugin"}


def _reader_available(spec: Mapping[str, Any]) -> bool:
    import importlib.util

    try:
        if importlib.util.find_spec(spec["api"]) is None:
            return False
        extra = _EXTRA_DEPS.get(spec["name"])
        return extra is None or importlib.util.find_spec(extra) is not None
    except (ImportError, ValueError):
        return False


def _get(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


_KEY_METADATA = (
    ("microscope", "Acquisition_instrument.TEM.microscope"),
    ("microscope", "Acquisition_instrument.SEM.microscope"),
    ("beam energy (kV)", "Acquisition_instrument.TEM.beam_energy"),
    ("beam energy (kV)", "Acquisition_instrument.SEM.beam_energy"),
    ("acquisition mode", "Acquisition_instrument.TEM.acquisition_mode"),
    ("magnification", "Acquisition_instrument.TEM.magnification"),
    ("camera length", "Acquisition_instrument.TEM.camera_length"),
    ("date", "General.date"),
    ("time", "General.time"),
    ("signal type", "Signal.signal_type"),
    ("author", "General.authors"),
    ("sample", "Sample.description"),
    ("elements", "Sample.elements"),
)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def describe(datasets: list[Dataset], path: Path) -> str:
    """Describe the signals read from a file (``micrographia info``).

    Parameters
    ----------
    datasets : list of Dataset
        As returned by :func:`read`.
    path : Path
        The file (for the heading).

    Returns
    -------
    str
        For every signal: index, title, kind, shape as (navigation | signal), dtype, lazy or
        in memory; a table of axes (name, size, scale, offset, units, role); and key metadata
        (microscope, beam energy, acquisition mode, date, time, signal type ...).
    """
    lines = [f"{path}: {len(datasets)} signal{'s' if len(datasets) != 1 else ''}"]
    for i, d in enumerate(datasets):
        nav = ", ".join(str(a.size) for a in d.nav_axes)
        sig = ", ".join(str(a.size) for a in d.sig_axes)
        lines.append("")
        lines.append(f"[{i}] {d.title!r}  {d.kind}  shape {d.shape} = ({nav} | {sig})  "
                     f"{d.dtype}  {'lazy' if d.is_lazy else 'in memory'}")
        rows = [("axis", "name", "size", "scale", "offset", "units", "role")]
        for k, a in enumerate(d.axes):
            rows.append((str(k), a.name, str(a.size), _fmt(a.scale), _fmt(a.offset),
                         a.units or "-", "navigation" if a.navigate else "signal"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        for r in rows:
            lines.append("    " + "  ".join(
                cell.rjust(w) if c in (0, 2, 3, 4) else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(r, widths))).rstrip())
        seen: set[str] = set()
        meta: list[tuple[str, str]] = []
        for label, key in _KEY_METADATA:
            v = _get(d.metadata, key)
            if label in seen or v is None or v == "" or v == ():
                continue
            seen.add(label)
            if isinstance(v, (list, tuple)):
                v = ", ".join(str(x) for x in v)
            meta.append((label, str(v)))
        if d.intensity.units:
            meta.append(("intensity units", d.intensity.units))
        if meta:
            w = max(len(k) for k, _ in meta)
            for k, v in meta:
                lines.append(f"    {k:<{w}} : {v}")
    return "\n".join(lines)
