"""Built-in plugin: peak finding and template matching (``peaks.*``).

``peaks.find`` locates local maxima (atom columns, diffraction spots, particles) and refines
them to sub-pixel precision; ``peaks.template_match`` finds copies of a motif by normalised
cross-correlation. Both return a :class:`~micrographia.Table` with pixel and calibrated
coordinates (x along the last axis, y along the one before), one ``frame`` column for stacks.

``peaks.find`` runs on the GPU for device (cupy) data: the maximum filter, the thresholds and the
gathering of the refinement windows happen on the device; the peak list (spacing rule) and the
sub-pixel refinement of the small windows run on the host, so the table is the CPU's.
``peaks.template_match`` is CPU-only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Table, Units, hookimpl


def _frames(dataset: Dataset) -> Any:
    """Yield (flat index, numpy frame) over the navigation axes (lazy/GPU data frame by frame)."""
    import numpy as np

    from micrographia.backend import to_numpy

    data = dataset.data
    nav = tuple(dataset.shape[:-2])
    for n, idx in enumerate(np.ndindex(*nav)):
        f = data[idx]
        if hasattr(f, "compute"):
            f = f.compute()
        yield n, np.asarray(to_numpy(f), dtype=np.float64)


def _map_frames_threaded(func: Any, dataset: Dataset, message: str) -> Any:
    """Yield ``(flat index, func(frame))`` in order; in-memory stacks use a thread per core."""
    import numpy as np

    from micrographia.frames import cpu_workers
    from micrographia.tasks import check_cancelled, report_progress

    nav = tuple(dataset.shape[:-2])
    n = int(np.prod(nav, dtype=np.int64))
    if dataset.on_gpu:  # frames stay on the device (float64, as on the CPU), one after the other
        for k, idx in enumerate(np.ndindex(*nav)):
            check_cancelled()
            yield k, func(dataset.data[idx].astype(np.float64))
            report_progress((k + 1) / n, message)
        return
    workers = min(cpu_workers(), n)
    if dataset.is_lazy or workers <= 1:
        for k, frame in _frames(dataset):
            check_cancelled()
            yield k, func(frame)
            report_progress((k + 1) / n, message)
        return
    import concurrent.futures

    data = dataset.data
    idxs = list(np.ndindex(*nav))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mg-frames") as ex:
        futures = [ex.submit(lambda i: func(np.asarray(data[i], dtype=np.float64)), i)
                   for i in idxs]
        try:
            for k, fut in enumerate(futures):
                check_cancelled()
                yield k, fut.result()
                report_progress((k + 1) / n, message)
        finally:
            for fut in futures:
                fut.cancel()


def _window_stack(frame: Any, rows: Any, cols: Any, w: int) -> Any:
    """(N, 2w+1, 2w+1) windows centred on the given pixels; outside the frame: NaN."""
    import numpy as np

    padded = np.pad(frame, w, mode="constant", constant_values=np.nan)
    k = np.arange(-w, w + 1)
    r = rows[:, None, None] + w + k[None, :, None]
    c = cols[:, None, None] + w + k[None, None, :]
    return padded[r, c]


def _windows(frame: Any, rows: Any, cols: Any, w: int) -> Any:
    """:func:`_window_stack` as a numpy array; device frames are padded and gathered there."""
    from micrographia.backend import is_gpu_array

    if not is_gpu_array(frame):
        return _window_stack(frame, rows, cols, w)
    import cupy as xp

    padded = xp.pad(frame, w, mode="constant", constant_values=xp.nan)
    k = xp.arange(-w, w + 1)
    r = xp.asarray(rows)[:, None, None] + w + k[None, :, None]
    c = xp.asarray(cols)[:, None, None] + w + k[None, None, :]
    return padded[r, c].get()


def _refine_com(win: Any) -> tuple[Any, Any]:
    """Centre of mass above the window minimum: (dy, dx) offsets from the window centre."""
    import numpy as np

    w = win.shape[1] // 2
    k = np.arange(-w, w + 1, dtype=np.float64)
    base = np.nanmin(win, axis=(1, 2), keepdims=True)
    wt = np.nan_to_num(win - base, nan=0.0)
    tot = wt.sum(axis=(1, 2))
    tot = np.where(tot > 0, tot, 1.0)
    dy = (wt.sum(axis=2) * k).sum(axis=1) / tot
    dx = (wt.sum(axis=1) * k).sum(axis=1) / tot
    return dy, dx


def _refine_paraboloid(win3: Any) -> tuple[Any, Any, Any]:
    """Least-squares quadratic surface on each 3×3 neighbourhood: (dy, dx, peak value)."""
    import numpy as np

    yy, xx = np.mgrid[-1:2, -1:2]
    x, y = xx.ravel().astype(np.float64), yy.ravel().astype(np.float64)
    design = np.stack([np.ones(9), x, y, x * x, x * y, y * y], axis=1)
    pinv = np.linalg.pinv(design)  # (6, 9)
    z = win3.reshape(len(win3), 9)
    z = np.where(np.isfinite(z), z, np.nanmin(z, axis=1, keepdims=True))
    a, b, c, d, e, f = pinv @ z.T
    det = 4 * d * f - e * e
    ok = (det > 0) & (d < 0)
    det = np.where(ok, det, 1.0)
    dx = np.where(ok, (-2 * f * b + e * c) / det, 0.0)
    dy = np.where(ok, (-2 * d * c + e * b) / det, 0.0)
    dx, dy = np.clip(dx, -1, 1), np.clip(dy, -1, 1)
    val = a + b * dx + c * dy + d * dx * dx + e * dx * dy + f * dy * dy
    return dy, dx, val


def _fit_gaussians(win: Any, iterations: int = 50) -> dict[str, Any]:
    """Vectorised Levenberg–Marquardt fit of ``B + A·exp(-r²/2σ²)`` to every window.

    Returns offsets from the window centre, sigma, amplitude, background, RMS residual and
    whether each fit converged inside its window.
    """
    import numpy as np

    n, m = win.shape[0], win.shape[1]
    w = m // 2
    k = np.arange(-w, w + 1, dtype=np.float64)
    Y, X = np.meshgrid(k, k, indexing="ij")
    X, Y = X.ravel(), Y.ravel()
    z = win.reshape(n, m * m)
    valid = np.isfinite(z)
    wt = valid.astype(np.float64)
    z = np.where(valid, z, 0.0)
    # start: centre of mass, background = low quantile of the window, amplitude = peak - bg
    dy0, dx0 = _refine_com(win)
    bg = np.percentile(z, 20, axis=1) if valid.all() else \
        np.nanpercentile(np.where(valid, z, np.nan), 20, axis=1)
    amp = np.nanmax(np.where(valid, z, np.nan), axis=1) - bg
    amp = np.where(amp > 0, amp, 1.0)
    above = np.clip(z - bg[:, None], 0, None) * wt
    s2 = (above * ((X - dx0[:, None]) ** 2 + (Y - dy0[:, None]) ** 2)).sum(1) / \
        np.maximum(above.sum(1), 1e-300) / 2
    sig = np.clip(np.sqrt(np.maximum(s2, 0)), 0.7, w)
    p = np.stack([amp, dx0, dy0, sig, bg], axis=1)

    def model(p: Any) -> tuple[Any, Any]:
        dx = X[None, :] - p[:, 1:2]
        dy = Y[None, :] - p[:, 2:3]
        s = p[:, 3:4]
        r2 = dx * dx + dy * dy
        g = np.exp(-r2 / (2 * s * s))
        f = p[:, 4:5] + p[:, 0:1] * g
        ag = p[:, 0:1] * g
        jac = np.stack([g, ag * dx / (s * s), ag * dy / (s * s), ag * r2 / (s ** 3),
                        np.ones_like(g)], axis=2)
        return f, jac

    f, jac = model(p)
    res = (z - f) * wt
    cost = (res * res).sum(1)
    lam = np.full(n, 1e-3)
    active = np.ones(n, bool)
    for _ in range(iterations):
        if not active.any():
            break
        ia = np.flatnonzero(active)
        ja = jac[ia] * wt[ia, :, None]
        jtj = np.einsum("nmi,nmj->nij", ja, ja)
        jtr = np.einsum("nmi,nm->ni", ja, res[ia])
        diag = np.einsum("nii->ni", jtj)
        a = jtj + (lam[ia, None] * (diag + 1e-12))[:, :, None] * np.eye(5)[None]
        try:
            step = np.linalg.solve(a, jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(ai, bi, rcond=None)[0] for ai, bi in zip(a, jtr)])
        pn = p[ia] + step
        pn[:, 3] = np.abs(pn[:, 3])
        fn, jn = model(pn)
        rn = (z[ia] - fn) * wt[ia]
        cn = (rn * rn).sum(1)
        better = cn < cost[ia]
        acc = ia[better]
        p[acc], f[acc], jac[acc], res[acc] = pn[better], fn[better], jn[better], rn[better]
        small = np.abs(cost[acc] - cn[better]) <= 1e-10 * np.maximum(cost[acc], 1e-300)
        cost[acc] = cn[better]
        lam[acc] = np.maximum(lam[acc] / 10, 1e-9)
        rej = ia[~better]
        lam[rej] *= 10
        done = np.zeros(n, bool)
        done[acc[small]] = True
        done[rej[lam[rej] > 1e8]] = True
        active &= ~done
    nvalid = np.maximum(wt.sum(1), 1)
    ok = (np.abs(p[:, 1]) <= w) & (np.abs(p[:, 2]) <= w) & (p[:, 3] > 0.2) & (p[:, 3] < 2 * w) \
        & (p[:, 0] > 0)
    return {"dx": p[:, 1], "dy": p[:, 2], "sigma": p[:, 3], "amplitude": p[:, 0],
            "background": p[:, 4], "fit_rms": np.sqrt(cost / nvalid), "ok": ok}


def _local_maxima(frame: Any, min_distance: int, threshold_rel: float,
                  threshold_abs: float | None, exclude_border: bool) -> Any:
    import numpy as np
    from skimage.feature import peak_local_max

    finite = np.isfinite(frame)
    if not finite.any():
        return np.zeros((0, 2), np.intp)
    f = np.where(finite, frame, np.nanmin(frame))
    return peak_local_max(f, min_distance=min_distance, threshold_abs=threshold_abs,
                          threshold_rel=threshold_rel, exclude_border=exclude_border)


def _local_maxima_xp(frame: Any, min_distance: int, threshold_rel: float,
                     threshold_abs: float | None, exclude_border: bool) -> Any:
    """:func:`_local_maxima` of a device frame (same rules as ``peak_local_max``).

    The maximum filter, the thresholds and the border band are applied on the device; the
    candidates (few) come to the host, where they are sorted by decreasing value (stable) and
    thinned with scikit-image's own ``ensure_spacing``.
    """
    import cupy as xp
    import numpy as np
    from cupyx.scipy import ndimage as cndi

    from micrographia.backend import to_numpy

    finite = xp.isfinite(frame)
    if not bool(finite.any()):
        return np.zeros((0, 2), np.intp)
    f = xp.where(finite, frame, xp.nanmin(frame))
    thr = threshold_abs if threshold_abs is not None else to_numpy(f.min())[()]
    if threshold_rel is not None:
        thr = max(thr, threshold_rel * to_numpy(f.max())[()])
    size = 2 * min_distance + 1
    if size == 1 or f.size == 1:
        mask = f > thr
    else:
        mask = f == cndi.maximum_filter(f, size=size, mode="nearest")
        if bool(mask.all()):  # no peak in a flat image
            mask[:] = False
        mask &= f > thr
    width = (min_distance if exclude_border else 0) if isinstance(exclude_border, bool) \
        else int(exclude_border)
    if width:
        mask[:width] = False
        mask[-width:] = False
        mask[:, :width] = False
        mask[:, -width:] = False
    r, c = xp.nonzero(mask)
    values = f[r, c].get()
    coord = np.stack([r.get(), c.get()], axis=1).astype(np.intp)[
        np.argsort(-values, kind="stable")]
    if min_distance > 1 and len(coord):
        from skimage._shared.coord import ensure_spacing

        coord = ensure_spacing(coord, spacing=min_distance, p_norm=np.inf, max_out=None)
    return coord


def find(dataset: Dataset, *,
         min_distance: Annotated[int, Range(1, 10000), Units("px")] = 3,
         threshold_rel: Annotated[float, Range(0.0, 1.0), Step(0.05)] = 0.2,
         threshold_abs: float | None = None,
         exclude_border: bool = True,
         refine: Literal["com", "gaussian", "paraboloid"] | None = "gaussian",
         window: Annotated[int, Range(1, 100), Units("px")] = 4) -> Table:
    """Find local maxima and refine their positions to sub-pixel precision.

    Maxima are found per frame with ``skimage.feature.peak_local_max`` (a pixel is a peak when
    it is the maximum within ``min_distance`` and above both thresholds), then refined:

    * ``"gaussian"``: least-squares fit of a round 2-D Gaussian plus a constant background,
      ``B + A·exp(−r²/2σ²)``, to the (2·window+1)² pixels around each peak (vectorised
      Levenberg–Marquardt, all peaks at once). Unbiased for Gaussian-like spots; on spots
      of σ ≈ 1.6 px with peak/noise = 20 the per-axis RMS error is ≈ 0.04 px (the
      Cramér–Rao bound). Adds ``sigma``, ``amplitude``, ``background`` and ``fit_rms``
      columns; a fit that leaves the window keeps the pixel position and has NaN in them.
      Neighbouring spots within the window bias it: keep ``window`` below the spacing.
    * ``"com"``: centre of mass of the window above its minimum. Fast, but biased towards
      the centre pixel (the background inside the window pulls it there) — typically
      0.05–0.2 px for σ ≈ 1.6 px spots.
    * ``"paraboloid"``: vertex of a least-squares quadratic surface through the 3×3
      neighbourhood. Fast; biased towards integer positions ("pixel locking", up to
      ≈ 0.1 px for σ ≈ 1.6 px) because a Gaussian is not a parabola.
    * ``None``: the integer pixel of the maximum.

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images.
    min_distance : int
        Smallest separation between two peaks (pixels).
    threshold_rel : float
        Minimum peak value as a fraction of the frame's maximum.
    threshold_abs : float, optional
        Minimum peak value in the data's units (default: the frame's minimum).
    exclude_border : bool
        Ignore maxima closer than ``min_distance`` to the frame's edge.
    refine : {"gaussian", "com", "paraboloid", None}
        Sub-pixel refinement method.
    window : int
        Half-width of the refinement window for "gaussian" and "com" (pixels): the window is
        (2·window+1)² pixels; about 2.5·σ of the spots.

    Returns
    -------
    Table
        Per peak (float64): ``x``, ``y`` (pixels, sub-pixel, 0 = centre of the first pixel),
        ``x_cal``, ``y_cal`` (calibrated coordinates), ``intensity`` (value at the peak: the
        pixel, or the fitted maximum A + B for "gaussian" / the paraboloid's vertex value),
        fit-quality columns for "gaussian"; ``frame`` (int64) for stacks. Sorted by frame then
        decreasing intensity of the maximum pixel.
    """
    import numpy as np

    from micrographia.backend import is_gpu_array

    if dataset.signal_dims != 2:
        raise ParameterError("peaks.find works on images (two signal axes), got "
                             f"{dataset.signal_dims} signal axes")
    if dataset.dtype.kind == "c":
        raise ParameterError("peaks.find needs real data; take the modulus first")
    ay, ax = dataset.sig_axes
    cols: dict[str, list[Any]] = {k: [] for k in ("frame", "x", "y", "x_cal", "y_cal",
                                                   "intensity", "sigma", "amplitude",
                                                   "background", "fit_rms")}
    def one(frame: Any) -> dict[str, Any]:
        gpu = is_gpu_array(frame)
        pk = (_local_maxima_xp if gpu else _local_maxima)(frame, min_distance, threshold_rel,
                                                          threshold_abs, exclude_border)
        rows, cs = pk[:, 0], pk[:, 1]
        x, y = cs.astype(np.float64), rows.astype(np.float64)
        if not len(pk):
            inten = np.zeros(0)
        elif gpu:
            import cupy

            inten = frame[cupy.asarray(rows), cupy.asarray(cs)].get()
        else:
            inten = frame[rows, cs]
        res = {k: np.full(len(pk), np.nan) for k in ("sigma", "amplitude", "background",
                                                      "fit_rms")}
        if len(pk) and refine == "com":
            dy, dx = _refine_com(_windows(frame, rows, cs, window))
            x, y = x + dx, y + dy
        elif len(pk) and refine == "paraboloid":
            dy, dx, val = _refine_paraboloid(_windows(frame, rows, cs, 1))
            x, y, inten = x + dx, y + dy, val
        elif len(pk) and refine == "gaussian":
            fit = _fit_gaussians(_windows(frame, rows, cs, window))
            ok = fit["ok"]
            x = np.where(ok, x + fit["dx"], x)
            y = np.where(ok, y + fit["dy"], y)
            inten = np.where(ok, fit["amplitude"] + fit["background"], inten)
            for k in res:
                res[k] = np.where(ok, fit[k], np.nan)
        res.update(x=x, y=y, intensity=np.asarray(inten, np.float64))
        return res

    for n, res in _map_frames_threaded(one, dataset, "finding peaks"):
        cols["frame"].extend([n] * len(res["x"]))
        cols["x_cal"].extend(ax.offset + ax.scale * res["x"])
        cols["y_cal"].extend(ay.offset + ay.scale * res["y"])
        for k, v in res.items():
            cols[k].extend(v)
    if not dataset.shape[:-2]:
        del cols["frame"]
    if refine != "gaussian":
        for k in ("sigma", "amplitude", "background", "fit_rms"):
            del cols[k]
    columns = {k: np.asarray(v, dtype=np.int64 if k == "frame" else np.float64)
               for k, v in cols.items()}
    units = {"x": "px", "y": "px", "x_cal": ax.units, "y_cal": ay.units, "sigma": "px"}
    units = {k: v for k, v in units.items() if v and k in columns}
    return Table(columns, units=units, title=f"{dataset.title} peaks".strip(),
                 metadata={"refine": refine or "none", "min_distance": min_distance})


def template_match(dataset: Dataset, template: Dataset | None = None, *,
                   template_size: Annotated[int, Range(3, 10000), Units("px")] = 16,
                   threshold: Annotated[float, Range(-1.0, 1.0), Step(0.05)] = 0.5,
                   min_distance: Annotated[int, Range(1, 10000), Units("px")] = 5
                   ) -> tuple[Dataset, Table]:
    """Find copies of a template by normalised cross-correlation.

    Uses ``skimage.feature.match_template`` (zero-mean normalised cross-correlation, −1 to 1)
    with the template centred on each pixel (``pad_input=True``), so the correlation map has
    the image's shape and axes. Matches are the local maxima of the map above ``threshold``
    separated by ``min_distance``, refined to sub-pixel by a 3×3 paraboloid.

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images to search.
    template : Dataset, optional
        The motif (an image; the first frame of a stack is used). Default: the
        ``template_size`` × ``template_size`` patch at the centre of the (first) frame, which
        finds the repeats of the central motif.
    template_size : int
        Side of the default central patch (pixels); ignored when ``template`` is given.
    threshold : float
        Minimum correlation of a match.
    min_distance : int
        Smallest separation between two matches (pixels).

    Returns
    -------
    tuple of (Dataset, Table)
        The float32 correlation map (same axes as ``dataset``) and the matches: ``x``, ``y``
        (pixels, centre of the template), ``x_cal``, ``y_cal``, ``score``; ``frame`` for
        stacks.
    """
    import numpy as np
    from skimage.feature import match_template, peak_local_max

    if dataset.signal_dims != 2:
        raise ParameterError("peaks.template_match works on images (two signal axes), got "
                             f"{dataset.signal_dims} signal axes")
    frames = list(_frames(dataset))
    if template is None:
        f0 = frames[0][1]
        s = min(template_size, *f0.shape)
        r0, c0 = (f0.shape[0] - s) // 2, (f0.shape[1] - s) // 2
        tpl = f0[r0:r0 + s, c0:c0 + s]
    else:
        if template.signal_dims != 2:
            raise ParameterError("peaks.template_match: the template must be an image")
        tpl = next(_frames(template))[1]
    if tpl.shape[0] > frames[0][1].shape[0] or tpl.shape[1] > frames[0][1].shape[1]:
        raise ParameterError(f"peaks.template_match: template {tpl.shape} is larger than the "
                             f"image {frames[0][1].shape}")
    if np.ptp(tpl) == 0:
        raise ParameterError("peaks.template_match: the template is constant (no contrast)")
    ay, ax = dataset.sig_axes
    out = np.empty(dataset.shape, np.float32)
    cols: dict[str, list[Any]] = {k: [] for k in ("frame", "x", "y", "x_cal", "y_cal",
                                                   "score")}
    nav = dataset.shape[:-2]
    for (n, frame), idx in zip(frames, np.ndindex(*nav)):
        cc = match_template(frame, tpl, pad_input=True, mode="constant")
        cc = np.nan_to_num(cc, nan=0.0, posinf=0.0, neginf=0.0)
        out[idx] = cc
        pk = peak_local_max(cc, min_distance=min_distance, threshold_abs=threshold,
                            exclude_border=False)
        rows, cs = pk[:, 0], pk[:, 1]
        if len(pk):
            dy, dx, val = _refine_paraboloid(_window_stack(cc, rows, cs, 1))
        else:
            dy = dx = val = np.zeros(0)
        x, y = cs + dx, rows + dy
        cols["frame"].extend([n] * len(pk))
        cols["x"].extend(x)
        cols["y"].extend(y)
        cols["x_cal"].extend(ax.offset + ax.scale * x)
        cols["y_cal"].extend(ay.offset + ay.scale * y)
        cols["score"].extend(np.minimum(val, 1.0))
    if not nav:
        del cols["frame"]
    columns = {k: np.asarray(v, dtype=np.int64 if k == "frame" else np.float64)
               for k, v in cols.items()}
    units = {k: v for k, v in {"x": "px", "y": "px", "x_cal": ax.units,
                               "y_cal": ay.units}.items() if v}
    cmap = dataset.replace(data=out, title=f"{dataset.title} correlation".strip())
    table = Table(columns, units=units, title=f"{dataset.title} matches".strip(),
                  metadata={"template_shape": list(tpl.shape), "threshold": threshold})
    return cmap, table


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(find, id="peaks.find", title="Find peaks…", menu="Analyze/Peaks",
                 kinds=("signal2d",), dtypes="iuf", gpu=True)
    registry.add(template_match, id="peaks.template_match", title="Template matching…",
                 menu="Analyze/Peaks", kinds=("signal2d",), dtypes="iuf")
