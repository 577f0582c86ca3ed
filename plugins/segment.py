"""Built-in plugin: segmentation (``segment.*``).

Global and local thresholds, multi-level Otsu, binary morphology, connected-component labelling
and distance-transform watershed. Every operation works frame by frame over the navigation
axes (a stack is segmented image by image), keeps the axes and calibrations of its input and
never modifies it. Lazy (dask) data stays lazy where the result of a frame depends only on that
frame.

In-memory data handed over on the GPU (cupy arrays: ``compute.execute`` moves the inputs there when
the device setting allows) is segmented there: histograms, filters, morphology and labelling run
with ``cupy`` / ``cupyx.scipy.ndimage``, only scalars (threshold values) and small histograms come
back to the host, where the scikit-image threshold rules are applied unchanged. The watershed is
CPU-only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Units, hookimpl
from micrographia.backend import is_gpu_array, ndimage_namespace

_METHODS = ("otsu", "li", "yen", "triangle", "isodata", "mean")


def _need_2d(dataset: Dataset, op_id: str) -> None:
    if dataset.signal_dims != 2:
        raise ParameterError(f"{op_id} works on images (two signal axes), got "
                             f"{dataset.signal_dims} signal axes")


def _with_meta(dataset: Dataset, data: Any, title: str, **entries: Any) -> Dataset:
    """Return ``dataset`` with new data and title, ``entries`` added to metadata.Micrographia."""
    from micrographia.dataset import thaw

    md = thaw(dataset.metadata)
    if not isinstance(md, dict):
        md = dict(md)
    mine = md.get("Micrographia")
    mine = dict(mine) if isinstance(mine, dict) else {}
    mine.update(entries)
    md["Micrographia"] = mine
    return dataset.replace(data=data, title=title, metadata=md)


def _host_scalar(v: Any) -> Any:
    """Return a device or host 0-d value as a numpy scalar (keeps its dtype)."""
    import numpy as np

    from micrographia.backend import to_numpy

    return np.asarray(to_numpy(v))[()]


def _histogram_xp(x: Any, nbins: int = 256) -> tuple[Any, Any]:
    """``skimage.exposure.histogram(x.ravel(), nbins, source_range="image")`` of a device array.

    The counts are computed on the device with the bins scikit-image uses (one bin per integer
    value for integer data; for floats numpy's ``nbins`` equal bins between the minimum and the
    maximum, edges computed on the host exactly as :func:`numpy.histogram` does) and returned
    to the host with the bin centres, so that scikit-image's ``threshold_*(hist=...)`` gives the
    values it would compute from the image.

    Parameters
    ----------
    x : cupy.ndarray
        The image (any shape; it is flattened).
    nbins : int
        Number of bins for floating-point data (ignored for integers).

    Returns
    -------
    counts : numpy.ndarray
        int64 counts.
    centers : numpy.ndarray
        Bin centres (int64 for integer data, the data's float type otherwise).
    """
    import numpy as np

    from micrographia.backend import array_namespace, to_numpy

    xp = array_namespace(x)
    x = x.ravel()
    if x.dtype.kind in "iu":
        lo, hi = int(_host_scalar(x.min())), int(_host_scalar(x.max()))
        counts = xp.bincount(x.astype(xp.int64) - lo, minlength=hi - lo + 1)
        return np.asarray(to_numpy(counts), np.int64), np.arange(lo, hi + 1)
    lo, hi = _host_scalar(x.min()), _host_scalar(x.max())
    # the edges numpy.histogram(x, nbins) uses (same range checks, same dtype, same linspace)
    edges = np.histogram_bin_edges(np.array([lo, hi], dtype=x.dtype), bins=nbins)
    counts, _ = xp.histogram(x, bins=xp.asarray(edges))
    return np.asarray(to_numpy(counts), np.int64), (edges[:-1] + edges[1:]) / 2.0


def _triangle_from_hist(hist: Any, bin_centers: Any) -> Any:
    """Triangle threshold (Zack, Rogers & Latt 1977) of a histogram.

    A line joins the histogram's peak to the far end of its longer tail (at height zero); the
    threshold is the tail bin farthest below that line. Same conventions as
    :func:`skimage.filters.threshold_triangle` (which needs the image, not its histogram): the
    tail's first non-empty bin is the line's foot, ties go to the bin nearest the foot, and a
    histogram with one occupied bin gives that bin.
    """
    import numpy as np

    h = np.asarray(hist, dtype=np.float64)
    n = h.size
    occupied = np.flatnonzero(h)
    first, last = int(occupied[0]), int(occupied[-1])
    if first == last:
        return bin_centers[first]
    top = int(np.argmax(h))
    mirrored = top - first < last - top  # the right tail is the longer one: work mirrored
    if mirrored:
        h = h[::-1]
        first, top = n - 1 - last, n - 1 - top
    run = top - first
    norm = np.hypot(h[top], run)
    # signed distance (times a positive constant) of each tail bin below the foot-peak line
    below = (h[top] / norm) * np.arange(run) - (run / norm) * h[first:top]
    k = first + int(np.argmax(below))
    return bin_centers[n - 1 - k if mirrored else k]


def _li_xp(x: Any) -> Any:
    """Li's minimum cross-entropy threshold of a device array (means computed on the device).

    The fixed-point iteration of Li & Tam (1998), ``t ← (μ_low − μ_high) / (ln μ_low −
    ln μ_high)`` from the mean, with :func:`skimage.filters.threshold_li`'s conventions: values
    shifted to start at zero, NaNs ignored, integer data iterated on its histogram, stop when
    ``t`` moves by no more than half the smallest step between values.
    """
    import numpy as np

    from micrographia.backend import array_namespace

    xp = array_namespace(x)
    v = x.ravel()
    v = v[~xp.isnan(v)]
    if v.size == 0:
        return np.nan
    if bool(xp.all(v == v[0])):
        return _host_scalar(v[0])
    v = v[xp.isfinite(v)]
    if v.size == 0:
        return 0.0
    offset = _host_scalar(v.min())
    v = v - v.dtype.type(offset)  # class means must be ≥ 0 for their logarithms
    integer = v.dtype.kind in "iu"
    step = 1.0 if integer else _host_scalar(xp.min(xp.diff(xp.unique(v))))
    if integer:
        counts, centres = _histogram_xp(v)
        counts = counts.astype("float32", copy=False)

        def class_means(t: float) -> tuple[float, float]:
            high = centres > t
            return (np.average(centres[~high], weights=counts[~high]),
                    np.average(centres[high], weights=counts[high]))
    else:
        def class_means(t: float) -> tuple[float, float]:
            high = v > t
            return _host_scalar(xp.mean(v[~high])), _host_scalar(xp.mean(v[high]))

    t, previous = _host_scalar(xp.mean(v)), -step
    while abs(t - previous) > step / 2:
        previous = t
        low, high = class_means(t)
        if low == 0:
            break
        t = (low - high) / (np.log(low) - np.log(high))
    return t + offset


def _pmap(func: Any, data: Any, out_dtype: Any, message: str) -> Any:
    """Apply ``func(frame, k)`` to every 2-D frame (``k``: flat navigation index).

    In-memory stacks are processed by a pool of threads (one per core: scipy, scikit-image
    and numpy release the GIL in their inner loops), with progress and cancellation handled
    by the calling thread; lazy data goes through :func:`micrographia.frames.map_frames`
    (dask's scheduler parallelises it, ``k`` is then -1); a single frame is called directly.
    """
    import numpy as np

    from micrographia.backend import is_lazy_array
    from micrographia.frames import cpu_workers, map_frames

    nav = tuple(data.shape[:-2])
    n = int(np.prod(nav, dtype=np.int64))
    workers = min(cpu_workers(), n)
    if is_lazy_array(data) or workers <= 1 or type(data).__module__.split(".")[0] == "cupy":
        counter = iter(range(n)) if not is_lazy_array(data) else None

        def one(f: Any) -> Any:
            return func(f, -1 if counter is None else next(counter))

        return map_frames(one, data, signal_ndim=2, out_dtype=out_dtype, message=message)
    import concurrent.futures

    from micrographia.tasks import check_cancelled, report_progress

    out = np.empty(data.shape, out_dtype)
    idxs = list(np.ndindex(*nav))

    def work(k: int) -> None:
        out[idxs[k]] = func(data[idxs[k]], k)

    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mg-frames") as ex:
        futures = [ex.submit(work, k) for k in range(n)]
        try:
            for k, fut in enumerate(futures):
                check_cancelled()
                fut.result()
                report_progress((k + 1) / n, message)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return out


def _threshold_value(frame: Any, method: str) -> float:
    import numpy as np
    from skimage import filters

    if is_gpu_array(frame):
        return _threshold_value_xp(frame, method)
    f = np.asarray(frame)
    if f.dtype.kind == "b":
        f = f.astype(np.uint8)
    func = getattr(filters, f"threshold_{method}")
    if np.all(f == f.flat[0]):  # a constant frame has no threshold: nothing is above it
        return float(f.flat[0])
    return float(func(f))


def _threshold_value_xp(x: Any, method: str) -> float:
    """:func:`_threshold_value` of a device frame: histogram / means on the device."""
    from skimage import filters

    from micrographia.backend import array_namespace

    xp = array_namespace(x)
    if x.dtype.kind == "b":
        x = x.astype(xp.uint8)
    first = x.ravel()[0]
    if bool(xp.all(x == first)):
        return float(_host_scalar(first))
    if method == "mean":
        return float(_host_scalar(xp.mean(x)))
    if method == "li":
        return float(_li_xp(x))
    hist = _histogram_xp(x)
    if method == "triangle":
        return float(_triangle_from_hist(*hist))
    return float(getattr(filters, f"threshold_{method}")(hist=hist))


# -- threshold -------------------------------------------------------------------------------
def threshold(dataset: Dataset, *,
              method: Literal["otsu", "li", "yen", "triangle", "isodata", "mean",
                              "manual"] = "otsu",
              value: float = 0.0, invert: bool = False) -> Dataset:
    """Global threshold of every frame into a boolean mask.

    The threshold is computed separately for every frame with scikit-image's
    ``threshold_<method>`` (the values are identical to scikit-image's) and pixels strictly
    above it are foreground (``image > t``, scikit-image's convention). The values used are
    stored in ``metadata["Micrographia"]["threshold"]`` (one per frame, in navigation order;
    for lazy data they are not known before computing and the entry is absent).

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images.
    method : {"otsu", "li", "yen", "triangle", "isodata", "mean", "manual"}
        Automatic method, or ``"manual"`` to use ``value``.
    value : float
        Threshold in the data's units, used when ``method`` is ``"manual"``.
    invert : bool
        Select dark objects: foreground is ``image <= t`` instead of ``image > t``.

    Returns
    -------
    Dataset
        bool mask, same shape and axes.
    """
    import numpy as np

    _need_2d(dataset, "segment.threshold")

    used: dict[int, float] = {}

    def frame(f, k):  # noqa: ANN001, ANN202
        if not is_gpu_array(f):
            f = np.asarray(f)
        t = value if method == "manual" else _threshold_value(f, method)
        used[k] = float(t)
        m = f > t
        return ~m if invert else m

    out = _pmap(frame, dataset.data, bool, f"{method} threshold")
    title = f"{dataset.title} {method} threshold".strip()
    if dataset.is_lazy:
        return dataset.replace(data=out, title=title)
    return _with_meta(dataset, out, title, threshold=[used[k] for k in sorted(used)],
                      threshold_method=method)


def multi_otsu(dataset: Dataset, *,
               classes: Annotated[int, Range(2, 5), Step(1)] = 3) -> Dataset:
    """Multi-level Otsu: split every frame into ``classes`` intensity classes.

    Thresholds come from ``skimage.filters.threshold_multiotsu`` (256-bin histogram) per frame;
    class ``k`` holds the pixels between threshold ``k-1`` and ``k`` (``numpy.digitize``). The
    thresholds are stored in ``metadata["Micrographia"]["thresholds"]`` (eager data).

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images.
    classes : int
        Number of classes (2 to 5).

    Returns
    -------
    Dataset
        uint8 class image (0 = darkest class), same axes.
    """
    import numpy as np
    from skimage.filters import threshold_multiotsu

    _need_2d(dataset, "segment.multi_otsu")

    used: dict[int, list[float]] = {}

    def frame(f, k):  # noqa: ANN001, ANN202
        gpu = is_gpu_array(f)
        f = f if gpu else np.asarray(f)
        if f.dtype.kind == "b":
            f = f.astype(np.uint8)
        try:
            if gpu:  # histogram on the device, normalised as threshold_multiotsu does
                counts, centers = _histogram_xp(f)
                t = threshold_multiotsu(hist=(counts / np.sum(counts), centers), classes=classes)
            else:
                t = threshold_multiotsu(f, classes=classes)
        except ValueError as exc:
            raise ParameterError(f"segment.multi_otsu: cannot find {classes} classes in a frame "
                                 f"({exc})") from None
        used[k] = [float(v) for v in t]
        if gpu:
            import cupy

            return cupy.digitize(f, cupy.asarray(t)).astype(np.uint8)
        return np.digitize(f, bins=t).astype(np.uint8)

    out = _pmap(frame, dataset.data, np.uint8, "multi-Otsu")
    title = f"{dataset.title} multi-Otsu {classes}".strip()
    if dataset.is_lazy:  # thresholds are known only once computed
        return _with_meta(dataset, out, title, labels=True)
    return _with_meta(dataset, out, title, labels=True,
                      thresholds=[used[k] for k in sorted(used)])


def local_threshold(dataset: Dataset, *,
                    block_size: Annotated[int, Range(3, 10001), Step(2), Units("px")] = 35,
                    method: Literal["gaussian", "mean", "median"] = "gaussian",
                    offset: float = 0.0, invert: bool = False) -> Dataset:
    """Adaptive (local) threshold: each pixel against a weighted mean of its neighbourhood.

    Uses ``skimage.filters.threshold_local``; foreground is ``image > local - offset``.

    Parameters
    ----------
    dataset : Dataset
        Image or stack of images.
    block_size : int
        Odd size of the neighbourhood.
    method : {"gaussian", "mean", "median"}
        How the neighbourhood is averaged (gaussian: σ = (block_size - 1) / 6).
    offset : float
        Subtracted from the local threshold, in the data's units.
    invert : bool
        Select dark objects (``image <= local - offset``).

    Returns
    -------
    Dataset
        bool mask, same axes.
    """
    import numpy as np
    from skimage.filters import threshold_local

    _need_2d(dataset, "segment.local_threshold")
    if block_size % 2 == 0:
        raise ParameterError(f"segment.local_threshold: block_size must be odd, got {block_size}")

    def frame(f, k):  # noqa: ANN001, ANN202
        if is_gpu_array(f):  # the filters threshold_local applies, on the device
            from cupyx.scipy import ndimage as cndi

            f = f.astype(np.float64)
            if method == "gaussian":
                sigma = ((block_size - 1) / 6.0,) * 2
                local = cndi.gaussian_filter(f, sigma, mode="reflect", cval=0, truncate=4.0)
            elif method == "mean":
                local = cndi.uniform_filter(f, block_size, mode="reflect", cval=0)
            else:
                local = cndi.median_filter(f, block_size, mode="reflect", cval=0)
            m = f > local - offset
        else:
            f = np.asarray(f).astype(np.float64)
            m = f > threshold_local(f, block_size, method=method, offset=offset)
        return ~m if invert else m

    out = _pmap(frame, dataset.data, bool, "local threshold")
    return dataset.replace(data=out, title=f"{dataset.title} local threshold".strip())


# -- watershed -------------------------------------------------------------------------------
# The markers are the maxima of the distance transform found by ``skimage.feature.
# peak_local_max`` in each connected component, kept (h > 0) as the plateaus of
# ``skimage.morphology.h_maxima`` that they hit. Both are computed here on the mask pixels only
# and give the same pixels (tests/test_watershed_markers.py): the peak window is evaluated only
# where a pixel is the maximum of its 3 × 3 neighbourhood, and the dynamic of every regional
# maximum comes from the graph of the ascent basins instead of a grey reconstruction of the
# whole frame, which is what made the h-maxima slow.

_EDT_WORK = 1.0  # own distance transform while its work (pixel × offsets) ≤ this × frame size
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def _runs(pos: Any, lo: Any, length: int, far: int) -> tuple[Any, Any]:
    """Count the steps from each pixel to the background before and after it on its line.

    ``pos`` are the sorted flat indices of mask pixels along lines of ``length`` pixels, ``lo``
    their index within the line. Returns ``(before, after)``; a run that touches the end of
    its line has no background on that side: ``far`` there.
    """
    import numpy as np

    n = pos.size
    brk = np.empty(n, bool)
    brk[0] = True
    np.not_equal(np.diff(pos), 1, out=brk[1:])
    brk[1:] |= lo[1:] == 0
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n) - 1
    rid = np.cumsum(brk) - 1
    first, last = lo[starts], lo[ends]
    before = lo - first[rid] + 1
    before[(first == 0)[rid]] = far
    after = last[rid] - lo + 1
    after[(last == length - 1)[rid]] = far
    return before, after


def _edt_exact(mask: Any, pix: Any) -> tuple[Any, Any]:
    """Euclidean distance transform of a 2-D mask, bit-equal to ``ndi.distance_transform_edt``.

    For masks of small or thin objects (the usual input of a watershed) the transform is
    computed on the mask pixels ``pix`` (sorted flat indices) only: the vertical distance ``g``
    to the background comes from the column runs, then the squared distance
    ``min_d g(r, c ± d)² + d²`` is minimised over growing horizontal offsets ``d`` for the
    pixels whose current value still exceeds ``d²``. The result is the square root of an exact
    integer, as scipy's. Where that would cost more than scipy's full-frame transform (large
    objects) or the mask has no background, scipy is used.

    Returns
    -------
    tuple
        The frame of distances (float64) and the distances at ``pix``.
    """
    import numpy as np
    from scipy import ndimage as ndi

    rows, cols = mask.shape
    size = rows * cols
    if pix.size == size:
        dist = ndi.distance_transform_edt(mask)
        return dist, dist.ravel()[pix]
    far = 2 * (rows + cols)  # beyond any distance inside the frame
    c = pix % cols
    left, right = _runs(pix, c, cols, far)
    bound = np.minimum(left, right)
    if float(bound.sum()) > 8 * _EDT_WORK * size:  # wide objects (unless long thin rows)
        dist = ndi.distance_transform_edt(mask)
        return dist, dist.ravel()[pix]
    col_pix = np.flatnonzero(mask.T)  # column-major: c * rows + r
    qc, qr = np.divmod(col_pix, rows)
    up, down = _runs(col_pix, qr, rows, far)
    vert = np.zeros(size, np.int32)
    vert[qr * cols + qc] = np.minimum(up, down)
    bound = np.minimum(vert[pix], bound).astype(np.int64)
    if float(bound.sum()) > _EDT_WORK * size:
        dist = ndi.distance_transform_edt(mask)
        return dist, dist.ravel()[pix]
    d2 = bound * bound  # the nearest background in the column or the row
    never = 16 * (rows + cols) ** 2
    act = np.flatnonzero(bound > 1)
    d = 1
    while act.size:
        dd = d * d
        act = act[d2[act] > dd]
        if not act.size:
            break
        base, ca = pix[act], c[act]
        best = d2[act]
        g = vert[base - d].astype(np.int64)  # column c - d (masked below where c < d)
        cand = g * g + dd
        cand[ca < d] = never
        np.minimum(best, cand, out=best)
        g = vert[np.minimum(base + d, size - 1)].astype(np.int64)
        cand = g * g + dd
        cand[ca + d >= cols] = never
        np.minimum(best, cand, out=best)
        d2[act] = best
        d += 1
    vals = np.sqrt(d2.astype(np.float64))
    dist = np.zeros(size, np.float64)
    dist[pix] = vals
    return dist.reshape(rows, cols), vals


class _MaskPixels:
    """The pixels of a 2-D mask, their distances and their 3 × 3 neighbourhoods.

    ``pix``: sorted flat indices; ``vals``: distances there; ``top``: flat index of the highest
    of the 8 neighbours; ``lm``: the pixel is a maximum of its 3 × 3 neighbourhood; ``high4``:
    a 4-neighbour is higher. Neighbours outside the frame are clipped to the edge (a pixel of
    the same 3 × 3 neighbourhood, so maxima and adjacencies are unchanged).
    """

    def __init__(self, mask: Any, dist: Any, pix: Any, vals: Any) -> None:
        import numpy as np

        self.shape = mask.shape
        self.mask, self.dist, self.pix, self.vals = mask, dist, pix, vals
        rows, cols = mask.shape
        self.r, self.c = np.divmod(pix, cols)
        r, c = self.r, self.c
        self.edge = np.flatnonzero((r == 0) | (r == rows - 1) | (c == 0) | (c == cols - 1))
        fl = dist.ravel()
        n = pix.size
        top_v = np.full(n, -np.inf)
        self.top = np.empty(n, np.int64)
        self.high4 = np.zeros(n, bool)
        for k, (a, b) in enumerate(_NEIGHBOURS):
            nb = self.nbr(k)
            v = fl[nb]
            up = v > top_v
            np.copyto(top_v, v, where=up)
            np.copyto(self.top, nb, where=up)
            if not (a and b):
                self.high4 |= v > vals
        self.lm = top_v <= vals
        self._idmap: Any = None

    def nbr(self, k: int, idx: Any = None) -> Any:
        """Flat indices of neighbour ``k`` (of ``_NEIGHBOURS``) of all pixels or of ``idx``."""
        import numpy as np

        rows, cols = self.shape
        a, b = _NEIGHBOURS[k]
        if idx is not None:
            return (np.clip(self.r[idx] + a, 0, rows - 1) * cols
                    + np.clip(self.c[idx] + b, 0, cols - 1))
        out = self.pix + (a * cols + b)
        e = self.edge
        out[e] = np.clip(self.r[e] + a, 0, rows - 1) * cols + np.clip(self.c[e] + b, 0, cols - 1)
        return out

    @property
    def idmap(self) -> Any:
        """Frame-sized map from a flat index of a mask pixel to its position in ``pix``."""
        import numpy as np

        if self._idmap is None:
            n = self.pix.size
            self._idmap = np.empty(self.shape[0] * self.shape[1],
                                   np.int32 if n < 2 ** 31 else np.int64)
            self._idmap[self.pix] = np.arange(self.pix.size)
        return self._idmap


def _spacing_keep(coords: Any, group: Any, rank: Any, spacing: int) -> Any:
    """Greedy minimum spacing as ``peak_local_max``'s ``ensure_spacing`` (Chebyshev norm).

    Peaks are visited by increasing ``rank``; one is dropped when a kept peak of the same
    ``group`` lies closer than ``spacing``. Only peaks with such a neighbour are visited in
    Python. Returns the boolean keep mask.
    """
    import numpy as np
    from scipy.spatial import cKDTree

    keep = np.ones(len(coords), bool)
    if spacing <= 1 or len(coords) < 2:
        return keep
    pairs = cKDTree(coords).query_pairs(r=spacing - 1, p=np.inf, output_type="ndarray")
    if pairs.size:
        pairs = pairs[group[pairs[:, 0]] == group[pairs[:, 1]]]
    if not pairs.size:
        return keep
    swap = rank[pairs[:, 0]] > rank[pairs[:, 1]]  # (earlier, later) peak
    pairs[swap] = pairs[swap][:, ::-1]
    earlier: dict[int, list[int]] = {}
    for a, b in pairs.tolist():
        earlier.setdefault(b, []).append(a)
    for b in sorted(earlier, key=lambda k: rank[k]):
        if any(keep[a] for a in earlier[b]):
            keep[b] = False
    return keep


def _window_peaks(dist: Any, comp: Any, r: Any, c: Any, side: int) -> Any:
    """Whether each pixel ``(r, c)`` is the maximum of its ``side`` window within its component.

    The window is ``scipy.ndimage.maximum_filter``'s (offsets ``-(side // 2)`` to
    ``side - 1 - side // 2``, clipped at the frame edge as ``mode="nearest"`` does); pixels of
    other components do not count, as in ``peak_local_max(labels=...)``.
    """
    import numpy as np

    rows, cols = dist.shape
    fl, cl = dist.ravel(), comp.ravel()
    lo = side // 2
    off = np.arange(-lo, side - lo)
    out = np.empty(r.size, bool)
    step = max(1, (1 << 21) // (side * side))
    for s in range(0, r.size, step):
        rs, cs = r[s:s + step], c[s:s + step]
        me = rs * cols + cs
        rr = np.clip(rs[:, None] + off, 0, rows - 1)
        cc = np.clip(cs[:, None] + off, 0, cols - 1)
        win = (rr[:, :, None] * cols + cc[:, None, :]).reshape(len(rs), -1)
        higher = (fl[win] > fl[me][:, None]) & (cl[win] == cl[me][:, None])
        out[s:s + step] = ~higher.any(axis=1)
    return out


def _component_peaks(px: _MaskPixels, comp: Any, n_comp: int, min_distance: int,
                     footprint: int) -> Any:
    """``peak_local_max(dist, min_distance, footprint, labels=comp, exclude_border=False)``.

    Returns the peaks as positions in ``px.pix``, in ``peak_local_max``'s order (by component,
    highest first, then raster order). A peak is the maximum of its window within its
    component, so only the maxima of the 3 × 3 (within the component) are tested; a component
    of constant distance keeps the pixels that a binary opening with the cross removes, as
    ``peak_local_max`` does; then the minimum spacing is enforced greedily.
    """
    import numpy as np

    rows, cols = px.shape
    size = rows * cols
    pix, vals, r, c = px.pix, px.vals, px.r, px.c
    fl, cfl = px.dist.ravel(), comp.ravel()
    cl = cfl[pix]
    side = footprint if footprint > 0 else 2 * min_distance + 1
    if side < 3:  # a window without the 8 neighbours: every pixel is a candidate
        from skimage.feature import peak_local_max

        fp = None if footprint <= 0 else np.ones((footprint, footprint), bool)
        coords = peak_local_max(px.dist, min_distance=min_distance, footprint=fp,
                                labels=comp, exclude_border=False)
        return px.idmap[coords[:, 0] * cols + coords[:, 1]]
    cand = px.lm.copy()
    maybe = np.flatnonzero(~px.lm & ~px.high4)  # only diagonal neighbours are higher:
    if maybe.size:  # a candidate when those lie in other (4-connected) components
        hi = np.zeros(maybe.size, bool)
        for k in (0, 2, 5, 7):
            dn = px.nbr(k, maybe)
            hi |= (fl[dn] > vals[maybe]) & (cfl[dn] == cl[maybe])
        cand[maybe[~hi]] = True
    ci = np.flatnonzero(cand)
    raw = np.zeros(pix.size, bool)
    raw[ci[_window_peaks(px.dist, comp, r[ci], c[ci], side)]] = True
    sizes = np.bincount(cl, minlength=n_comp + 1)
    flat = np.flatnonzero((np.bincount(cl[raw], minlength=n_comp + 1) == sizes) & (sizes > 0))
    if flat.size:  # every pixel is a peak: keep those a binary opening (cross) removes
        in_flat = np.zeros(n_comp + 1, bool)
        in_flat[flat] = True
        t = np.flatnonzero(in_flat[cl])
        tp, tr, tc = pix[t], r[t], c[t]
        four = ((tr > 0, -cols), (tr < rows - 1, cols), (tc > 0, -1), (tc < cols - 1, 1))
        tset = np.zeros(size, bool)
        tset[tp] = True
        eroded = np.ones(t.size, bool)
        for ok, step in four:
            eroded &= ok & tset[np.clip(tp + step, 0, size - 1)]
        eset = np.zeros(size, bool)
        eset[tp[eroded]] = True
        opened = eroded.copy()
        for ok, step in four:
            opened |= ok & eset[np.clip(tp + step, 0, size - 1)]
        raw[t] = ~opened
    raw &= vals > (0.0 if pix.size < size else float(vals.min()))  # image.min() threshold
    peaks = np.flatnonzero(raw)
    rank = np.empty(peaks.size, np.int64)
    rank[np.lexsort((peaks, -vals[peaks]))] = np.arange(peaks.size)
    keep = _spacing_keep(np.stack([r[peaks], c[peaks]], axis=1), cl[peaks], rank,
                         min_distance)
    peaks = peaks[keep]
    return peaks[np.lexsort((peaks, -vals[peaks], cl[peaks]))]


def _h_maxima_plateaus(px: _MaskPixels, h: float) -> tuple[Any, Any, Any]:
    """Find the plateaus of ``skimage.morphology.h_maxima(dist, h)`` (``h > 0``) in the mask.

    Every 8-connected plateau of 3 × 3 maxima is a seed; every other pixel climbs to its
    highest neighbour, which splits the mask into ascent basins, each holding a path at or
    above any of its pixels up to its seed. The highest pass between two seeds is therefore the best
    ``min(f(a), f(b))`` over 8-adjacent pairs of their basins, composed along the basin graph;
    merging basins by decreasing pass (a union-find), a seed whose group first meets a higher
    one at pass ``w`` has the dynamic ``f - w``. A seed is an h-maximum when that dynamic (or,
    the background being at 0, its height) is at least ``h``, with h_maxima's rule that no
    maximum survives ``h`` above the range of the frame.

    Returns
    -------
    tuple
        ``li`` (positions in ``px.pix`` of the 3 × 3 maxima), ``plate`` (their seed, numbered
        in raster order of the seed's first pixel as ``scipy.ndimage.label`` numbers) and
        ``is_h`` (per seed).
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = px.shape
    size = rows * cols
    pix, vals, n = px.pix, px.vals, px.pix.size
    idmap = px.idmap
    li = np.flatnonzero(px.lm)
    lmset = np.zeros(size, bool)
    lmset[pix[li]] = True
    ea, eb = [li], [li]
    for k in range(8):
        nb = px.nbr(k, li)
        sel = lmset[nb]
        ea.append(li[sel])
        eb.append(idmap[nb[sel]])
    pos = np.empty(n, np.int64)
    pos[li] = np.arange(li.size)
    a, b = pos[np.concatenate(ea)], pos[np.concatenate(eb)]
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(li.size, li.size))
    n_seed, plate = connected_components(graph, directed=False)
    _, first = np.unique(plate, return_index=True)
    renum = np.empty(n_seed, np.int64)
    renum[np.argsort(first, kind="stable")] = np.arange(n_seed)
    plate = renum[plate]
    seed_val = np.empty(n_seed)
    seed_val[plate] = vals[li]
    # ascent basins (pointer jumping to the seeds)
    parent = np.where(px.lm, np.arange(n), idmap[px.top])
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    seed_of = np.empty(n, np.int64)
    seed_of[li] = plate
    basin = seed_of[parent]
    # passes between 8-adjacent basins
    basin_map = np.full(size, -1, np.int32 if n_seed < 2 ** 31 else np.int64)
    basin_map[pix] = basin
    fl = px.dist.ravel()
    ka, kb, kw = [], [], []
    for k in (4, 5, 6, 7):  # (0, 1), (1, -1), (1, 0), (1, 1): each pair once
        nb = px.nbr(k)
        other = basin_map[nb]
        sel = np.flatnonzero((other != basin) & (other >= 0))
        ka.append(basin[sel])
        kb.append(other[sel].astype(np.int64))
        kw.append(np.minimum(vals[sel], fl[nb[sel]]))
    ba, bb, w = np.concatenate(ka), np.concatenate(kb), np.concatenate(kw)
    key = np.minimum(ba, bb) * n_seed + np.maximum(ba, bb)
    order = np.lexsort((-w, key))
    key, w = key[order], w[order]
    first_e = np.ones(key.size, bool)
    first_e[1:] = key[1:] != key[:-1]
    key, w = key[first_e], w[first_e]
    order = np.argsort(-w, kind="stable")
    key, w = key[order], w[order]
    dyn = np.full(n_seed, np.inf)
    up = list(range(n_seed))
    top_val = seed_val.tolist()
    alive: list[list[int]] = [[s] for s in range(n_seed)]

    def find(x: int) -> int:
        while up[x] != x:
            up[x] = up[up[x]]
            x = up[x]
        return x

    for x, y, wv in zip((key // n_seed).tolist(), (key % n_seed).tolist(), w.tolist()):
        x, y = find(x), find(y)
        if x == y:
            continue
        if top_val[x] > top_val[y]:
            x, y = y, x
        if top_val[x] < top_val[y]:  # the lower group's maxima end here
            for s in alive[x]:
                dyn[s] = top_val[x] - wv
        else:
            alive[y] = alive[y] + alive[x]
        alive[x] = []
        up[x] = y
    is_h = dyn >= h
    if n < size:  # the background (0) joins everything below h
        is_h &= seed_val >= h
        ptp = float(seed_val.max())
    else:
        ptp = float(seed_val.max()) - float(vals.min())
    if h > ptp:
        is_h[:] = False
    return li, plate, is_h


def _watershed_markers(mask: Any, dist: Any, pix: Any, vals: Any, comp: Any, n_comp: int,
                       min_distance: int, footprint: int, h: float) -> tuple[Any, int]:
    """Markers of :func:`_watershed_frame`: flat int32 image and number of markers.

    The peaks of :func:`_component_peaks`, kept (``h > 0``) as the h-maxima plateaus that
    they hit (:func:`_h_maxima_plateaus`) and numbered in raster order of those plateaus
    (``h <= 0``: each peak, in peak order); then every component left without a marker gets
    one at its first (raster order) deepest pixel.
    """
    import numpy as np

    px = _MaskPixels(mask, dist, pix, vals)
    peaks = _component_peaks(px, comp, n_comp, min_distance, footprint)
    cl = comp.ravel()[pix]
    markers = np.zeros(mask.size, np.int32)
    if h > 0:
        li, plate, is_h = _h_maxima_plateaus(px, h)
        seed_of = np.full(pix.size, -1, np.int64)
        seed_of[li] = plate
        hit = np.unique(seed_of[peaks[px.lm[peaks]]])
        hit = hit[is_h[hit]]
        new_id = np.zeros(is_h.size, np.int32)
        new_id[hit] = np.arange(1, hit.size + 1, dtype=np.int32)
        lab = new_id[plate]
        markers[pix[li]] = lab
        n_markers = int(hit.size)
        covered = cl[li[lab > 0]]
    else:
        markers[pix[peaks]] = np.arange(1, peaks.size + 1, dtype=np.int32)
        n_markers = int(peaks.size)
        covered = cl[peaks]
    has = np.zeros(n_comp + 1, bool)
    has[covered] = True
    has[0] = True
    if not has.all():
        best = np.full(n_comp + 1, -np.inf)
        np.maximum.at(best, cl, vals)
        at_max = np.flatnonzero((vals == best[cl]) & ~has[cl])
        labs, first = np.unique(cl[at_max], return_index=True)
        markers[pix[at_max[first]]] = n_markers + 1 + np.arange(labs.size, dtype=np.int32)
        n_markers += int(labs.size)
    return markers, n_markers


def _watershed_frame(mask: Any, surface: Any, min_distance: int, footprint: int,
                     connectivity: int, h: float) -> Any:
    import numpy as np
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed as sk_watershed

    mask = np.asarray(mask, dtype=bool)
    pix = np.flatnonzero(mask)
    if not pix.size:
        return np.zeros(mask.shape, np.int32)
    distance, vals = _edt_exact(mask, pix)
    struct = ndi.generate_binary_structure(2, connectivity)
    components, n_comp = ndi.label(mask, structure=struct)
    markers, _ = _watershed_markers(mask, distance, pix, vals, components, n_comp,
                                    min_distance, footprint, h)
    elev = -distance if surface is None else np.asarray(surface, dtype=np.float64)
    labels = sk_watershed(elev, markers.reshape(mask.shape), mask=mask,
                          connectivity=connectivity)
    return labels.astype(np.int32)


def watershed(mask: Dataset, intensity: Dataset | None = None, *,
              min_distance: Annotated[int, Range(1, 10000), Units("px")] = 5,
              footprint: Annotated[int, Range(0, 10001), Units("px")] = 0,
              h: Annotated[float, Range(0.0, 1000.0), Step(0.5), Units("px")] = 1.0,
              connectivity: Literal[1, 2] = 1) -> Dataset:
    """Split touching objects of a mask: distance-transform watershed.

    Markers are the local maxima of the Euclidean distance transform of the mask
    (``skimage.feature.peak_local_max`` with ``min_distance``, per connected component) that
    rise at least ``h`` above the saddle joining them to a higher maximum (the plateaus of
    ``skimage.morphology.h_maxima``); a connected component left without a marker keeps one at
    its deepest point (the first in raster order). Distances, peaks and h-maxima are computed
    from the mask pixels only, with the same results as those functions on the whole frame
    (tested) at a fraction of their cost. The mask is then flooded
    from the markers (``skimage.segmentation.watershed``) on −distance, or on ``intensity``
    when that second input is given (e.g. a gradient image, or an inverted image so that
    bright objects are basins). On touching disks of radius 10 px in noise (Otsu mask), the
    count is exact and the mean equivalent diameter within 1 % (tested).

    Parameters
    ----------
    mask : Dataset
        Boolean mask (image or stack).
    intensity : Dataset, optional
        Surface to flood instead of −distance; same shape as ``mask``.
    min_distance : int
        Smallest distance between two object centres, in pixels (about the smallest radius).
    footprint : int
        Side of the square neighbourhood in which a marker must be the maximum; 0 uses
        ``2 * min_distance + 1``.
    h : float
        Minimum dynamic of a marker (pixels): a maximum of the distance transform must rise
        ``h`` above the saddle joining it to a higher one (``skimage.morphology.h_maxima``);
        this stops ragged edges from splitting one object in two. 0 keeps every maximum.
    connectivity : {1, 2}
        Pixel neighbourhood: 1 = 4-connected, 2 = 8-connected.

    Returns
    -------
    Dataset
        int32 label image (0 = background, 1..n = objects, numbered per frame), same axes.
    """
    import numpy as np

    _need_2d(mask, "segment.watershed")
    if intensity is not None and tuple(intensity.shape) != tuple(mask.shape):
        raise ParameterError(f"segment.watershed: intensity shape {intensity.shape} differs "
                             f"from the mask's {mask.shape}")

    if intensity is None:
        out = _pmap(lambda f, k: _watershed_frame(f, None, min_distance, footprint,
                                                  connectivity, h),
                    mask.data, np.int32, "watershed")
    else:
        m = np.asarray(mask.numpy(), dtype=bool)
        s = np.asarray(intensity.numpy())
        out = np.empty(m.shape, np.int32)
        for idx in np.ndindex(*m.shape[:-2]):
            out[idx] = _watershed_frame(m[idx], s[idx], min_distance, footprint, connectivity,
                                       h)
    return _with_meta(mask, out, f"{mask.title} watershed".strip(), labels=True)


# -- morphology ------------------------------------------------------------------------------
def _disk(radius: int) -> Any:
    import numpy as np

    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy) <= r * r


def morphology(mask: Dataset, *,
               operation: Literal["open", "close", "erode", "dilate", "fill_holes",
                                  "remove_small_objects", "remove_small_holes"] = "open",
               radius: Annotated[int, Range(1, 1000), Units("px")] = 1,
               min_size: Annotated[int, Range(1, None), Units("px²")] = 64,
               connectivity: Literal[1, 2] = 1) -> Dataset:
    """Binary morphology of a mask, frame by frame.

    ``open``/``close``/``erode``/``dilate`` use a disk of ``radius`` (``scipy.ndimage``; pixels
    outside the image count as background for erosion and opening, so objects touching the
    edge are eroded from it as well); ``fill_holes`` fills every background region not
    connected to the edge; ``remove_small_objects``/``remove_small_holes`` remove objects /
    fill holes smaller than ``min_size`` pixels.

    Parameters
    ----------
    mask : Dataset
        Boolean mask (image or stack).
    operation : {"open", "close", "erode", "dilate", "fill_holes", "remove_small_objects", \
"remove_small_holes"}
        The operation.
    radius : int
        Radius of the disk structuring element (open, close, erode, dilate).
    min_size : int
        Size limit in pixels (remove_small_objects, remove_small_holes): regions with fewer
        pixels are removed / filled.
    connectivity : {1, 2}
        Neighbourhood defining connected regions (fill_holes, remove_small_*).

    Returns
    -------
    Dataset
        bool mask, same axes.
    """
    import numpy as np
    from scipy import ndimage as ndi

    _need_2d(mask, "segment.morphology")

    disk = _disk(radius)
    struct = ndi.generate_binary_structure(2, connectivity)

    def frame(f, k):  # noqa: ANN001, ANN202
        gpu = is_gpu_array(f)
        if gpu:  # same operations with cupyx.scipy.ndimage, structuring elements on the device
            import cupy as xp

            nd, d, st = ndimage_namespace(f), xp.asarray(disk), xp.asarray(struct)
            f = f.astype(bool, copy=False)
        else:
            xp, nd, d, st = np, ndi, disk, struct
            f = np.asarray(f, dtype=bool)
        if operation == "erode":
            return nd.binary_erosion(f, d)
        if operation == "dilate":
            return nd.binary_dilation(f, d)
        if operation == "open":
            return nd.binary_opening(f, d)
        if operation == "close":  # pad so that the edge does not erode the closing
            p = radius
            g = xp.pad(f, p, mode="edge")
            return nd.binary_closing(g, d)[p:-p, p:-p]
        if operation == "fill_holes":
            return nd.binary_fill_holes(f, st)
        target = f if operation == "remove_small_objects" else ~f
        lab, n = nd.label(target, st)
        sizes = xp.bincount(lab.ravel(), minlength=n + 1)
        small = sizes < min_size
        small[0] = False
        if operation == "remove_small_objects":
            return f & ~small[lab]
        return f | small[lab]

    out = _pmap(frame, mask.data, bool, operation)
    return mask.replace(data=out, title=f"{mask.title} {operation}".strip())


# -- labelling -------------------------------------------------------------------------------
def label(mask: Dataset, *, connectivity: Literal[1, 2] = 2) -> Dataset:
    """Label the connected regions of a mask (1..n per frame, 0 = background).

    Same numbering as ``skimage.measure.label`` (raster order of each region's first pixel).

    Parameters
    ----------
    mask : Dataset
        Boolean mask (image or stack).
    connectivity : {1, 2}
        1 = 4-connected (edges), 2 = 8-connected (edges and corners).

    Returns
    -------
    Dataset
        int32 label image, same axes.
    """
    import numpy as np
    from scipy import ndimage as ndi

    _need_2d(mask, "segment.label")

    struct = ndi.generate_binary_structure(2, connectivity)

    def frame(f, k):  # noqa: ANN001, ANN202
        if is_gpu_array(f):  # cupyx's union-find labels in raster order of the first pixel too
            import cupy

            lab, _ = ndimage_namespace(f).label(f.astype(bool, copy=False),
                                                cupy.asarray(struct), output=np.int32)
            return lab
        lab, _ = ndi.label(np.asarray(f, dtype=bool), struct, output=np.int32)
        return lab

    out = _pmap(frame, mask.data, np.int32, "label")
    return _with_meta(mask, out, f"{mask.title} labels".strip(), labels=True)


def clear_border(dataset: Dataset, *,
                 width: Annotated[int, Range(1, 10000), Units("px")] = 1) -> Dataset:
    """Remove the objects that touch the image border (labels or mask, per frame).

    Parameters
    ----------
    dataset : Dataset
        Label image (integer) or mask (boolean), image or stack.
    width : int
        Width of the border band: objects with a pixel in it are removed.

    Returns
    -------
    Dataset
        Same dtype and axes; removed objects set to 0 / False (other labels keep their number).
    """
    import numpy as np

    _need_2d(dataset, "segment.clear_border")
    from scipy import ndimage as ndi


    def frame(f, k):  # noqa: ANN001, ANN202
        if is_gpu_array(f):
            import cupy as xp

            nd = ndimage_namespace(f)
        else:
            xp, nd = np, ndi
            f = np.asarray(f)
        lab = f if f.dtype.kind != "b" else nd.label(f, xp.ones((3, 3), bool))[0]
        band = xp.zeros(f.shape, bool)
        w = min(width, *f.shape)
        band[:w] = band[-w:] = True
        band[:, :w] = band[:, -w:] = True
        touching = xp.unique(lab[band & (lab != 0)])
        out = f.copy()
        out[xp.isin(lab, touching) & (lab != 0)] = 0
        return out

    out = _pmap(frame, dataset.data, dataset.dtype, "clear border")
    return dataset.replace(data=out, title=f"{dataset.title} clear border".strip())


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    img = ("signal2d",)
    registry.add(threshold, id="segment.threshold", title="Threshold…", menu="Analyze/Segment",
                 cheap=True, kinds=img, dtypes="iuf", gpu=True)
    registry.add(multi_otsu, id="segment.multi_otsu", title="Multi-level Otsu…",
                 menu="Analyze/Segment", kinds=img, dtypes="iuf", gpu=True)
    registry.add(local_threshold, id="segment.local_threshold", title="Local threshold…",
                 menu="Analyze/Segment", kinds=img, dtypes="iuf", gpu=True)
    registry.add(watershed, id="segment.watershed", title="Watershed (split objects)…",
                 menu="Analyze/Segment", kinds=img, dtypes="b")
    registry.add(morphology, id="segment.morphology", title="Binary morphology…",
                 menu="Process/Binary", cheap=True, kinds=img, dtypes="b", gpu=True)
    registry.add(label, id="segment.label", title="Label regions…", menu="Analyze/Segment",
                 kinds=img, dtypes="b", gpu=True)
    registry.add(clear_border, id="segment.clear_border", title="Clear border…",
                 menu="Process/Binary", kinds=img, dtypes="bi", gpu=True)
