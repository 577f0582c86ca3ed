"""Built-in plugin: geometric transforms (``transform.*``).

Rescale, resize, rotate, flip, general affine and polar warps of every frame (the signal axes
of images, stacks, 4D-STEM). Calibrations follow the pixel-centre convention: sample ``i`` of an
axis sits at ``offset + i * scale`` and covers ``scale`` around it, so a rescaled image keeps its
field of view (the outer pixel edges stay where they were). Interpolation is
``scipy.ndimage``'s spline interpolation of order 0 (nearest) to 5 (1 = bilinear), with
``cupyx.scipy.ndimage`` for data on the GPU; lazy data stays lazy.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Units, hookimpl

Order = Annotated[int, Range(0, 5)]


def _need_images(dataset: Dataset, op: str) -> None:
    if dataset.signal_dims != 2:
        raise ParameterError(
            f"{op} needs a dataset with two signal axes (images); "
            f"{dataset.title or 'this dataset'} has {dataset.signal_dims}")
    if 0 in dataset.sig_shape:
        raise ParameterError(f"{op}: the frames are empty")


def _backend(dataset: Dataset) -> tuple[Any, Any]:
    """Return ``(xp, ndimage)`` for the dataset's device."""
    import numpy as np

    from micrographia.backend import ndimage_namespace

    ndimage = ndimage_namespace(dataset)
    if ndimage.__name__.startswith("cupyx"):
        import cupy

        return cupy, ndimage
    return np, ndimage


def _out_dtype(dataset: Dataset, order: int) -> Any:
    """Nearest-neighbour keeps the dtype; interpolation gives float32 (float64 stays)."""
    import numpy as np

    if order == 0 or dataset.dtype.kind == "c":
        return np.dtype(dataset.dtype)
    return np.dtype(np.float64 if dataset.dtype == np.float64 else np.float32)


def _warp(dataset: Dataset, matrix: Any, offset: Any, shape: tuple[int, int], order: int,
          mode: str, cval: float, message: str, prefilter_sigma: Any = None) -> Any:
    """``ndimage.affine_transform`` of every frame: input index = matrix @ output + offset."""
    import numpy as np

    from micrographia.frames import _MIN_BAND_WORK, parallel_bands
    from micrographia.plugins.filters import map_frames_parallel

    xp, ndi = _backend(dataset)
    dt = _out_dtype(dataset, order)
    # snap to 1e-12 so that exact transforms (90° turns, integer shifts) stay exact and the
    # row bands below see the same coordinates as a whole-frame call
    m = xp.asarray(np.round(np.asarray(matrix, dtype=np.float64), 12))
    off = tuple(float(v) for v in np.round(np.asarray(offset, dtype=np.float64), 12))
    work = dt if dt.kind in "fc" else np.float64

    def frame(f: Any) -> Any:
        src = f.astype(work, copy=False) if order else f
        if prefilter_sigma is not None and any(s > 0 for s in prefilter_sigma):
            src = ndi.gaussian_filter(f.astype(work, copy=False), prefilter_sigma,
                                      mode="reflect")
            if order == 0:
                src = src.astype(dt)
        if xp is np and order == 1 and shape[0] * shape[1] >= _MIN_BAND_WORK:
            # bilinear: output row bands are independent; fill them in parallel threads
            res = np.empty(shape, work)

            def band(a: int, b: int) -> None:
                o = tuple(float(v) for v in np.asarray(off) + m[:, 0] * a)
                ndi.affine_transform(src, m, offset=o, output_shape=(b - a, shape[1]),
                                     order=1, mode=mode, cval=cval, output=res[a:b])

            parallel_bands(band, shape[0], size=shape[0] * shape[1])
            return res.astype(dt, copy=False)
        out = ndi.affine_transform(src, m, offset=off, output_shape=shape, order=order,
                                   mode=mode, cval=cval, prefilter=order > 1)
        return out.astype(dt, copy=False)

    return map_frames_parallel(frame, dataset.data, signal_ndim=2, out_dtype=dt,
                               out_sig_shape=shape, message=message)


def _zoom(dataset: Dataset, shape: tuple[int, int], zoom: tuple[float, float], order: int,
          anti_aliasing: bool, title: str, message: str) -> Dataset:
    """Resample frames to ``shape`` with output pixel size ``scale / zoom`` (edges kept)."""
    ay, ax = dataset.sig_axes
    # output pixel j covers input [j/z, (j+1)/z) in pixel-edge coordinates: centre
    # (j + 0.5) / z - 0.5 in the input's index coordinates.
    matrix = [[1.0 / zoom[0], 0.0], [0.0, 1.0 / zoom[1]]]
    offset = (0.5 / zoom[0] - 0.5, 0.5 / zoom[1] - 0.5)
    sigma = None
    if anti_aliasing:
        sigma = tuple(max(0.0, (1.0 / z - 1.0) / 2.0) for z in zoom)
    out = _warp(dataset, matrix, offset, shape, order, "nearest", 0.0, message, sigma)
    axes = []
    for a, z, n in zip((ay, ax), zoom, shape):
        s = a.scale / z
        axes.append(a.replace(size=n, scale=s, offset=a.offset - a.scale / 2 + s / 2))
    return dataset.replace(data=out, axes=dataset.nav_axes + tuple(axes),
                           title=f"{dataset.title} {title}".strip())


def rescale(dataset: Dataset, *,
            factor: Annotated[float, Range(0.01, 100.0), Step(0.1)] = 0.5,
            order: Order = 1, anti_aliasing: bool = True) -> Dataset:
    """Rescale every image by ``factor`` (> 1 enlarges), keeping the field of view.

    The output has ``round(n * factor)`` pixels per axis of size ``scale / factor``; output
    pixel ``j`` samples the input at index ``(j + 0.5) / factor - 0.5`` (pixel centres, as
    ``skimage.transform.rescale``), and the offset moves by ``(scale' - scale) / 2`` so that
    the outer pixel edges stay in place. When shrinking with ``anti_aliasing``, the image is
    first blurred with a Gaussian of σ = ``(1 / factor - 1) / 2`` px (scikit-image's rule).

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    factor : float
        Scale factor for both signal axes.
    order : int
        Spline interpolation order (0 nearest, 1 bilinear, 3 cubic ... 5).
    anti_aliasing : bool
        Blur before shrinking to avoid aliasing (ignored when enlarging).

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; the input dtype for ``order=0``), signal axes
        with scale ``scale / factor``.
    """
    _need_images(dataset, "transform.rescale")
    if not factor > 0:
        raise ParameterError(f"transform.rescale: factor must be positive, got {factor}")
    shape = tuple(max(1, int(round(n * factor))) for n in dataset.sig_shape)
    return _zoom(dataset, shape, (factor, factor), order, anti_aliasing and factor < 1,
                 f"×{factor:g}", "Rescale")


def resize(dataset: Dataset, *, height: Annotated[int, Range(1, 100000), Units("px")] = 256,
           width: Annotated[int, Range(1, 100000), Units("px")] = 256, order: Order = 1,
           anti_aliasing: bool = True) -> Dataset:
    """Resample every image to ``height × width`` pixels, keeping the field of view.

    The pixel size becomes ``scale * n / n'`` per axis (the same convention as
    :func:`rescale`, with a factor ``n' / n`` per axis).

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    height : int
        Number of output rows.
    width : int
        Number of output columns.
    order : int
        Spline interpolation order (0 nearest, 1 bilinear, 3 cubic ... 5).
    anti_aliasing : bool
        Blur an axis before shrinking it (σ = ``(n / n' - 1) / 2`` px).

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; the input dtype for ``order=0``), resized axes.
    """
    _need_images(dataset, "transform.resize")
    if height < 1 or width < 1:
        raise ParameterError("transform.resize: height and width must be at least 1")
    ny, nx = dataset.sig_shape
    zoom = (height / ny, width / nx)
    return _zoom(dataset, (height, width), zoom, order, anti_aliasing, f"{height}×{width}",
                 "Resize")


def _affine_about_centre(a: Any, shape_in: tuple[int, int], shape_out: tuple[int, int],
                         shift: tuple[float, float] = (0.0, 0.0)) -> tuple[Any, Any]:
    """Inverse mapping (matrix, offset) for ``out = a @ (in - c_in) + c_out + shift``.

    ``a`` acts on (row, column) vectors.
    """
    import numpy as np

    inv = np.linalg.inv(np.asarray(a, dtype=np.float64))
    c_in = (np.asarray(shape_in, dtype=np.float64) - 1) / 2
    c_out = (np.asarray(shape_out, dtype=np.float64) - 1) / 2 + np.asarray(shift)
    return inv, c_in - inv @ c_out


def _rotation(angle_deg: float) -> Any:
    """Counter-clockwise rotation (as displayed, rows downwards) acting on (row, col)."""
    import numpy as np

    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    # (x, y) with y up: x' = c x - s y, y' = s x + c y; rows = -y, cols = x.
    return np.array([[c, -s], [s, c]])


def rotate(dataset: Dataset, *, angle: Annotated[float, Range(-360.0, 360.0), Units("°")] = 30.0,
           order: Order = 1, reshape: bool = False,
           fill: float = 0.0) -> Dataset:
    """Rotate every image counter-clockwise (as displayed) by ``angle`` degrees about its centre.

    The same numbers as ``scipy.ndimage.rotate(frame, angle, reshape=reshape, order=order)``
    (``rotate(…, 90)`` equals ``numpy.rot90``). Pixel sizes and units are kept; with
    ``reshape`` the frame grows to hold the whole rotated image and the offsets move so that
    the image centre keeps its calibrated coordinates. Assumes square pixels.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    angle : float
        Rotation angle in degrees, counter-clockwise.
    order : int
        Spline interpolation order (0 nearest, 1 bilinear, 3 cubic ... 5).
    reshape : bool
        Enlarge the output to contain the whole rotated image (else keep the size).
    fill : float
        Value of the pixels that come from outside the image.

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; the input dtype for ``order=0``).
    """
    import numpy as np

    _need_images(dataset, "transform.rotate")
    ny, nx = dataset.sig_shape
    a = _rotation(angle)
    if reshape:
        corners = np.array([[0, 0], [0, nx], [ny, 0], [ny, nx]], float)
        rc = (a @ corners.T).T
        ext = rc.max(axis=0) - rc.min(axis=0)
        shape = tuple(int(v + 0.5) for v in ext)  # scipy.ndimage.rotate's rule
    else:
        shape = (ny, nx)
    matrix, offset = _affine_about_centre(a, (ny, nx), shape)
    out = _warp(dataset, matrix, offset, shape, order, "constant", fill, "Rotate")
    axes = []
    for ax, n_in, n_out in zip(dataset.sig_axes, (ny, nx), shape):
        centre = ax.offset + (n_in - 1) / 2 * ax.scale
        axes.append(ax.replace(size=n_out, offset=centre - (n_out - 1) / 2 * ax.scale))
    return dataset.replace(data=out, axes=dataset.nav_axes + tuple(axes),
                           title=f"{dataset.title} rotated {angle:g}°".strip())


def flip(dataset: Dataset, *,
         axis: Literal["horizontal", "vertical", "transpose"] = "horizontal") -> Dataset:
    """Mirror every image left-right or top-bottom, or transpose it (swap rows and columns).

    Exact (no interpolation), any dtype, lazy stays lazy. A flip keeps the axes (the
    coordinates still increase along the data); a transpose swaps the two signal axes'
    calibrations.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    axis : {"horizontal", "vertical", "transpose"}
        ``"horizontal"`` reverses the columns (x), ``"vertical"`` the rows (y).

    Returns
    -------
    Dataset
        Same dtype as the input.
    """
    _need_images(dataset, "transform.flip")
    data = dataset.data
    axes = dataset.axes
    if axis == "horizontal":
        out = data[..., ::-1]
    elif axis == "vertical":
        out = data[..., ::-1, :]
    else:
        out = data.swapaxes(-1, -2)
        ay, ax = dataset.sig_axes
        axes = dataset.nav_axes + (ax.replace(name=ay.name), ay.replace(name=ax.name))
    if not dataset.is_lazy:
        out = out.copy()
    return dataset.replace(data=out, axes=axes, title=f"{dataset.title} {axis}".strip())


def affine(dataset: Dataset, *,
           rotation: Annotated[float, Range(-360.0, 360.0), Units("°")] = 0.0,
           scale: Annotated[float, Range(0.01, 100.0), Step(0.1)] = 1.0,
           shear: Annotated[float, Range(-89.0, 89.0), Units("°")] = 0.0,
           translate_x: Annotated[float, Units("px")] = 0.0,
           translate_y: Annotated[float, Units("px")] = 0.0,
           order: Order = 1, fill: float = 0.0) -> Dataset:
    """Apply an affine transform about the image centre to every image (same size and axes).

    The forward map, in displayed coordinates (x right, y up), is
    ``p' = R(rotation) · Sh(shear) · scale · (p - c) + c + t``: ``scale`` magnifies, ``shear``
    shifts x by ``tan(shear) · y``, ``rotation`` turns counter-clockwise (as
    :func:`rotate`), and ``t = (translate_x, -translate_y)`` moves the content by
    ``translate_x`` columns right and ``translate_y`` rows down. Each output pixel is
    interpolated at its inverse-mapped position; outside samples are ``fill``.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    rotation : float
        Counter-clockwise rotation in degrees.
    scale : float
        Magnification (isotropic).
    shear : float
        Shear angle in degrees (x shifted proportionally to y).
    translate_x : float
        Shift to the right, in pixels.
    translate_y : float
        Shift downwards, in pixels.
    order : int
        Spline interpolation order (0 nearest, 1 bilinear, 3 cubic ... 5).
    fill : float
        Value of the pixels that come from outside the image.

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; the input dtype for ``order=0``), same axes.
    """
    import numpy as np

    _need_images(dataset, "transform.affine")
    # In (x, y-up) coordinates: A = R @ Sh @ S.  Convert to (row, col) = (-y, x).
    t = math.radians(rotation)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    sh = np.array([[1.0, math.tan(math.radians(shear))], [0.0, 1.0]])
    a_xy = r @ sh * scale
    p = np.array([[0.0, -1.0], [1.0, 0.0]])  # (x, y) -> (row, col) = (-y, x)
    a_rc = p @ a_xy @ np.linalg.inv(p)
    shape = dataset.sig_shape
    matrix, offset = _affine_about_centre(a_rc, shape, shape, (translate_y, translate_x))
    out = _warp(dataset, matrix, offset, shape, order, "constant", fill, "Affine transform")
    return dataset.replace(data=out, title=f"{dataset.title} affine".strip())


def _centre_of_mass(f: Any, xp: Any) -> tuple[float, float]:
    w = f.astype(xp.float64)
    w = w - w.min()
    total = float(w.sum())
    if total <= 0:
        return (f.shape[0] - 1) / 2, (f.shape[1] - 1) / 2
    return (float((w.sum(axis=1) * xp.arange(f.shape[0])).sum()) / total,
            float((w.sum(axis=0) * xp.arange(f.shape[1])).sum()) / total)


def polar(dataset: Dataset, *, centre: Literal["auto", "image", "mass", "given"] = "auto",
          centre_y: Annotated[float, Units("units")] = 0.0,
          centre_x: Annotated[float, Units("units")] = 0.0,
          max_radius: Annotated[float, Range(0.0, None), Units("units")] = 0.0,
          n_angles: Annotated[int, Range(4, 36000)] = 360,
          log: bool = False, order: Order = 1) -> Dataset:
    """Polar (or log-polar) warp of every image around a centre: rows angle, columns radius.

    Output pixel ``(i, j)`` samples the image at radius ``r_j`` and angle ``θ_i`` (degrees,
    from +x towards +y, i.e. clockwise as displayed with rows downwards, scikit-image's
    ``warp_polar`` convention), at calibrated position ``(cy + r sin θ, cx + r cos θ)``;
    non-square pixels are handled. The radius axis ``r`` has the x axis' pixel size and units
    (``r_j = j * scale``), so a ring of radius ``R`` lands in column ``R / scale``; with
    ``log`` it is ``log_r`` = ln(r / units) from 0 (one pixel) to ln(max_radius) in the same
    number of samples. Outside samples are 0.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or 4D-STEM data (two signal axes).
    centre : {"auto", "image", "mass", "given"}
        Centre of the warp: the image centre, the intensity centre of mass (of each frame;
        for diffraction patterns), ``(centre_y, centre_x)``, or ``"auto"``: centre of mass
        when the axes are reciprocal (units ``1/…``), else the image centre.
    centre_y : float
        Centre's y coordinate in calibrated units (``centre="given"``).
    centre_x : float
        Centre's x coordinate in calibrated units (``centre="given"``).
    max_radius : float
        Largest radius in calibrated units; 0: the distance from the centre to the nearest
        image edge.
    n_angles : int
        Number of angle samples over 360°.
    log : bool
        Log-polar sampling of the radius.
    order : int
        Spline interpolation order (0 nearest, 1 bilinear, 3 cubic ... 5).

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; the input dtype for ``order=0``), signal axes
        ``angle`` (degrees) and ``r`` (units) or ``log_r``.
    """
    import numpy as np

    from micrographia.frames import _MIN_BAND_WORK, parallel_bands
    from micrographia.plugins.filters import map_frames_parallel

    _need_images(dataset, "transform.polar")
    ay, ax = dataset.sig_axes
    ny, nx = dataset.sig_shape
    if centre == "auto":
        centre = "mass" if ax.units.startswith("1/") else "image"
    if centre == "given":
        c0 = (ay.index(centre_y), ax.index(centre_x))
        if not (-0.5 <= c0[0] <= ny - 0.5 and -0.5 <= c0[1] <= nx - 0.5):
            raise ParameterError(f"transform.polar: centre ({centre_y:g}, {centre_x:g}) is "
                                 "outside the image")
    else:
        c0 = ((ny - 1) / 2, (nx - 1) / 2)
    sy, sx = abs(ay.scale), abs(ax.scale)
    if max_radius > 0:
        rmax = max_radius
    else:
        rmax = min(c0[0] * sy, (ny - 1 - c0[0]) * sy, c0[1] * sx, (nx - 1 - c0[1]) * sx)
        if centre == "mass":
            rmax = min((ny - 1) / 2 * sy, (nx - 1) / 2 * sx)
        rmax = max(rmax, sx)
    n_r = max(2, int(math.floor(rmax / sx)) + 1)
    if log:
        r = np.exp(np.linspace(0.0, math.log(max(rmax / sx, 1.0 + 1e-9)), n_r)) * sx
    else:
        r = np.arange(n_r) * sx
    theta = np.deg2rad(np.arange(n_angles) * 360.0 / n_angles)
    # displacement in index units (signs follow the axes' scales)
    dy = (np.sin(theta)[:, None] * r[None, :]) / ay.scale
    dx = (np.cos(theta)[:, None] * r[None, :]) / ax.scale
    xp, ndi = _backend(dataset)
    dt = _out_dtype(dataset, order)
    work = dt if dt.kind in "fc" else np.float64
    dy, dx = xp.asarray(dy), xp.asarray(dx)

    def frame(f: Any) -> Any:
        cy, cx = _centre_of_mass(f, xp) if centre == "mass" else c0
        src = f.astype(work, copy=False) if order else f
        if xp is np and order <= 1 and dy.size >= _MIN_BAND_WORK:
            res = np.empty(dy.shape, src.dtype)

            def band(a: int, b: int) -> None:
                c = np.stack([dy[a:b] + cy, dx[a:b] + cx])
                ndi.map_coordinates(src, c, order=order, mode="constant", cval=0.0,
                                    output=res[a:b])

            parallel_bands(band, dy.shape[0], size=dy.size)
            return res.astype(dt, copy=False)
        coords = xp.stack([dy + cy, dx + cx])
        out = ndi.map_coordinates(src, coords, order=order, mode="constant", cval=0.0,
                                  prefilter=order > 1)
        return out.astype(dt, copy=False)

    out = map_frames_parallel(frame, dataset.data, signal_ndim=2, out_dtype=dt,
                              out_sig_shape=(n_angles, n_r), message="Polar warp")
    from micrographia import Axis

    a_ang = Axis("angle", n_angles, 360.0 / n_angles, 0.0, "°")
    if log:
        step = float(np.log(r[-1] / r[0]) / (n_r - 1))
        a_r = Axis("log_r", n_r, step, math.log(sx), f"ln({ax.units})")
    else:
        a_r = Axis("r", n_r, sx, 0.0, ax.units)
    md = dict(dataset.metadata)
    mgmd = dict(md.get("Micrographia", {}))
    if centre != "mass":
        mgmd["polar"] = {"centre": [ay.offset + c0[0] * ay.scale, ax.offset + c0[1] * ax.scale]}
        md["Micrographia"] = mgmd
    return dataset.replace(data=out, axes=dataset.nav_axes + (a_ang, a_r), metadata=md,
                           title=f"{dataset.title} {'log-' if log else ''}polar".strip())


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    for func, id_, title, cheap in [
            (rescale, "transform.rescale", "Rescale…", True),
            (resize, "transform.resize", "Resize…", True),
            (rotate, "transform.rotate", "Rotate…", True),
            (flip, "transform.flip", "Flip / transpose…", True),
            (affine, "transform.affine", "Affine transform…", True),
            (polar, "transform.polar", "Polar warp…", True)]:
        registry.add(func, id=id_, title=title, menu="Image/Transform", cheap=cheap, gpu=True,
                     kinds=("signal2d",))
