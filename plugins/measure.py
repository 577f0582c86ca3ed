"""Built-in plugin: measurements of labelled regions (``measure.*``)."""

from __future__ import annotations

from micrographia import Dataset, ParameterError, Table, hookimpl


def regions(labels: Dataset, intensity: Dataset | None = None) -> Table:
    """Measure every labelled region: size, shape, position (and intensity).

    Values come from ``skimage.measure.regionprops`` and are given in pixels (``*_px``
    columns) and in the image's calibrated units: ``area`` in units², lengths (equivalent
    diameter, perimeter, axis lengths) in units, ``centroid_x``/``centroid_y`` as calibrated
    coordinates (offset + scale × pixel index; x is the last axis). For non-square pixels
    lengths are scaled by √(scale_x·scale_y) (exact only for square pixels; areas and
    centroids are always exact). ``perimeter`` is scikit-image's 4-connected perimeter
    estimate. ``orientation`` is scikit-image's: the angle in degrees (−90 to 90) between the
    row (y) axis and the major axis of the equivalent ellipse, counter-clockwise as displayed.
    For a stack of label images every frame is measured and a ``frame`` column (flat
    navigation index) added.

    Parameters
    ----------
    labels : Dataset
        Integer label image or stack (0 = background).
    intensity : Dataset, optional
        Intensity image of the same shape: adds ``mean_intensity``, ``max_intensity`` and
        ``min_intensity`` columns.

    Returns
    -------
    Table
        One row per region (float64 columns; ``label`` and ``frame`` int64).
    """
    import math

    import numpy as np
    from skimage.measure import regionprops

    if labels.signal_dims != 2:
        raise ParameterError("measure.regions works on label images (two signal axes), got "
                             f"{labels.signal_dims} signal axes")
    if intensity is not None and tuple(intensity.shape) != tuple(labels.shape):
        raise ParameterError(f"measure.regions: intensity shape {intensity.shape} differs "
                             f"from the labels' {labels.shape}")
    lab = np.asarray(labels.numpy())
    if lab.dtype.kind == "b":
        lab = lab.astype(np.int32)
    if lab.dtype.kind not in "iu":
        raise ParameterError(f"measure.regions needs an integer label image, got {lab.dtype}")
    img = None if intensity is None else np.asarray(intensity.numpy())
    ay, ax = labels.sig_axes
    sx, sy = abs(ax.scale), abs(ay.scale)
    lscale = sx if sx == sy else math.sqrt(sx * sy)
    units = ax.units if ax.units == ay.units else f"{ax.units}·{ay.units}"
    len_units = ax.units if ax.units == ay.units else ""
    cols: dict[str, list] = {k: [] for k in (
        "frame", "label", "area", "area_px", "equivalent_diameter", "equivalent_diameter_px",
        "perimeter", "perimeter_px", "centroid_x", "centroid_y", "centroid_x_px",
        "centroid_y_px", "orientation", "eccentricity", "major_axis_length",
        "minor_axis_length", "major_axis_length_px", "minor_axis_length_px",
        "mean_intensity", "max_intensity", "min_intensity")}
    nav_shape = lab.shape[:-2]
    for n, idx in enumerate(np.ndindex(*nav_shape)):
        frame = lab[idx]
        if frame.min(initial=0) < 0:
            raise ParameterError("measure.regions: labels must not be negative")
        props = regionprops(frame, intensity_image=None if img is None else img[idx])
        for p in props:
            cy, cx = p.centroid
            d = p.equivalent_diameter_area
            cols["frame"].append(n)
            cols["label"].append(p.label)
            cols["area_px"].append(float(p.area))
            cols["area"].append(float(p.area) * sx * sy)
            cols["equivalent_diameter_px"].append(d)
            cols["equivalent_diameter"].append(d * lscale)
            cols["perimeter_px"].append(p.perimeter)
            cols["perimeter"].append(p.perimeter * lscale)
            cols["centroid_x_px"].append(cx)
            cols["centroid_y_px"].append(cy)
            cols["centroid_x"].append(ax.offset + ax.scale * cx)
            cols["centroid_y"].append(ay.offset + ay.scale * cy)
            cols["orientation"].append(math.degrees(p.orientation))
            cols["eccentricity"].append(p.eccentricity)
            cols["major_axis_length_px"].append(p.axis_major_length)
            cols["minor_axis_length_px"].append(p.axis_minor_length)
            cols["major_axis_length"].append(p.axis_major_length * lscale)
            cols["minor_axis_length"].append(p.axis_minor_length * lscale)
            if img is not None:
                cols["mean_intensity"].append(float(p.intensity_mean))
                cols["max_intensity"].append(float(p.intensity_max))
                cols["min_intensity"].append(float(p.intensity_min))
    if not nav_shape:
        del cols["frame"]
    if img is None:
        for k in ("mean_intensity", "max_intensity", "min_intensity"):
            del cols[k]
    columns = {k: np.asarray(v, dtype=np.int64 if k in ("frame", "label") else np.float64)
               for k, v in cols.items()}
    unit_map = {"area_px": "px²", "equivalent_diameter_px": "px", "perimeter_px": "px",
                "centroid_x_px": "px", "centroid_y_px": "px", "major_axis_length_px": "px",
                "minor_axis_length_px": "px", "orientation": "deg",
                "area": f"{units}²" if units else "", "equivalent_diameter": len_units,
                "perimeter": len_units, "centroid_x": ax.units, "centroid_y": ay.units,
                "major_axis_length": len_units, "minor_axis_length": len_units}
    if img is not None and intensity.intensity.units:
        for k in ("mean_intensity", "max_intensity", "min_intensity"):
            unit_map[k] = intensity.intensity.units
    unit_map = {k: v for k, v in unit_map.items() if v}
    return Table(columns, units=unit_map, title=f"{labels.title} regions".strip(),
                 metadata={"source": labels.title, "scale": [ay.scale, ax.scale]})


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(regions, id="measure.regions", title="Measure regions…",
                 menu="Analyze/Measure", kinds=("signal2d",), dtypes="iu")
