"""Conversion of RosettaSciIO signal dictionaries to :class:`~micrographia.dataset.Dataset`.

Only numpy is imported here; dask is imported when a lazy array must be built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..dataset import Axis, Dataset, Intensity, default_axes

__all__ = ["signal_to_dataset", "dataset_to_signal", "normalise_length_units"]

_BAD_NAMES = {"", "<undefined>", "undefined", "none", "?"}
_BAD_UNITS = {"", "<undefined>", "undefined", "none"}
_SPECTRAL_TYPES = ("EELS", "EDS", "EDS_SEM", "EDS_TEM", "CL", "PL", "Raman")
# Length units rsciio sometimes gives in metres (TIFF readers): shown in nm / µm instead.
_LENGTH_PREFIXES = ((1e-9, "nm"), (1e-6, "µm"), (1e-3, "mm"))


# Entries of metadata.Micrographia that belong to one written file, not to the data.
_FILE_LEVEL_KEYS = ("provenance", "display", "intensity")

def normalise_length_units(scale: float, offset: float, units: str) -> tuple[float, float, str]:
    """Express a length in metres with a readable prefix (nm, µm or mm).

    Parameters
    ----------
    scale, offset : float
        Calibration in ``units``.
    units : str
        Units; only ``"m"`` is converted.

    Returns
    -------
    tuple
        ``(scale, offset, units)``.
    """
    if units != "m" or not scale:
        return scale, offset, units
    mag = abs(scale)
    for factor, name in _LENGTH_PREFIXES:
        if mag < factor * 1000:
            # Divide by the prefix factor through its reciprocal expressed as a power of ten
            # written exactly (1e9, 1e6, 1e3) so 1.1649976e-08 m gives 11.649976 nm.
            inv = {1e-9: 1e9, 1e-6: 1e6, 1e-3: 1e3}[factor]
            return float(scale * inv), float(offset * inv), name
    return scale, offset, units


# Reader-specific names given the usual short ones (TIFF and Bruker say height/width).
_RENAME = {"height": "y", "width": "x", "image series": "t"}


def _clean_name(name: Any) -> str | None:
    if name is None:
        return None
    s = str(name).strip()
    if s.lower() in _BAD_NAMES:
        return None
    return _RENAME.get(s, s)


def _axis_calibration(ax: Mapping[str, Any], size: int) -> tuple[float, float]:
    """Return (scale, offset), the best uniform approximation of a non-uniform axis."""
    coords = ax.get("axis")
    if coords is not None:
        c = np.asarray(coords, dtype=np.float64).ravel()
        if c.size >= 2 and np.all(np.isfinite(c)):
            # least-squares line through the coordinates
            idx = np.arange(c.size, dtype=np.float64)
            slope, intercept = np.polyfit(idx, c, 1)
            if slope != 0 and math.isfinite(slope):
                return float(slope), float(intercept)
        if c.size == 1 and math.isfinite(c[0]):
            return 1.0, float(c[0])
        return 1.0, 0.0
    scale = ax.get("scale", 1.0)
    offset = ax.get("offset", 0.0)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        scale = 1.0
    try:
        offset = float(offset)
    except (TypeError, ValueError):
        offset = 0.0
    if not math.isfinite(scale) or scale == 0:
        scale = 1.0
    if not math.isfinite(offset):
        offset = 0.0
    return scale, offset


def _get(tree: Mapping[str, Any] | None, dotted: str, default: Any = None) -> Any:
    node: Any = tree or {}
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _intensity(metadata: Mapping[str, Any]) -> Intensity | None:
    quantity = _get(metadata, "Signal.quantity")
    if not isinstance(quantity, str) or not quantity.strip():
        return None
    m = re.search(r"\(([^()]*)\)\s*$", quantity)
    if not m or not m.group(1).strip():
        return None
    return Intensity(units=m.group(1).strip())


def _plain(obj: Any) -> Any:
    """Make a metadata tree of plain Python / numpy values (drop callables and objects)."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            pv = _plain(v)
            if pv is not _DROP:
                out[str(k)] = pv
        return out
    if isinstance(obj, (list, tuple)):
        items = [_plain(v) for v in obj]
        items = [v for v in items if v is not _DROP]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, np.ndarray):
        return obj if obj.dtype != object else _DROP
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, bytes, bool, int, float, complex)):
        return obj
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return _DROP


_DROP = object()


def _slug(key: str) -> str:
    return re.sub(r"\W", "_", str(key)).strip("_").lower()


def _find(tree: Any, dotted: str) -> tuple[bool, Any]:
    """Look up a dotted path whose parts may be slugified versions of the keys."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return False, None
        if part in node:
            node = node[part]
            continue
        slug = _slug(part)
        for k in node:
            if _slug(k) == slug:
                node = node[k]
                break
        else:
            return False, None
    return True, node


def _apply_mapping(metadata: dict[str, Any], original: Mapping[str, Any],
                   mapping: Mapping[str, Any]) -> None:
    """Fill the metadata tree as HyperSpy does from a reader's ``mapping``.

    Each entry maps a dotted path in the original metadata to ``(metadata path, function)``.
    """
    for src, target in mapping.items():
        try:
            found, value = _find(original, str(src))
            if not found:
                continue
            dest, func = target
            if func is not None:
                value = func(value)
            if value is None:
                continue
            value = _plain(value)
            if value is _DROP:
                continue
            node = metadata
            parts = str(dest).split(".")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    break
            else:
                node[parts[-1]] = value
        except Exception:  # noqa: BLE001, S112 - a bad tag must not stop the read
            continue


_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am "
    "Cm Bk Cf Es Fm Md No Lr").split()


def _velox_elements(original: Mapping[str, Any]) -> list[str]:
    """Element symbols selected for quantification in a Velox file (atomic numbers there)."""
    settings = _get(original, "SharedProperties.EDSSpectrumQuantificationSettings")
    found: set[int] = set()
    if isinstance(settings, Mapping):
        for entry in settings.values():
            sel = entry.get("elementSelection") if isinstance(entry, Mapping) else None
            if isinstance(sel, (list, tuple, np.ndarray)):
                for z in np.asarray(sel).ravel():
                    try:
                        z = int(z)
                    except (TypeError, ValueError):
                        continue
                    if 1 <= z <= len(_SYMBOLS):
                        found.add(z)
    return [_SYMBOLS[z - 1] for z in sorted(found)]


def _rgb_to_grey(data: Any) -> tuple[Any, str]:
    """Turn a structured RGB(A) array into one grey channel.

    When R, G and B are equal everywhere (DM test files, greyscale PNGs saved as RGB) the R
    channel is returned unchanged (same integer dtype); otherwise ITU-R BT.601 luma as float32.
    """
    names = data.dtype.names
    r, g, b = data[names[0]], data[names[1]], data[names[2]]
    if np.array_equal(r, g) and np.array_equal(r, b):
        return np.ascontiguousarray(r), "R channel (R = G = B)"
    luma = (0.299 * r.astype(np.float32) + 0.587 * g.astype(np.float32)
            + 0.114 * b.astype(np.float32))
    return luma.astype(np.float32), "BT.601 luma"


def _is_dask(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "dask"


def signal_to_dataset(sig: Mapping[str, Any], *, fallback_title: str, lazy: bool,
                      reader: str = "") -> Dataset:
    """Convert one RosettaSciIO signal dictionary to a dataset.

    Parameters
    ----------
    sig : mapping
        ``data``, ``axes``, ``metadata``, ``original_metadata`` (and optionally
        ``post_process``) as RosettaSciIO returns them.
    fallback_title : str
        Title used when the metadata has none (usually the file stem).
    lazy : bool
        Keep (or make) the data a dask array; otherwise load it into numpy.
    reader : str
        Name of the RosettaSciIO plugin (for reader-specific fixes).

    Returns
    -------
    Dataset
        Navigation axes first, signal axes last, in HyperSpy's order.
    """
    data = sig["data"]
    metadata = _plain(sig.get("metadata") or {})
    original = _plain(sig.get("original_metadata") or {})
    _apply_mapping(metadata, sig.get("original_metadata") or {}, sig.get("mapping") or {})
    if (reader == "DigitalMicrograph"
            and _get(metadata, "Acquisition_instrument.TEM.microscope") is None):
        # HyperSpy's DM mapping misses some places DM keeps the microscope's name
        # (the user-entered session name first: "Microscope Info.Name" is often the name of
        # the microscope connection, e.g. "FEI Tecnai Remote" on a Titan)
        for tag in ("Session Info.Microscope", "source.Tags at creation.Session Info.Microscope",
                    "Microscope Info.Name"):
            found, name = _find(original, f"ImageList.TagGroup0.ImageTags.{tag}")
            if found and isinstance(name, str) and name.strip():
                tem = metadata.setdefault("Acquisition_instrument", {}).setdefault("TEM", {})
                if isinstance(tem, dict):
                    tem["microscope"] = name.strip()
                break
    if (reader == "EMD" and str(_get(metadata, "Signal.signal_type", "")).startswith("EDS")
            and not _get(metadata, "Sample.elements")):
        elements = _velox_elements(original)
        if elements:
            sample = metadata.setdefault("Sample", {})
            if isinstance(sample, dict):
                sample["elements"] = elements
    metadata.pop("_HyperSpy", None)
    ours = metadata.pop("Micrographia", None)
    saved_intensity = ours.get("intensity") if isinstance(ours, dict) else None
    if isinstance(ours, dict):  # keep user entries (e.g. ground truth), not the file-level ones
        kept = {k: v for k, v in ours.items() if k not in _FILE_LEVEL_KEYS}
        if kept:
            metadata["Micrographia"] = kept
    if isinstance(metadata.get("General"), dict):
        metadata["General"].pop("FileIO", None)

    # -- data: numpy or dask -----------------------------------------------------------
    if lazy:
        if not _is_dask(data):
            import dask.array as da

            data = da.from_array(data, chunks="auto")
    else:
        if _is_dask(data):
            data = data.compute()
        data = np.array(data, copy=True) if isinstance(data, np.memmap) else np.asarray(data)

    if data.dtype.names is not None and len(data.dtype.names) >= 3:
        # RGB(A) images are small: convert in memory so lazy and eager reads agree
        was_lazy = _is_dask(data)
        data, how = _rgb_to_grey(np.asarray(data.compute() if was_lazy else data))
        if was_lazy:
            import dask.array as da

            data = da.from_array(data, chunks="auto")
        metadata.setdefault("Signal", {})["rgb_conversion"] = how

    shape = tuple(int(s) for s in data.shape)
    raw_axes = list(sig.get("axes") or [])
    if len(raw_axes) != len(shape):
        raw_axes = [ax.to_dict() for ax in default_axes(shape, min(2, len(shape)))]
    # rsciio gives axes in array order; some give index_in_array explicitly.
    if all("index_in_array" in a for a in raw_axes):
        order = sorted(range(len(raw_axes)), key=lambda i: int(raw_axes[i]["index_in_array"]))
        raw_axes = [raw_axes[i] for i in order]
    navigate = [bool(a.get("navigate", False)) for a in raw_axes]
    if "navigate" not in (raw_axes[0] if raw_axes else {}):
        sd = min(2, len(shape))
        navigate = [i < len(shape) - sd for i in range(len(shape))]

    signal_type = str(_get(metadata, "Signal.signal_type", "") or "")
    post = sig.get("post_process") or []
    misordered = any(not navigate[i] and navigate[j]
                     for i in range(len(navigate)) for j in range(i + 1, len(navigate)))
    # DM spectrum images: rsciio returns (E | y, x) with E flagged navigate and asks HyperSpy
    # to call ``to_signal1D`` afterwards (a second post-process step); HyperSpy then shows
    # (y, x | E). Do the same here: swap the roles and move E last.
    to_spectrum = (reader == "DigitalMicrograph" and len(post) >= 2) or (
        misordered and signal_type.split("_")[0] in _SPECTRAL_TYPES)
    if to_spectrum and len(shape) >= 2 and sum(navigate) >= 1:
        navigate = [not n for n in navigate]
        # to_signal1D keeps one signal axis: the (first) former navigation axis
        first_sig = navigate.index(False)
        navigate = [True] * len(navigate)
        navigate[first_sig] = False
    perm = [i for i, n in enumerate(navigate) if n] + [i for i, n in enumerate(navigate) if not n]

    # HyperSpy's DM post-processing squeezes length-1 axes.
    squeeze = reader == "DigitalMicrograph" and len(shape) > 1

    nsig = sum(1 for n in navigate if not n)
    defaults = default_axes(tuple(shape[i] for i in perm), nsig)
    axes: list[Axis] = []
    used: set[str] = set()
    for k, i in enumerate(perm):
        ax = raw_axes[i]
        scale, offset = _axis_calibration(ax, shape[i])
        units = ax.get("units")
        units = "" if units is None or str(units).strip().lower() in _BAD_UNITS else str(units)
        if units == "":
            units = "px" if (scale == 1.0 and offset == 0.0) else ""
        if reader == "TIA" and units in ("nm", "1 / nm"):
            # rsciio 0.15 converts TIA scales from metres to nm but leaves the offsets in SI
            # units (m or 1/m): 03_Scanning Preview would start at -2.46e-08 "nm" instead of
            # -24.6 nm (a centred 49 nm field). Convert the offset the same way.
            offset = offset * 1e9 if units == "nm" else offset / 1e9
        scale, offset, units = normalise_length_units(scale, offset + 0.0, units)
        name = _clean_name(ax.get("name")) or defaults[k].name
        if name in used:
            name = f"{name}{k}"
        used.add(name)
        axes.append(Axis(name, shape[i], scale, offset, units, navigate=navigate[i]))

    if perm != list(range(len(shape))):
        data = data.transpose(perm)
        if not lazy:
            data = np.ascontiguousarray(data)

    if squeeze:
        keep = [i for i, a in enumerate(axes) if a.size != 1]
        if not keep:
            keep = [len(axes) - 1]
        if len(keep) < len(axes):
            data = data.reshape(tuple(axes[i].size for i in keep))
            axes = [axes[i] for i in keep]
            if all(a.navigate for a in axes):
                axes[-1] = axes[-1].replace(navigate=False)

    title = _get(metadata, "General.title")
    title = str(title) if isinstance(title, str) and title.strip() else fallback_title
    # the normalised tree always names the title and signal type (as HyperSpy's does), so a
    # dataset read from a file and written to .hspy reads back with equal metadata
    general = metadata.setdefault("General", {})
    if isinstance(general, dict):
        general["title"] = title
    sig_md = metadata.setdefault("Signal", {})
    if isinstance(sig_md, dict):
        sig_md.setdefault("signal_type", "")
    intensity = _intensity(metadata)
    if isinstance(saved_intensity, dict):
        try:
            intensity = Intensity(units=str(saved_intensity.get("units", "")),
                                  scale=float(saved_intensity.get("scale", 1.0)),
                                  offset=float(saved_intensity.get("offset", 0.0)))
        except (TypeError, ValueError):
            pass
    return Dataset(data, axes, title=title, metadata=metadata, original_metadata=original,
                   intensity=intensity)


def _writable(obj: Any) -> Any:
    """Replace values HDF5 attributes cannot hold (sets, dates, objects) by their text."""
    if isinstance(obj, dict):
        return {str(k).replace("/", "-"): _writable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_writable(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, (set, frozenset)):
        return sorted((_writable(v) for v in obj), key=repr)  # deterministic order
    if isinstance(obj, np.ndarray):
        return obj if obj.dtype != object else [_writable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, bytes, bool, int, float, complex)):
        return obj
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def dataset_to_signal(ds: Dataset, *, provenance_log: str | None = None,
                      display: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the RosettaSciIO/HyperSpy signal dictionary of a dataset.

    Parameters
    ----------
    ds : Dataset
        The dataset.
    provenance_log : str, optional
        Stored at ``metadata.Micrographia.provenance``.
    display : mapping, optional
        Stored at ``metadata.Micrographia.display``.

    Returns
    -------
    dict
        ``data, axes, metadata, original_metadata, attributes, tmp_parameters,
        learning_results, models, package_info``.
    """
    from ..dataset import thaw

    md = _writable(thaw(ds.metadata))
    previous = md.pop("Micrographia", None)
    md.pop("_HyperSpy", None)
    general = md.setdefault("General", {})
    general["title"] = ds.title
    md.setdefault("Signal", {}).setdefault("signal_type", "")
    mg: dict[str, Any] = {}
    if isinstance(previous, dict):  # user entries survive; provenance/display are the file's own
        mg.update({k: v for k, v in previous.items() if k not in _FILE_LEVEL_KEYS})
    if ds.intensity != Intensity():
        if ds.intensity.units:
            md["Signal"].setdefault("quantity", f"Intensity ({ds.intensity.units})")
        mg["intensity"] = {"units": ds.intensity.units, "scale": ds.intensity.scale,
                           "offset": ds.intensity.offset}
    if provenance_log:
        mg["provenance"] = str(provenance_log)
    if display:
        mg["display"] = {str(k): (list(v) if isinstance(v, tuple) else v)
                         for k, v in display.items()}
    if mg:
        md["Micrographia"] = mg
    axes = [dict(name=a.name, size=a.size, scale=a.scale, offset=a.offset, units=a.units,
                 navigate=a.navigate) for a in ds.axes]
    return {
        "data": ds.data,
        "axes": axes,
        "metadata": md,
        "original_metadata": _writable(thaw(ds.original_metadata)),
        "attributes": {"_lazy": False},  # what the file holds, not how it was held
        "tmp_parameters": {},
        "learning_results": {},
        "models": {},
        "package_info": {},
    }
