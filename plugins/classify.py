"""Built-in plugin: trainable pixel classification (``segment.pixel_classifier``).

The user paints a few brush strokes of each class (e.g. particle, support, vacuum) on an
image; a random forest trained on multi-scale filter responses of the stroked pixels then
classifies every pixel (Fiji's Trainable Weka Segmentation, ilastik's pixel classification,
napari-apoc). The strokes are a literal option, so a recorded session replays with no extra
files and gives the same numbers.

Features (:func:`pixel_features`), all computed with :mod:`scipy.ndimage` (``mode="reflect"``)
on the frame as float64 and stored as float32: the intensity itself and, for every scale
``s`` in ``sigmas``: Gaussian smoothing, gradient magnitude, Laplacian of Gaussian (``s²``-
normalised), difference of Gaussians (``G(s) - G(1.6 s)``), the two Hessian eigenvalues
(``s²``-normalised), the two eigenvalues of the structure tensor (gradients at 1 px,
integrated over ``s``) and the local standard deviation over a Gaussian window ``s``.

The operation computes the features in bands of rows (:func:`band_features`, with a halo of
rows that makes them equal, bit for bit, to the whole frame's), so its memory is bounded by
:data:`BAND_BYTES` (times the number of cores while the training features are computed,
one band per core) whatever the frame size: only the painted pixels' features are kept for
training, and every band is classified as soon as its features are computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from micrographia import Dataset, OperationError, ParameterError, Range, hookimpl

OP_ID = "segment.pixel_classifier"
#: Features computed per scale (see :func:`feature_names`).
PER_SIGMA = ("gaussian", "gradient", "log", "dog", "hessian_max", "hessian_min",
             "structure_max", "structure_min", "local_std")
MAX_LABEL = 255
#: Memory budget (bytes) of one band of rows: its features and the filter temporaries.
#: Features are computed, and pixels classified, band by band, so the memory the operation
#: needs does not grow with the frame size (see :func:`band_height`).
BAND_BYTES = 192 << 20
#: Features of training frames kept in memory for the classification pass (bytes, all
#: frames together); only frames whose whole features fit are kept, larger ones are
#: computed again, band by band.
CACHE_BYTES = 256 << 20
# float64 arrays alive at once in _features, per slab row (the band and its halo) and per
# band row (measured with tracemalloc; see band_height)
_SLAB_TEMPS = 8
_BAND_TEMPS = 10


# -- strokes -------------------------------------------------------------------------------
def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise ParameterError(f"{OP_ID}: {what} must be a number; got {v!r}")
    x = float(v)
    if not math.isfinite(x):
        raise ParameterError(f"{OP_ID}: {what} must be finite; got {v!r}")
    return x


def parse_strokes(strokes: Sequence[Mapping[str, Any]], shape: Sequence[int],
                  nav_shape: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Check training strokes and return them normalised.

    Parameters
    ----------
    strokes : sequence of mapping
        Each ``{"label": int, "points": [[y, x], ...], "radius": float, "frame": int}``:
        ``label`` 1 to 255 (0 erases earlier strokes' pixels), ``points`` the polyline in pixel
        coordinates (pixel centres at integers), ``radius`` the brush radius in pixels
        (default 1), ``frame`` the flat navigation index of the frame (default 0).
    shape : sequence of int
        ``(rows, columns)`` of a frame.
    nav_shape : sequence of int
        Navigation shape of the dataset (empty for one image).

    Returns
    -------
    list of dict
        Strokes with keys ``label`` (int), ``points`` (float array ``(n, 2)``), ``radius``
        (float) and ``frame`` (int).

    Raises
    ------
    ParameterError
        When a stroke is malformed, has a point outside the image or names a missing frame.
    """
    import numpy as np

    if isinstance(strokes, Mapping) or not isinstance(strokes, (list, tuple)):
        raise ParameterError(f"{OP_ID}: strokes must be a list of "
                             "{'label': ..., 'points': [[y, x], ...], 'radius': ...} entries")
    if not strokes:
        raise ParameterError(f"{OP_ID}: no training strokes; paint at least one stroke of two "
                             "different classes")
    n_frames = int(np.prod(tuple(nav_shape), dtype=np.int64))
    ny, nx = int(shape[0]), int(shape[1])
    out = []
    for i, s in enumerate(strokes):
        where = f"stroke {i + 1}"
        if not isinstance(s, Mapping):
            raise ParameterError(f"{OP_ID}: {where} must be a mapping with 'label' and "
                                 f"'points'; got {s!r}")
        unknown = set(s) - {"label", "points", "radius", "frame"}
        if unknown:
            raise ParameterError(f"{OP_ID}: {where} has unknown key(s) "
                                 f"{', '.join(sorted(map(str, unknown)))}")
        if "label" not in s or "points" not in s:
            raise ParameterError(f"{OP_ID}: {where} needs 'label' and 'points'")
        lab = s["label"]
        if isinstance(lab, bool) or not isinstance(lab, int) and not hasattr(lab, "__index__"):
            raise ParameterError(f"{OP_ID}: {where}: label must be an integer; got {lab!r}")
        lab = int(lab)
        if not 0 <= lab <= MAX_LABEL:
            raise ParameterError(f"{OP_ID}: {where}: label must be 1 to {MAX_LABEL} (0 erases);"
                                 f" got {lab}")
        radius = _number(s.get("radius", 1.0), f"{where}: radius")
        if not 0 <= radius <= 1000:
            raise ParameterError(f"{OP_ID}: {where}: radius must be 0 to 1000 px; got {radius}")
        frame = s.get("frame", 0)
        if isinstance(frame, bool) or not isinstance(frame, int) and not hasattr(
                frame, "__index__"):
            raise ParameterError(f"{OP_ID}: {where}: frame must be an integer; got {frame!r}")
        frame = int(frame)
        if not 0 <= frame < n_frames:
            raise ParameterError(f"{OP_ID}: {where}: frame {frame} does not exist (the data has "
                                 f"{n_frames} frame{'s' if n_frames != 1 else ''})")
        pts = s["points"]
        if not isinstance(pts, (list, tuple)) or not pts:
            raise ParameterError(f"{OP_ID}: {where}: points must be a non-empty list of [y, x]")
        arr = np.empty((len(pts), 2))
        for j, p in enumerate(pts):
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise ParameterError(f"{OP_ID}: {where}: point {j + 1} must be [y, x]; got {p!r}")
            arr[j] = (_number(p[0], f"{where}: y"), _number(p[1], f"{where}: x"))
        outside = ((arr[:, 0] < -0.5) | (arr[:, 0] > ny - 0.5) | (arr[:, 1] < -0.5)
                   | (arr[:, 1] > nx - 0.5))
        if outside.any():
            j = int(np.flatnonzero(outside)[0])
            raise ParameterError(
                f"{OP_ID}: {where}: point ({arr[j, 0]:g}, {arr[j, 1]:g}) is outside the "
                f"{ny} × {nx} image (pixel coordinates [y, x], from -0.5 to size - 0.5)")
        out.append({"label": lab, "points": arr, "radius": radius, "frame": frame})
    return out


def rasterize_strokes(strokes: Sequence[Mapping[str, Any]], shape: Sequence[int],
                      frame: int = 0) -> Any:
    """Paint the strokes of one frame into a label image (0 = not painted).

    A stroke covers the pixels whose centre lies within ``max(radius, 0.5)`` pixels of its
    polyline; strokes are painted in order, so a later stroke overwrites an earlier one and a
    stroke of label 0 erases.

    Parameters
    ----------
    strokes : sequence of mapping
        Strokes as returned by :func:`parse_strokes` (or raw ones: they are parsed).
    shape : sequence of int
        ``(rows, columns)``.
    frame : int
        Flat navigation index: only this frame's strokes are painted.

    Returns
    -------
    numpy.ndarray
        uint8 image of the given shape.
    """
    import numpy as np

    ny, nx = int(shape[0]), int(shape[1])
    out = np.zeros((ny, nx), np.uint8)
    for s in strokes:
        if int(s.get("frame", 0)) != frame:
            continue
        pts = np.asarray(s["points"], dtype=np.float64).reshape(-1, 2)
        r = max(float(s.get("radius", 1.0)), 0.5)
        segs = [(pts[0], pts[0])] if len(pts) == 1 else list(zip(pts[:-1], pts[1:]))
        painted = np.zeros((ny, nx), bool)
        for a, b in segs:
            y0 = max(int(math.floor(min(a[0], b[0]) - r)), 0)
            y1 = min(int(math.ceil(max(a[0], b[0]) + r)), ny - 1)
            x0 = max(int(math.floor(min(a[1], b[1]) - r)), 0)
            x1 = min(int(math.ceil(max(a[1], b[1]) + r)), nx - 1)
            if y1 < y0 or x1 < x0:
                continue
            yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
            d = b - a
            dd = float(d @ d)
            if dd > 0:
                t = np.clip(((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / dd, 0.0, 1.0)
            else:
                t = np.zeros_like(yy)
            dist2 = (yy - a[0] - t * d[0]) ** 2 + (xx - a[1] - t * d[1]) ** 2
            painted[y0:y1 + 1, x0:x1 + 1] |= dist2 <= r * r
        out[painted] = int(s["label"])
    return out


# -- features ------------------------------------------------------------------------------
def feature_names(sigmas: Sequence[float]) -> list[str]:
    """Return the names of the features :func:`pixel_features` computes, in order.

    Parameters
    ----------
    sigmas : sequence of float
        Scales in pixels.

    Returns
    -------
    list of str
        ``"intensity"`` then ``"<feature> s=<sigma>"`` for every scale.
    """
    return ["intensity"] + [f"{f} s={s:g}" for s in sigmas for f in PER_SIGMA]


def pixel_features(frame: Any, sigmas: Sequence[float]) -> Any:
    """Compute the multi-scale features of every pixel of a 2-D frame.

    The whole frame is filtered at once; :func:`band_features` gives the same numbers, bit
    for bit, for a band of rows with bounded memory.

    Parameters
    ----------
    frame : array_like
        2-D image (any real dtype).
    sigmas : sequence of float
        Gaussian scales in pixels.

    Returns
    -------
    numpy.ndarray
        float32 array ``(rows, columns, 1 + 9 * len(sigmas))``; see :func:`feature_names`.
    """
    import numpy as np

    f = np.asarray(frame, dtype=np.float64)
    return _features(f, sigmas, 0, f.shape[0])


def feature_halo(sigmas: Sequence[float]) -> int:
    """Return how many rows beyond a band the features of the band depend on.

    Every filter of :func:`pixel_features` reaches ``int(4 * sigma + 0.5)`` rows (the radius
    of :func:`scipy.ndimage.gaussian_filter1d` with ``truncate=4``); the difference of
    Gaussians reaches the radius at ``1.6 * sigma``, and the structure tensor smooths products
    of ``sigma = 1`` gradients, so its two radii add up.

    Parameters
    ----------
    sigmas : sequence of float
        Gaussian scales in pixels.

    Returns
    -------
    int
        The halo in rows.
    """
    r1 = _radius(1.0)
    return max(max(_radius(s) + r1, _radius(1.6 * float(s))) for s in sigmas)


def band_features(frame: Any, sigmas: Sequence[float], start: int, stop: int,
                  out: Any = None) -> Any:
    """Compute the features of the rows ``start:stop`` of a 2-D frame.

    Only the band and :func:`feature_halo` rows on either side of it are filtered (full
    width), and a band that reaches the top or bottom of the frame within its halo includes
    that edge, so every filter sees the same input as on the whole frame: the result equals
    ``pixel_features(frame, sigmas)[start:stop]`` bit for bit.

    Parameters
    ----------
    frame : array_like
        2-D image (any real dtype).
    sigmas : sequence of float
        Gaussian scales in pixels.
    start, stop : int
        First row and the row after the last one, ``0 <= start < stop <= rows``.
    out : numpy.ndarray, optional
        float32 array ``(stop - start, columns, 1 + 9 * len(sigmas))`` to write into.

    Returns
    -------
    numpy.ndarray
        float32 array ``(stop - start, columns, 1 + 9 * len(sigmas))`` (``out`` if given).
    """
    import numpy as np

    ny = int(np.shape(frame)[0])
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= ny:
        raise ValueError(f"rows {start}:{stop} are not a band of a frame of {ny} rows")
    halo = feature_halo(sigmas)
    a, b = max(0, start - halo), min(ny, stop + halo)
    f = np.asarray(frame[a:b], dtype=np.float64)
    return _features(f, sigmas, start - a, stop - a, out)


def band_height(shape: Sequence[int], sigmas: Sequence[float],
                budget: int | None = None) -> int:
    """Return the number of rows per band that keeps features and temporaries in a budget.

    Parameters
    ----------
    shape : sequence of int
        ``(rows, columns)`` of a frame.
    sigmas : sequence of float
        Gaussian scales in pixels.
    budget : int, optional
        Bytes for one band's features and filter temporaries (default :data:`BAND_BYTES`).

    Returns
    -------
    int
        Rows per band, 1 to ``rows``. When the halo rows alone exceed the budget (very
        large sigmas on wide frames), the band gets the rows the budget allows without its
        halo (up to the halo's height), and the halo's memory comes on top of the budget.
    """
    ny, nx = int(shape[0]), int(shape[1])
    budget = BAND_BYTES if budget is None else int(budget)
    nf = 1 + len(PER_SIGMA) * len(sigmas)
    halo = feature_halo(sigmas)
    per_band_row = nx * (4 * nf + 8 * _BAND_TEMPS)
    per_slab_row = nx * 8 * _SLAB_TEMPS
    h = (budget - 2 * halo * per_slab_row) // (per_band_row + per_slab_row)
    if h < halo:
        h = max(h, min(halo, budget // (per_band_row + per_slab_row)), 1)
    return int(max(1, min(ny, h)))


def _radius(sigma: float) -> int:
    """Radius of scipy.ndimage's Gaussian filters (``truncate=4``)."""
    return int(4.0 * float(sigma) + 0.5)


def _features(f: Any, sigmas: Sequence[float], lo: int, hi: int, out: Any = None) -> Any:
    """Features of the rows ``lo:hi`` of the float64 slab ``f``.

    The row (axis 0) passes filter the whole slab; the column passes and everything after
    them only the rows ``lo:hi``, with the same operations in the same order as
    ``ndi.gaussian_filter`` on the slab (rows first, then columns), so the numbers are those
    of the whole slab.
    """
    import numpy as np
    from scipy import ndimage as ndi

    def g1(a: Any, s: float, axis: int, order: int) -> Any:
        return ndi.gaussian_filter1d(a, s, axis=axis, order=order, mode="reflect")

    def smooth(a: Any, s: float) -> Any:  # == ndi.gaussian_filter(a, s)[lo:hi]
        return g1(g1(a, s, 0, 0)[lo:hi], s, 1, 0)

    nf = 1 + len(PER_SIGMA) * len(sigmas)
    if out is None:
        out = np.empty((hi - lo, f.shape[1], nf), np.float32)
    out[..., 0] = f[lo:hi]
    gy = ndi.gaussian_filter(f, 1.0, order=(1, 0), mode="reflect")
    gx = ndi.gaussian_filter(f, 1.0, order=(0, 1), mode="reflect")
    gyy, gxy, gxx = gy * gy, gx * gy, gx * gx
    del gy, gx
    f2 = f * f
    k = 1
    for s in sigmas:
        s = float(s)
        # Gaussian derivatives sharing their first (row) pass: the same operations, in the
        # same order, as ndi.gaussian_filter(f, s, order=(i, j)); one row pass at a time
        rows = g1(f, s, 0, 0)[lo:hi]
        g = g1(rows, s, 1, 0)
        dc = g1(rows, s, 1, 1)
        hcc = g1(rows, s, 1, 2)
        rows = g1(f, s, 0, 1)[lo:hi]
        dr = g1(rows, s, 1, 0)
        hrc = g1(rows, s, 1, 1)
        rows = g1(f, s, 0, 2)[lo:hi]
        hrr = g1(rows, s, 1, 0)
        del rows
        out[..., k] = g
        out[..., k + 1] = np.hypot(dr, dc)
        del dr, dc
        out[..., k + 2] = (hrr + hcc) * s * s
        out[..., k + 3] = g - smooth(f, 1.6 * s)
        half_tr, root = _eig2(hrr, hrc, hcc)
        del hrr, hrc, hcc
        out[..., k + 4] = (half_tr + root) * s * s
        out[..., k + 5] = (half_tr - root) * s * s
        arr = smooth(gyy, s)
        arc = smooth(gxy, s)
        acc = smooth(gxx, s)
        half_tr, root = _eig2(arr, arc, acc)
        del arr, arc, acc
        out[..., k + 6] = half_tr + root
        out[..., k + 7] = half_tr - root
        del half_tr, root
        var = smooth(f2, s) - g * g
        out[..., k + 8] = np.sqrt(np.maximum(var, 0.0))
        del var, g
        k += len(PER_SIGMA)
    return out


def _eig2(a: Any, b: Any, c: Any) -> tuple[Any, Any]:
    """Half trace and half eigenvalue gap of the symmetric 2×2 matrices [[a, b], [b, c]]."""
    import numpy as np

    return (a + c) / 2, np.sqrt(((a - c) / 2) ** 2 + b * b)


# -- the operation -------------------------------------------------------------------------
def _frame(dataset: Dataset, k: int) -> Any:
    import numpy as np

    from micrographia.backend import to_numpy

    nav = dataset.nav_shape
    idx = np.unravel_index(k, nav) if nav else ()
    f = dataset.data[tuple(int(i) for i in idx)]
    if hasattr(f, "compute"):
        f = f.compute()
    f = to_numpy(f)
    if f.dtype.kind == "b":
        f = f.astype(np.uint8)
    return f


def pixel_classifier(dataset: Dataset, *,
                     strokes: tuple[dict[str, Any], ...] = (),
                     sigmas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0),
                     n_estimators: Annotated[int, Range(1, 1000)] = 50,
                     max_depth: Annotated[int, Range(1, 1000)] | None = None,
                     seed: Annotated[int, Range(0, 2 ** 31 - 1)] = 0,
                     output: Literal["labels", "probabilities"] = "labels") -> Dataset:
    """Trainable pixel classifier: a random forest learns classes from painted strokes.

    The pixels under the strokes are the training set; their features (multi-scale Gaussian
    intensity, gradient magnitude, Laplacian and difference of Gaussians, Hessian and
    structure-tensor eigenvalues, local standard deviation, see the module notes) train a
    ``sklearn.ensemble.RandomForestClassifier(n_estimators, max_depth, random_state=seed,
    n_jobs=-1)``, which then classifies every pixel of every frame. With the same strokes
    and options the result is the same, bit for bit (training is seeded and predictions are
    made in fixed pixel blocks). On a stack the strokes of all frames train one classifier,
    applied to each frame. Features are computed in bands of rows, so memory stays bounded
    on large frames; the result does not depend on the band height.

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images.
    strokes : list of dict
        Training strokes ``{"label": 1, "radius": 3.0, "points": [[y, x], ...], "frame": 0}``
        in pixel coordinates (pixel centres at integers): ``label`` is the class (1 to 255;
        0 erases pixels painted by earlier strokes), ``radius`` the brush radius in pixels
        (default 1), ``frame`` the flat index of the frame of a stack (default 0). At least
        two classes are needed.
    sigmas : list of float
        Scales (Gaussian sigmas, pixels) at which features are computed: small scales
        describe edges and fine texture, large ones the surroundings.
    n_estimators : int
        Number of trees of the forest.
    max_depth : int, optional
        Largest depth of a tree (None: grown until the leaves are pure).
    seed : int
        Random state of the forest (fixed, so results are reproducible).
    output : {"labels", "probabilities"}
        ``"labels"``: the class of every pixel (the painted label values); ``"probabilities"``:
        one probability map per class, stacked along a new ``class`` navigation axis.

    Returns
    -------
    Dataset
        int32 label image (same axes and calibration as the input), or float32 probabilities
        with a ``class`` navigation axis after the input's navigation axes. The labels, the
        number of training pixels per class and the options are stored in
        ``metadata["Micrographia"]["pixel_classifier"]``.

    Raises
    ------
    ParameterError
        No strokes, only one class painted, a point outside the image, a missing frame or
        bad sigmas.
    """
    import concurrent.futures

    import numpy as np

    from micrographia.frames import cpu_workers
    from micrographia.tasks import check_cancelled, report_progress

    if dataset.signal_dims != 2:
        raise ParameterError(f"{OP_ID} works on images (two signal axes), got "
                             f"{dataset.signal_dims} signal axes")
    if dataset.dtype.kind not in "iufb":
        raise ParameterError(f"{OP_ID} needs real-valued data, got {dataset.dtype}")
    sig = tuple(dataset.sig_shape)
    nav = tuple(dataset.nav_shape)
    try:
        sigmas = tuple(_number(s, "each sigma") for s in sigmas)
    except TypeError:
        raise ParameterError(f"{OP_ID}: sigmas must be a list of numbers") from None
    if not 1 <= len(sigmas) <= 12:
        raise ParameterError(f"{OP_ID}: give 1 to 12 sigmas; got {len(sigmas)}")
    if any(not 0.3 <= s <= 256 for s in sigmas):
        raise ParameterError(f"{OP_ID}: sigmas must be between 0.3 and 256 px; got {sigmas}")
    parsed = parse_strokes(strokes, sig, nav)
    frames = sorted({s["frame"] for s in parsed})
    painted = {k: rasterize_strokes(parsed, sig, k) for k in frames}
    counts = np.bincount(np.concatenate([p.ravel() for p in painted.values()]),
                         minlength=MAX_LABEL + 1)
    labels = [int(v) for v in np.flatnonzero(counts[1:]) + 1]
    if len(labels) < 2:
        which = f"class {labels[0]}" if labels else "no class (everything was erased)"
        raise ParameterError(f"{OP_ID}: the strokes paint {which}; paint at least two "
                             "different classes")
    n_frames = int(np.prod(nav, dtype=np.int64))

    # features are computed in bands of rows (bounded memory, see band_height); the same
    # numbers as on the whole frame, so the result does not depend on the band height
    ny, nx = sig
    nf = 1 + len(PER_SIGMA) * len(sigmas)
    rows_per_band = band_height(sig, sigmas)
    bands = [(r0, min(r0 + rows_per_band, ny)) for r0 in range(0, ny, rows_per_band)]
    frame_bytes = ny * nx * nf * 4

    # training set: the features of the painted pixels, band by band (bands without strokes
    # are skipped); the whole features of training frames are kept for classifying while
    # they fit in CACHE_BYTES
    xs, ys = [], []
    cache: dict[int, Any] = {}
    cached = 0
    n_train = len(frames)
    workers = max(1, cpu_workers())
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mg-pixfeat") as tx:
        for i, k in enumerate(frames):
            check_cancelled()
            img = _frame(dataset, k)
            lab = painted[k]
            keep = cached + frame_bytes <= CACHE_BYTES
            whole = np.empty(sig + (nf,), np.float32) if keep else None
            todo = [(r0, r1) for r0, r1 in bands if whole is not None or (lab[r0:r1] > 0).any()]

            def painted_features(band: tuple[int, int], img: Any = img, lab: Any = lab,
                                 whole: Any = whole) -> tuple[Any, Any]:
                r0, r1 = band
                feats = band_features(img, sigmas, r0, r1,
                                      out=None if whole is None else whole[r0:r1])
                m = lab[r0:r1] > 0
                return feats[m], lab[r0:r1][m]

            # bands in parallel threads (scipy.ndimage releases the GIL), a few at a time so that
            # memory stays bounded; results in band order, so the training set does not depend
            # on the threads
            for j in range(0, len(todo), workers):
                check_cancelled()  # (the task's cancel flag is not visible in the pool's threads)
                for x, y in tx.map(painted_features, todo[j:j + workers]):
                    xs.append(x)
                    ys.append(y)
                report_progress(0.5 * (i + todo[min(j + workers, len(todo)) - 1][1] / ny)
                                / n_train / (n_frames + 1), "computing training features")
            if whole is not None:
                cache[k] = whole
                cached += frame_bytes
            del img, whole
    report_progress(0.5 / (n_frames + 1), "training the random forest")
    try:
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        raise OperationError(f"{OP_ID} needs scikit-learn: pip install scikit-learn") from None

    clf = RandomForestClassifier(n_estimators=int(n_estimators), max_depth=max_depth,
                                 random_state=int(seed), n_jobs=-1)
    clf.fit(np.concatenate(xs), np.concatenate(ys))
    del xs, ys
    clf.n_jobs = 1  # prediction is split into fixed blocks below: order-independent sums
    classes = np.asarray(clf.classes_, dtype=np.int32)
    n_cls = len(classes)
    report_progress(1 / (n_frames + 1), "classifying")

    want_p = output == "probabilities"
    out = np.empty(nav + ((n_cls,) if want_p else ()) + sig,
                   np.float32 if want_p else np.int32)
    block = 65536
    workers = max(1, cpu_workers())
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mg-pixclf") as ex:
        for k in range(n_frames):
            check_cancelled()
            whole = cache.pop(k, None)
            img = _frame(dataset, k) if whole is None else None
            idx = np.unravel_index(k, nav) if nav else ()
            dest = out[tuple(int(i) for i in idx)]
            for r0, r1 in bands:
                check_cancelled()
                feats = (whole[r0:r1] if whole is not None
                         else band_features(img, sigmas, r0, r1))
                feats = feats.reshape(-1, nf)
                # predictions in fixed blocks of the band's pixels: each pixel's
                # probabilities are its own trees' votes, whatever the block or band
                starts = range(0, feats.shape[0], block)
                probs = list(ex.map(lambda j, f=feats: clf.predict_proba(f[j:j + block]),
                                    starts))
                p = np.concatenate(probs).astype(np.float32)
                del probs, feats
                if want_p:
                    dest[:, r0:r1] = np.moveaxis(p.reshape((r1 - r0, nx, n_cls)), -1, 0)
                else:
                    dest[r0:r1] = classes[np.argmax(p, axis=1)].reshape(r1 - r0, nx)
                report_progress((k + 1 + r1 / ny) / (n_frames + 1), "classifying")
            del whole, img

    from micrographia.dataset import Axis, thaw

    md = thaw(dataset.metadata)
    if not isinstance(md, dict):
        md = dict(md)
    mine = md.get("Micrographia")
    mine = dict(mine) if isinstance(mine, dict) else {}
    mine["pixel_classifier"] = {
        "labels": [int(c) for c in classes],
        "training_pixels": {str(int(c)): int(counts[c]) for c in classes},
        "sigmas": list(sigmas), "features": feature_names(sigmas),
        "n_estimators": int(n_estimators), "max_depth": max_depth, "seed": int(seed)}
    title = f"{dataset.title} pixel classes".strip()
    if not want_p:
        md["Micrographia"] = {**mine, "labels": True}  # shown with the categorical palette
        return dataset.replace(data=out, title=title, metadata=md, intensity=None)
    md["Micrographia"] = mine
    contiguous = bool(np.all(np.diff(classes) == 1))
    cls_axis = Axis("class", n_cls, scale=1.0, offset=float(classes[0]) if contiguous else 0.0,
                    units="", navigate=True)
    axes = dataset.nav_axes + (cls_axis,) + dataset.sig_axes
    return dataset.replace(data=out, axes=axes, title=f"{dataset.title} class probabilities"
                           .strip(), metadata=md, intensity=None)


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(pixel_classifier, id=OP_ID, title="Pixel classifier…", menu="Analyze/Segment",
                 kinds=("signal2d",), dtypes="iuf")
