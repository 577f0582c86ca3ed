"""Built-in plugin: stack registration and drift correction (``alignment.*``).

``alignment.register_stack`` estimates the shift of every frame, ``alignment.apply_shifts``
applies a shifts table to a stack (or to another dataset with as many frames).

Shifts are estimated by cross-correlation of pre-filtered frames computed with batched real FFTs
(``scipy.fft``, float32, all cores) and refined to sub-pixel precision by an upsampled DFT
evaluated only around the correlation peak (matrix-multiply DFT, Guizar-Sicairos et al., Opt.
Lett. 33, 156, 2008), in a few zoom stages followed by a three-point parabola. ``all_pairs``
is the robust method of De Jong et al. (Ultramicroscopy 213, 2020): every pair of frames (or
every pair within a window) is correlated, pairs whose normalised peak height ``W`` is low are
dropped and the absolute shifts are the weighted (``W⁴``) least-squares solution of the sparse
system ``s_j − s_i = d_ij``.

Stacks with several navigation axes are flattened in C order (the table's ``frame`` is the
flat index) and the aligned result keeps the original shape.

On the GPU (cupy data, ``gpu=True`` operations) the pre-filter, the spectra
(``cupyx.scipy.fft``), the cross-power spectra, the peak search and the zooming DFTs run on the
device in batches of at most ``_GPU_CHUNK_BYTES``; only the per-pair shifts and peak heights
come back to the host, where the (small) sparse least-squares problem is solved with scipy.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Table, Units, hookimpl
from micrographia.backend import to_numpy

_CHUNK_BYTES = 48 * 2 ** 20  # working memory per batch of frames or pairs
_GPU_CHUNK_BYTES = 256 * 2 ** 20  # device working memory per batch on the GPU (cupy data)
_STACK_KINDS = ("stack", "4d", "image_series")  # images with at least one navigation axis
_HINT_RATIO = 0.7  # a peak near the hint wins when at least this fraction of the best
_SOBEL_BAND = 0.4  # cycles/px × σ kept of the Sobel-magnitude spectra


# --------------------------------------------------------------------------------------------
# helpers


def _stack_view(dataset: Dataset, op: str) -> tuple[Any, int, int, int]:
    """Return (data reshaped to (n, h, w), n, h, w); lazy data stays lazy."""
    if dataset.signal_dims != 2:
        raise ParameterError(f"{op} works on stacks of images (two signal axes), got "
                             f"{dataset.signal_dims} signal axes")
    if dataset.dtype.kind == "c":
        raise ParameterError(f"{op} needs real data; take the modulus first")
    if dataset.dtype.kind not in "iufb":
        raise ParameterError(f"{op} needs numeric data, got {dataset.dtype}")
    h, w = dataset.shape[-2:]
    n = int(math.prod(dataset.shape[:-2]))
    if h < 8 or w < 8:
        raise ParameterError(f"{op}: frames of {h}×{w} pixels are too small to register")
    data = dataset.data
    if data.ndim != 3:
        data = data.reshape((n, h, w))
    return data, n, h, w


def _load(data: Any, i0: int, i1: int) -> Any:
    """Frames ``i0:i1`` as a float32 array: cupy for cupy data, else numpy (lazy data computed)."""
    import numpy as np

    from micrographia.backend import is_gpu_array

    block = data[i0:i1]
    if is_gpu_array(block):
        import cupy

        return cupy.asarray(block, dtype=cupy.float32)
    if hasattr(block, "compute"):
        block = block.compute()
    return np.asarray(to_numpy(block), dtype=np.float32)


def _roi_slices(dataset: Dataset, roi: dict | None, op: str) -> tuple[slice, slice]:
    """Index ranges of the region of interest (calibrated ``{axis: (start, stop)}``)."""
    ay, ax = dataset.sig_axes
    out = [slice(0, ay.size), slice(0, ax.size)]
    if not roi:
        return out[0], out[1]
    names = (ay.name, ax.name)
    for name, bounds in roi.items():
        if name not in names:
            raise ParameterError(f"{op}: roi names axis {name!r}; the frames' axes are "
                                 f"{', '.join(names)}")
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ParameterError(f"{op}: roi[{name!r}] must be (start, stop), got {bounds!r}")
        axis = ay if name == ay.name else ax
        start, stop = bounds
        for v in (start, stop):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                raise ParameterError(f"{op}: roi[{name!r}] must hold numbers, got {bounds!r}")
        lo = 0 if start is None else axis.index(float(start))
        hi = axis.size if stop is None else axis.index(float(stop))
        if lo > hi:
            lo, hi = hi + 1, lo + 1
        i0 = max(0, min(axis.size, math.ceil(lo - 1e-9)))
        i1 = max(0, min(axis.size, math.ceil(hi - 1e-9)))
        if i1 - i0 < 8:
            raise ParameterError(f"{op}: roi[{name!r}] = {bounds!r} {axis.units} keeps "
                                 f"{max(i1 - i0, 0)} pixels; at least 8 are needed")
        out[names.index(name)] = slice(i0, i1)
    return out[0], out[1]


def _good_size(n: int) -> int:
    import scipy.fft

    return int(scipy.fft.next_fast_len(int(n), real=True))


class _Spectra:
    """Pre-filtered, windowed, band-limited half spectra of every frame (float32 → complex64).

    ``spec[k]`` holds the rows ``|ky| < ch/2`` and columns ``kx ≤ cw/2`` of ``rfft2`` of the
    frame's windowed, zero-mean filtered image, so that the cross-correlation of two frames
    sampled on a (ch, cw) grid is ``irfft2(spec[i] · conj(spec[j]))`` (scaled), and at any
    real position by an explicit DFT.
    """

    def __init__(self, data: Any, n: int, rows: slice, cols: slice, prefilter: str,
                 sigma: float, binning: int, workers: int) -> None:
        import numpy as np
        import scipy.fft

        from micrographia.backend import is_gpu_array
        from micrographia.frames import parallel_bands
        from micrographia.tasks import check_cancelled, report_progress

        gpu = is_gpu_array(data)
        if gpu:  # cupy data: spectra, correlations and zooming DFTs on the device
            import cupy as xp
            import cupyx.scipy.fft as dfft

            self._fft = dfft
        else:
            xp = np
            self._fft = scipy.fft
        self.xp, self.gpu = xp, gpu
        self.chunk_bytes = _GPU_CHUNK_BYTES if gpu else _CHUNK_BYTES

        h = (rows.stop - rows.start) // binning
        w = (cols.stop - cols.start) // binning
        if h < 8 or w < 8:
            raise ParameterError("alignment.register_stack: the (binned) region is smaller "
                                 "than 8×8 pixels; use fewer pyramid levels or a larger roi")
        self.h, self.w, self.binning = h, w, binning
        sig = sigma / binning if prefilter != "none" else 0.0
        sig = max(sig, 0.5) if prefilter != "none" else 0.0
        # keep the frequencies that the pre-filter leaves (|f| < fc cycles/px)
        if prefilter == "none":
            fc = 0.5
        elif prefilter == "gaussian":
            fc = min(0.5, 0.55 / sig)
        else:  # the Sobel magnitude is non-linear: its spectrum reaches further
            fc = min(0.5, _SOBEL_BAND / sig)
        ch = min(h, 2 * math.ceil(fc * h))
        cw = min(w, 2 * math.ceil(fc * w))
        ch, cw = max(ch, 8), max(cw, 8)
        self.ch, self.cw = ch, cw
        self.cw2 = cw // 2 + 1
        ky = np.fft.fftfreq(h, 1.0 / h)  # signed integer frequencies
        keep_rows = np.concatenate([np.arange(0, ch // 2), np.arange(h - ch // 2, h)])
        self.ky = ky[keep_rows].astype(np.float64)
        self.kx = np.arange(self.cw2, dtype=np.float64)
        wx = np.full(self.cw2, 2.0)
        wx[0] = 1.0
        if w % 2 == 0 and self.cw2 - 1 == w // 2:
            wx[-1] = 1.0
        self.wx = wx
        # the frequencies on the device of the spectra (the same arrays on the CPU)
        self.dky, self.dkx, self.dwx = xp.asarray(self.ky), xp.asarray(self.kx), xp.asarray(wx)
        # separable cosine-tapered window: suppresses the frame borders (wrap-around edges)
        taper = max(4, min(int(math.ceil(3 * sig)) + 4, min(h, w) // 4))
        self.window = (self._taper(h, taper)[:, None] * self._taper(w, taper)[None, :]).astype(
            np.float32)
        wsum = float(self.window.sum())
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        gauss = np.exp(-2 * math.pi ** 2 * sig ** 2 * (fy ** 2 + fx ** 2)).astype(np.float32)
        frame_bytes = max(1, h * w * 4 * binning * binning)
        chunk = max(1, min(n, self.chunk_bytes // (6 * frame_bytes)))
        self.spec = xp.empty((n, ch, self.cw2), xp.complex64)
        self.energy = np.empty(n, np.float64)
        if prefilter == "gaussian+sobel":
            # Gaussian then Sobel derivatives as transfer functions: smoothing (1, 2, 1) across,
            # central difference (-1, 0, 1) along each axis
            cy, cx = np.cos(2 * np.pi * fy), np.cos(2 * np.pi * fx)
            hx = (gauss * (2 + 2 * cy) * 2j * np.sin(2 * np.pi * fx)).astype(np.complex64)
            hy = (gauss * (2 + 2 * cx) * 2j * np.sin(2 * np.pi * fy)).astype(np.complex64)
        window = self.window
        if gpu:  # the filters' arrays on the device
            window, gauss, keep_rows = (xp.asarray(window), xp.asarray(gauss),
                                        xp.asarray(keep_rows))
            if prefilter == "gaussian+sobel":
                hx, hy = xp.asarray(hx), xp.asarray(hy)
        wxd = self.dwx
        one = 1  # FFT threads per band on the CPU (the bands run in parallel)

        def band(blk: Any, j0: int, j1: int) -> None:
            x = blk[j0:j1]
            if prefilter == "gaussian+sobel":
                f0 = self.rfft2(x, one)
                gx = self.irfft2(f0 * hx, (h, w), one)
                gy = self.irfft2(f0 * hy, (h, w), one)
                x = xp.hypot(gx, gy).astype(xp.float32, copy=False)
            else:
                x = x.copy()
            x -= ((x * window).sum(axis=(1, 2)) / wsum)[:, None, None]
            x *= window
            f = self.rfft2(x, one)
            if prefilter == "gaussian":
                f *= gauss
            f = f[:, keep_rows, :self.cw2]
            self.spec[i0 + j0:i0 + j1] = f
            a2 = (xp.abs(f) ** 2 * wxd[None, None, :]).sum(axis=(1, 2))
            self.energy[i0 + j0:i0 + j1] = to_numpy(a2) / (h * w)

        for i0 in range(0, n, chunk):
            check_cancelled()
            i1 = min(n, i0 + chunk)
            block = _load(data, i0, i1)[:, rows, cols]
            if binning > 1:
                b = binning
                block = block[:, :h * b, :w * b].reshape(i1 - i0, h, b, w, b).mean(axis=(2, 4))
            block = xp.ascontiguousarray(block, dtype=xp.float32)
            if not bool(xp.isfinite(block).all()):
                raise ParameterError("alignment.register_stack: frames "
                                     f"{i0}–{i1 - 1} contain NaN or infinite values; replace "
                                     "them first (or choose a roi without them)")
            if gpu:  # one batch at a time: no threads on the device
                band(block, 0, i1 - i0)
            else:
                parallel_bands(lambda j0, j1, blk=block: band(blk, j0, j1), i1 - i0,
                               workers=min(workers, i1 - i0))
            report_progress(0.3 * i1 / n, "filtering frames")

    def rfft2(self, x: Any, workers: int) -> Any:
        """``rfft2`` over the last two axes (``workers`` threads on the CPU)."""
        if not self.gpu:
            return self._fft.rfft2(x, workers=workers)
        return self._fft.rfft2(x)

    def irfft2(self, x: Any, s: tuple[int, int], workers: int) -> Any:
        """``irfft2`` of shape ``s`` over the last two axes (``workers`` threads on the CPU)."""
        if not self.gpu:
            return self._fft.irfft2(x, s=s, workers=workers)
        return self._fft.irfft2(x, s=s)

    @staticmethod
    def _taper(n: int, width: int) -> Any:
        import numpy as np

        t = np.ones(n)
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(width) + 0.5) / width)
        t[:width] = r
        t[n - width:] = r[::-1]
        return t


def _correlate(sp: _Spectra, xs: Any, prior: Any | None, radius: float | None,
               upsample: int, workers: int, search: float = 0.5, hint: Any | None = None,
               hint_radius: float = 3.0) -> tuple[Any, Any, Any]:
    """Peak position (dy, dx in px of the analysed grid) and height of cross-power spectra.

    ``xs`` is (b, ch, cw2): ``spec_moving · conj(spec_reference)``. The integer peak is
    searched on the (ch, cw) grid scaled by ``search`` (2 or 0.5: twice coarser or finer) within
    ``radius`` of ``prior`` (everywhere when None); with a ``hint`` (expected positions, e.g.
    chained shifts of consecutive frames) the highest peak within ``hint_radius`` of it is taken
    when it reaches ``_HINT_RATIO`` of the highest peak overall (this resolves the ambiguity of
    periodic specimens, whose correlation has nearly equal peaks one lattice period apart, and
    still ignores a wrong hint). The peak is then refined by zooming DFTs (:func:`_zoom`).
    ``xs`` lives where ``sp.spec`` does (numpy or cupy); ``prior`` and ``hint`` are numpy and
    the results are returned as numpy arrays.
    """
    import numpy as np

    xp = sp.xp
    b = xs.shape[0]
    h, w, ch, cw = sp.h, sp.w, sp.ch, sp.cw
    if search > 1:
        sh = max(8, 2 * (ch // (2 * search)))
        sw = max(8, 2 * (cw // (2 * search)))
        rsel = xp.asarray(np.concatenate([np.arange(0, sh // 2), np.arange(ch - sh // 2, ch)]))
        corr = sp.irfft2(xs[:, rsel, :sw // 2 + 1], (sh, sw), workers)
    elif search < 1:
        # twice finer grid (zero-padded spectrum): peak heights are compared reliably even
        # for narrow, closely spaced peaks (periodic specimens)
        sh, sw = 2 * ch, 2 * cw
        padded = xp.zeros((b, sh, sw // 2 + 1), xs.dtype)
        padded[:, :ch // 2, :sp.cw2] = xs[:, :ch // 2]
        padded[:, sh - ch // 2:, :sp.cw2] = xs[:, ch // 2:]
        corr = sp.irfft2(padded, (sh, sw), workers)
    else:
        sh, sw = ch, cw
        corr = sp.irfft2(xs, (ch, cw), workers)
    gy, gx = h / sh, w / sw  # grid steps in px
    sy = np.fft.fftfreq(sh, 1.0 / sh) * gy
    sx = np.fft.fftfreq(sw, 1.0 / sw) * gx
    if prior is not None or radius is not None:
        corr = xp.where(_near(sy, sx, prior, radius, b, h, w, gy, gx, xp), corr, -np.inf)
    flat = corr.reshape(b, -1).argmax(axis=1)
    iy, ix = xp.unravel_index(flat, (sh, sw))
    dsy, dsx = xp.asarray(sy), xp.asarray(sx)
    xsw = xs * sp.dwx.astype(np.float32)[None, None, :]
    py, px, peak = _zoom(sp, xsw, dsy[iy], dsx[ix], gy, gx, upsample, radius is None)
    if hint is not None:
        # prefer the highest peak near the hint unless it is clearly lower than the best one;
        # heights are compared after refinement (the coarse grid can miss a peak's top)
        near = xp.where(_near(sy, sx, hint, hint_radius, b, h, w, gy, gx, xp), corr, -np.inf)
        flat_h = near.reshape(b, -1).argmax(axis=1)
        rb = xp.arange(b)
        best = corr.reshape(b, -1)[rb, flat]
        at_hint = near.reshape(b, -1)[rb, flat_h]
        other = xp.flatnonzero((flat_h != flat) & (at_hint >= 0.5 * _HINT_RATIO * best))
        if len(other):
            hy, hx = xp.unravel_index(flat_h[other], (sh, sw))
            qy, qx, qpeak = _zoom(sp, xsw[other], dsy[hy], dsx[hx], gy, gx, upsample,
                                  radius is None)
            take = qpeak >= _HINT_RATIO * peak[other]
            sel = other[take]
            py[sel], px[sel], peak[sel] = qy[take], qx[take], qpeak[take]
    py, px, peak = to_numpy(py), to_numpy(px), to_numpy(peak)  # per-pair scalars back to the host
    if radius is not None:  # the search range is a hard limit
        cy = np.zeros(b) if prior is None else prior[:, 0]
        cx = np.zeros(b) if prior is None else prior[:, 1]
        py = np.clip(py, cy - radius, cy + radius)
        px = np.clip(px, cx - radius, cx + radius)
    height = peak / (h * w)  # = sum_x a(x + s) b(x) at the peak (Parseval)
    return py, px, height


def _zoom(sp: _Spectra, xsw: Any, py: Any, px: Any, gy: float, gx: float, upsample: int,
          may_move: bool) -> tuple[Any, Any, Any]:
    """Refine correlation peaks from grid positions (py, px) by zooming DFTs.

    Each stage evaluates the correlation on an m × m grid around the current maximum with
    matrices shared by the whole batch (the per-frame position goes into phase factors applied
    to the spectra), so every stage is two large matrix products; the last grid's maximum and
    its neighbours give the position by a parabola along each axis.
    """
    import numpy as np

    xp = sp.xp  # everything below on the spectra's device; the grid offsets on the host
    b, ch = xsw.shape[0], sp.ch
    cw = sp.cw
    h, w = sp.h, sp.w
    py, px = xp.array(py, xp.float64), xp.array(px, xp.float64)
    m = 21
    half_y, half_x = gy, gx
    ty = (2j * np.pi / h) * sp.dky
    tx = (2j * np.pi / w) * sp.dkx
    # the first, coarse zoom stage only needs the lower half of the band (4× fewer terms)
    lo_r = xp.flatnonzero(xp.abs(sp.dky) < ch / 4)
    lo_c = xp.flatnonzero(sp.dkx < cw / 4)
    xlo = xp.ascontiguousarray(xsw[:, lo_r][:, :, lo_c])
    target = 1.0 / max(upsample, 1)
    moves = xp.zeros(b, xp.int64)
    rr = xp.arange(b)
    stage = 0
    while True:
        if stage > 0:  # after the coarse stage: finish in one stage when it is cheap enough
            m = max(21, min(41, math.ceil(2 * max(half_y, half_x) / target) + 1))
        oy = np.linspace(-half_y, half_y, m)
        ox = np.linspace(-half_x, half_x, m)
        step_y, step_x = oy[1] - oy[0], ox[1] - ox[0]
        oy, ox = xp.asarray(oy), xp.asarray(ox)
        final = max(step_y, step_x) <= target or half_y < 1e-4
        # a grid finer than 0.02 px compares values that differ by < 1e-5: double precision
        ct = np.complex128 if final and min(step_y, step_x) < 0.02 else np.complex64
        coarse = stage == 0 and not final and min(step_y, step_x) >= 0.1
        xx, tyy, txx = (xlo, ty[lo_r], tx[lo_c]) if coarse else (xsw, ty, tx)
        # c_b(oy, ox) = Re sum Ey(oy)^T [diag(phy_b) X_b diag(phx_b)] Ex(ox)
        phy = xp.exp(tyy[None, :] * py[:, None]).astype(ct)
        phx = xp.exp(txx[None, :] * px[:, None]).astype(ct)
        ey = xp.exp(tyy[:, None] * oy[None, :]).astype(ct)  # (rows, m)
        ex = xp.exp(txx[:, None] * ox[None, :]).astype(ct)  # (cols, m)
        xph = (xx if ct is np.complex64 else xx.astype(ct)) * phy[:, :, None]
        xph *= phx[:, None, :]
        nr = xph.shape[1]
        tmp = (xph.reshape(b * nr, -1) @ ex).reshape(b, nr, m)  # (b, rows, m_x)
        tmp = xp.ascontiguousarray(tmp.transpose(0, 2, 1)).reshape(b * m, nr)
        c = (tmp @ ey).real.reshape(b, m, m).transpose(0, 2, 1)  # (b, m_y, m_x)
        k = c.reshape(b, -1).argmax(axis=1)
        jy, jx = xp.unravel_index(k, (m, m))
        edge = (jy == 0) | (jy == m - 1) | (jx == 0) | (jx == m - 1)
        movable = edge & (moves < 4) if may_move else xp.zeros(b, bool)
        if bool(movable.any()):
            # a maximum on the border of the zoom window: move the window, do not shrink
            # (per frame, so that a frame's result does not depend on its batch)
            moves += movable
            py = xp.where(movable, py + oy[jy], py)
            px = xp.where(movable, px + ox[jx], px)
            continue
        if final:
            jyc, jxc = xp.clip(jy, 1, m - 2), xp.clip(jx, 1, m - 2)
            three = xp.arange(-1, 2)[None, :]
            cyy = c[rr[:, None], jyc[:, None] + three, jxc[:, None]]
            cxx = c[rr[:, None], jyc[:, None], jxc[:, None] + three]
            py = py + oy[jyc] + step_y * _parabola(cyy, xp)
            px = px + ox[jxc] + step_x * _parabola(cxx, xp)
            peak = c[rr, jy, jx]
            break
        py, px = py + oy[jy], px + ox[jx]
        half_y, half_x = step_y, step_x
        if coarse:  # the low band's maximum may be off by more than one of its steps
            half_y, half_x = 2 * step_y, 2 * step_x
        stage += 1
    return py, px, peak


def _correlate_parallel(sp: _Spectra, xs: Any, prior: Any | None, radius: float | None,
                        upsample: int, workers: int, search: float = 0.5,
                        hint: Any | None = None) -> tuple[Any, Any, Any]:
    """:func:`_correlate` on bands of the batch in parallel threads, single-threaded BLAS.

    Small complex matrix products run several times faster on one BLAS thread than on two
    (and far faster when the cores are busy), so the batch is split across threads instead.
    """
    import numpy as np

    from micrographia.frames import parallel_bands

    if sp.gpu:  # the whole batch at once on the device: no threads
        return _correlate(sp, xs, prior, radius, upsample, workers, search, hint)
    b = xs.shape[0]
    out = np.zeros((3, b))

    def band(i0: int, i1: int) -> None:
        res = _correlate(sp, xs[i0:i1], None if prior is None else prior[i0:i1], radius,
                         upsample, 1, search, None if hint is None else hint[i0:i1])
        out[:, i0:i1] = res

    controller = _blas_controller()
    if controller is None:  # threadpoolctl is optional: without it BLAS keeps its threads
        parallel_bands(band, b, workers=min(workers, b))
    else:
        with controller.limit(limits=1, user_api="blas"):
            parallel_bands(band, b, workers=min(workers, b))
    return out[0], out[1], out[2]


_CONTROLLER: list[Any] = []


def _blas_controller() -> Any:
    """Return a cached ``threadpoolctl.ThreadpoolController`` (slow to create), or None."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # not installed, or no BLAS found: run without the limit
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


def _near(sy: Any, sx: Any, centre: Any | None, radius: float | None, b: int, h: int, w: int,
          gy: float, gx: float, xp: Any = None) -> Any:
    """(b, len(sy), len(sx)) mask of the grid positions within ``radius`` of ``centre``.

    ``sy``, ``sx`` and ``centre`` are numpy arrays; the mask is built on the device of the
    array module ``xp`` (numpy by default).
    """
    import numpy as np

    xp = np if xp is None else xp
    py0 = np.zeros(b) if centre is None else centre[:, 0]
    px0 = np.zeros(b) if centre is None else centre[:, 1]
    r = np.inf if radius is None else radius
    # distance along each axis (wrapped onto the periodic correlation)
    dyy = np.abs((sy[None, :] - py0[:, None] + h / 2) % h - h / 2)
    dxx = np.abs((sx[None, :] - px0[:, None] + w / 2) % w - w / 2)
    oky = dyy <= r + 0.5 * gy
    okx = dxx <= r + 0.5 * gx
    for sel, d, ok in ((~oky.any(axis=1), dyy, oky), (~okx.any(axis=1), dxx, okx)):
        if sel.any():  # radius below the grid step: take the nearest sample
            ok[np.flatnonzero(sel), np.argmin(d[sel], axis=1)] = True
    return xp.asarray(oky)[:, :, None] & xp.asarray(okx)[:, None, :]


def _parabola(v: Any, xp: Any = None) -> Any:
    """Vertex offset (in samples, clipped to ±1) of parabolas through rows of 3 values."""
    import numpy as np

    xp = np if xp is None else xp
    den = v[:, 0] - 2 * v[:, 1] + v[:, 2]
    off = xp.where(den < 0, 0.5 * (v[:, 0] - v[:, 2]) / xp.where(den < 0, den, -1.0), 0.0)
    return xp.clip(off, -1.0, 1.0)


def _pair_batches(n_items: int, per_item: int, budget: int = _CHUNK_BYTES) -> int:
    return max(1, min(n_items, budget // max(per_item, 1)))


def _links(sp: _Spectra, prior: Any | None, radius: float | None, upsample: int,
           workers: int) -> tuple[Any, Any]:
    """Shifts (n-1, 2) of frame k+1 relative to frame k and their normalised peak heights."""
    import numpy as np

    from micrographia.tasks import check_cancelled

    xp = sp.xp
    n = sp.spec.shape[0]
    per = sp.ch * sp.cw2 * 8 * 4 + sp.ch * sp.cw * 8 * 2
    chunk = _pair_batches(n - 1, per, sp.chunk_bytes)
    d = np.zeros((n - 1, 2))
    q = np.zeros(n - 1)
    for c0 in range(0, n - 1, chunk):
        check_cancelled()
        a = np.arange(c0, min(n - 1, c0 + chunk))
        da = xp.asarray(a)
        xs = sp.spec[da + 1] * xp.conj(sp.spec[da])
        p = None if prior is None else prior[a + 1] - prior[a]
        dy, dx, hgt = _correlate_parallel(sp, xs, p, radius, upsample, workers)
        d[a, 0], d[a, 1] = dy, dx
        q[a] = hgt / np.sqrt(np.maximum(sp.energy[a] * sp.energy[a + 1], 1e-300))
    return d, q


def _chained(links: Any) -> Any:
    """Absolute shifts (relative to frame 0) from consecutive-frame shifts."""
    import numpy as np

    return np.concatenate([np.zeros((1, 2)), np.cumsum(links, axis=0)])


def _register_reference(sp: _Spectra, reference: str, reference_frame: int,
                        prior: Any | None, radius: float | None, upsample: int,
                        workers: int, track: bool) -> tuple[Any, Any]:
    """Shifts (n, 2) as (dy, dx) in px of the analysed grid and normalised peak heights."""
    import numpy as np

    from micrographia.tasks import check_cancelled, report_progress

    xp = sp.xp
    n = sp.spec.shape[0]
    per = sp.ch * sp.cw2 * 8 * 4 + sp.ch * sp.cw * 8 * 2
    chunk = _pair_batches(n, per, sp.chunk_bytes)
    shifts = np.zeros((n, 2))
    quality = np.zeros(n)
    hint = None
    if track and n > 2 and reference != "running":
        hint = _chained(_links(sp, prior, radius, 4, workers)[0])  # coarse: a hint only
        report_progress(0.5, "correlating consecutive frames")

    def against(ref: Any, ref_energy: float, idx: Any, pri: Any | None,
                hnt: Any | None) -> None:
        for c0 in range(0, len(idx), chunk):
            check_cancelled()
            sel = idx[c0:c0 + chunk]
            xs = sp.spec[xp.asarray(sel)] * xp.conj(ref)[None]
            p = None if pri is None else pri[sel]
            hh = None if hnt is None else hnt[sel]
            dy, dx, hgt = _correlate_parallel(sp, xs, p, radius, upsample, workers, hint=hh)
            shifts[sel, 0], shifts[sel, 1] = dy, dx
            quality[sel] = hgt / np.sqrt(np.maximum(sp.energy[sel] * ref_energy, 1e-300))
            report_progress(0.5 + 0.5 * (c0 + len(sel)) / len(idx), "correlating frames")

    every = np.arange(n)
    if reference in ("first", "frame"):
        k = 0 if reference == "first" else reference_frame
        against(sp.spec[k], sp.energy[k], every, prior, None if hint is None else hint - hint[k])
        shifts -= shifts[k]
    elif reference == "mean":
        ref = sp.spec.mean(axis=0)
        energy = _energy(sp, ref)
        against(ref, energy, every, prior, None if hint is None else hint - hint.mean(axis=0))
        ref = _shifted_mean(sp, shifts)
        against(ref, _energy(sp, ref), every, prior, shifts.copy())
    else:  # running mean of the frames aligned so far, tracking the previous shift
        acc = sp.spec[reference_frame].astype(xp.complex128)
        order = list(range(reference_frame + 1, n)) + list(range(reference_frame - 1, -1, -1))
        quality[reference_frame] = 1.0
        count = 1
        for j, k in enumerate(order):
            check_cancelled()
            if k == reference_frame - 1:
                last = np.zeros(2)
            else:
                last = shifts[k - 1] if k > reference_frame else shifts[k + 1]
            p = (last if prior is None else prior[k])[None, :]
            ref = (acc / count).astype(np.complex64)
            xs = sp.spec[k:k + 1] * xp.conj(ref)[None]
            dy, dx, hgt = _correlate_parallel(sp, xs, p, radius, upsample, workers,
                                     hint=last[None, :] if track else None)
            shifts[k] = dy[0], dx[0]
            quality[k] = hgt[0] / math.sqrt(max(sp.energy[k] * _energy(sp, ref), 1e-300))
            acc += _shift_spectrum(sp, sp.spec[k], -shifts[k])
            count += 1
            report_progress((j + 1) / max(len(order), 1), "correlating frames")
    blank = sp.energy <= 0  # frames without contrast: nothing to correlate
    shifts[blank] = 0.0
    quality[blank] = 0.0
    return shifts, quality


def _energy(sp: _Spectra, spec: Any) -> float:
    xp = sp.xp
    return float((xp.abs(spec) ** 2 * sp.dwx[None, :]).sum() / (sp.h * sp.w))


def _shift_spectrum(sp: _Spectra, spec: Any, shift: Any) -> Any:
    """Spectrum of the frame moved by ``shift`` = (dy, dx) px (Fourier shift theorem)."""
    import numpy as np

    ph = sp.xp.exp(-2j * np.pi * (sp.dky[:, None] * float(shift[0]) / sp.h
                                  + sp.dkx[None, :] * float(shift[1]) / sp.w))
    return spec * ph


def _shifted_mean(sp: _Spectra, shifts: Any) -> Any:
    import numpy as np

    acc = sp.xp.zeros(sp.spec.shape[1:], np.complex128)
    for k in range(sp.spec.shape[0]):
        acc += _shift_spectrum(sp, sp.spec[k], -shifts[k])
    return (acc / sp.spec.shape[0]).astype(np.complex64)


def _register_all_pairs(sp: _Spectra, window: int | None, threshold: float, prior: Any | None,
                        radius: float | None, upsample: int, reference_frame: int,
                        workers: int, track: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Absolute shifts from all pair shifts (weighted sparse least squares)."""
    import numpy as np
    import scipy.sparse
    import scipy.sparse.linalg
    from scipy.sparse.csgraph import connected_components

    from micrographia.tasks import check_cancelled, report_progress

    n = sp.spec.shape[0]
    k_max = n - 1 if not window else min(window, n - 1)
    ii_list, jj_list = [], []
    for d in range(1, k_max + 1):
        i = np.arange(0, n - d)
        ii_list.append(i)
        jj_list.append(i + d)
    ii = np.concatenate(ii_list) if ii_list else np.zeros(0, np.int64)
    jj = np.concatenate(jj_list) if jj_list else np.zeros(0, np.int64)
    npairs = len(ii)
    d_pair = np.zeros((npairs, 2))
    w_pair = np.zeros(npairs)
    per = sp.ch * sp.cw2 * 8 * 4 + sp.ch * sp.cw * 8 * 2
    chunk = _pair_batches(npairs, per, sp.chunk_bytes)
    # the first n - 1 pairs are consecutive frames: their chained shifts hint the others
    d_pair[:n - 1], w_pair[:n - 1] = _links(sp, prior, radius, upsample, workers)
    hint = _chained(d_pair[:n - 1]) if track else None
    for c0 in range(n - 1, npairs, chunk):
        check_cancelled()
        a, b = ii[c0:c0 + chunk], jj[c0:c0 + chunk]
        xs = sp.spec[sp.xp.asarray(b)] * sp.xp.conj(sp.spec[sp.xp.asarray(a)])
        p = None if prior is None else prior[b] - prior[a]
        dy, dx, hgt = _correlate_parallel(sp, xs, p, radius, upsample, workers,
                                 search=2 if min(sp.ch, sp.cw) >= 64 else 0.5,
                                 hint=None if hint is None else hint[b] - hint[a])
        d_pair[c0:c0 + chunk, 0], d_pair[c0:c0 + chunk, 1] = dy, dx
        w_pair[c0:c0 + chunk] = hgt / np.sqrt(np.maximum(sp.energy[a] * sp.energy[b], 1e-300))
        report_progress(0.3 + 0.65 * (c0 + len(a)) / npairs, "correlating pairs")
    keep = w_pair >= threshold
    if not keep.any():
        raise ParameterError(
            f"alignment.register_stack: no pair of frames correlates above threshold="
            f"{threshold:g} (highest W = {w_pair.max(initial=0):.3f}); lower the threshold or "
            "change the pre-filter")
    ki, kj, kd, kw = ii[keep], jj[keep], d_pair[keep], w_pair[keep]
    graph = scipy.sparse.coo_matrix((np.ones(len(ki)), (ki, kj)), shape=(n, n))
    ncomp, lab = connected_components(graph, directed=False)
    if ncomp > 1:
        lost = np.flatnonzero(lab != lab[reference_frame])
        shown = ", ".join(map(str, lost[:10])) + (" …" if len(lost) > 10 else "")
        raise ParameterError(
            f"alignment.register_stack: frame(s) {shown} correlate with no connected frame "
            f"above threshold={threshold:g}; lower the threshold or widen the window")
    sw = kw ** 2  # sqrt of the W^4 weights
    m = len(ki)
    rows = np.concatenate([np.arange(m), np.arange(m), [m]])
    cols = np.concatenate([kj, ki, [reference_frame]])
    vals = np.concatenate([sw, -sw, [sw.max()]])
    a_mat = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(m + 1, n))
    shifts = np.zeros((n, 2))
    for ax in range(2):
        rhs = np.concatenate([sw * kd[:, ax], [0.0]])
        sol = scipy.sparse.linalg.lsqr(a_mat, rhs, atol=1e-12, btol=1e-12,
                                       iter_lim=max(10 * n, 1000))[0]
        shifts[:, ax] = sol
    shifts -= shifts[reference_frame]
    check_cancelled()
    # per-frame quality: mean W of its kept pairs; residual: weighted RMS misfit of its pairs
    res = np.hypot(*(kd - (shifts[kj] - shifts[ki])).T)
    wsum = np.bincount(ki, kw ** 4, n) + np.bincount(kj, kw ** 4, n)
    r2 = np.bincount(ki, kw ** 4 * res ** 2, n) + np.bincount(kj, kw ** 4 * res ** 2, n)
    cnt = np.bincount(ki, minlength=n) + np.bincount(kj, minlength=n)
    qsum = np.bincount(ki, kw, n) + np.bincount(kj, kw, n)
    quality = qsum / np.maximum(cnt, 1)
    residual = np.sqrt(r2 / np.maximum(wsum, 1e-300))
    info = {"pairs": int(npairs), "pairs_kept": int(m)}
    report_progress(1.0, "solved")
    return shifts, quality, residual, info


# --------------------------------------------------------------------------------------------
# operations


def register_stack(
        dataset: Dataset, *,
        method: Literal["reference", "all_pairs"] = "reference",
        reference: Literal["first", "mean", "frame", "running"] = "first",
        reference_frame: Annotated[int, Range(0, None)] = 0,
        prefilter: Literal["gaussian+sobel", "gaussian", "none"] = "gaussian+sobel",
        sigma: Annotated[float, Range(0.5, 50.0), Units("px"), Step(0.5)] = 2.0,
        upsample: Annotated[int, Range(1, 1000)] = 20,
        max_shift: Annotated[float, Range(0.0, None), Units("px")] | None = None,
        window: Annotated[int, Range(1, None)] | None = None,
        threshold: Annotated[float, Range(0.0, 1.0), Step(0.05)] = 0.1,
        pyramid: Annotated[int, Range(0, 6)] = 0,
        track: bool = True,
        roi: dict | None = None,
        apply: bool = True,
        interpolation: Literal["fourier", "spline"] = "fourier",
        border: Literal["crop", "pad", "keep"] = "crop",
) -> tuple[Dataset, Table] | Table:
    """Estimate (and correct) the drift between the frames of a stack.

    Every frame is pre-filtered (default: Gaussian σ = ``sigma`` then Sobel gradient
    magnitude, which keeps working when the contrast inverts between frames and is robust at
    low dose), multiplied by a cosine-tapered window, and cross-correlated with batched real
    FFTs (only the frequencies the pre-filter leaves are kept); the correlation peak is located
    on a grid, refined to ``1/upsample`` px by zooming DFTs evaluated around it, then by a
    parabola. Lazy (dask) stacks are read in batches of frames; the aligned stack is computed in
    memory. In-memory stacks run on the GPU (cupy) when the device setting allows: filtering,
    correlations and refinement on the device, the least-squares solve on the CPU.

    * ``method="reference"``: each frame against a reference — the ``"first"`` frame, a chosen
      ``"frame"`` (``reference_frame``), the ``"mean"`` of all frames (registered twice: against
      the raw mean, then against the aligned mean; shifts are then relative to that mean and
      average about zero) or the ``"running"`` mean of the frames aligned so far (frames in
      order from ``reference_frame``; ``max_shift`` then limits the search around the previous
      frame's shift).
    * ``method="all_pairs"``: De Jong et al. (Ultramicroscopy 213, 2020). Every pair of frames
      (or every pair at most ``window`` frames apart) is correlated; pairs whose normalised peak
      height ``W`` is below ``threshold`` are dropped, and the absolute shifts solve the sparse
      weighted least-squares problem ``s_j − s_i = d_ij`` (weights ``W⁴``, ``lsqr``), fixed by
      ``s = 0`` at ``reference_frame``. Pairs are processed in batches, so memory stays bounded.

    Parameters
    ----------
    dataset : Dataset
        Stack of images (any navigation axes; several are flattened in C order).
    method : {"reference", "all_pairs"}
        Estimation method.
    reference : {"first", "mean", "frame", "running"}
        Reference for ``method="reference"``.
    reference_frame : int
        Flat index of the reference frame: the frame whose shift is zero ("frame", "running",
        "all_pairs").
    prefilter : {"gaussian+sobel", "gaussian", "none"}
        Pre-filter: Gaussian smoothing then Sobel edge magnitude (robust to noise and contrast
        inversion), Gaussian smoothing only, or none (raw frames; noisy at low dose).
    sigma : float
        Gaussian σ of the pre-filter (pixels); also sets the band of frequencies kept.
    upsample : int
        Sub-pixel refinement: the correlation is evaluated around its peak on grids zooming
        down to 1/upsample px, then a parabola through the last grid's maximum and its
        neighbours gives the position (finer than the grid: on low-dose frames the result does
        not change between 10 and 100; grids finer than 0.02 px are evaluated in double
        precision).
    max_shift : float, optional
        Largest shift searched (px, each axis), around zero — or around the previous frame's
        shift for ``reference="running"`` and around the coarse estimate in pyramid mode.
        Default: unrestricted.
    window : int, optional
        For ``all_pairs``: correlate only pairs at most this many frames apart (long series).
        Default: every pair.
    threshold : float
        For ``all_pairs``: pairs with normalised correlation peak ``W`` below this are dropped.
    pyramid : int
        Coarse-to-fine levels: shifts are first found on frames binned by 2**pyramid, then
        refined level by level within ±3 binned pixels (large drifts).
    track : bool
        Resolve ambiguous correlation peaks (periodic specimens: nearly equal peaks one lattice
        period apart) with the chained shifts of consecutive frames: the highest peak within
        3 px of the chained estimate is taken unless it is below 70 % of the highest peak (so a
        wrong link is ignored). For ``"running"`` the estimate is the previous frame's shift.
    roi : dict, optional
        Region correlated, ``{axis name: (start, stop)}`` in the axes' calibrated units (like
        ``image.crop``'s ``region``), e.g. ``{"x": (0.5, 3.0), "y": (0.5, 3.0)}``. Default: the
        whole frame.
    apply : bool
        Also return the aligned stack (``alignment.apply_shifts`` with ``interpolation`` and
        ``border``); False returns only the table.
    interpolation : {"fourier", "spline"}
        How the aligned stack is resampled (``"spline"`` is cubic).
    border : {"crop", "pad", "keep"}
        Aligned stack: crop to the area every frame covers, pad outside it with zeros, or keep
        the resampling's own border.

    Returns
    -------
    tuple of (Dataset, Table), or Table
        The aligned float32 stack (same navigation axes) and the shifts: one row per frame with
        ``frame``, ``dx``, ``dy`` (px: the displacement of the frame's content relative to the
        reference, x right, y down), ``dx_cal``, ``dy_cal`` (calibrated units), ``quality``
        (normalised correlation peak height, 0 to 1; for ``all_pairs`` the mean over the
        frame's kept pairs; a frame without contrast gets shift 0 and quality 0) and, for
        ``all_pairs``, ``residual`` (px, weighted RMS misfit of the frame's pairs: large values
        mark outliers).
    """
    import numpy as np

    from micrographia.frames import cpu_workers

    op = "alignment.register_stack"
    data, n, h, w = _stack_view(dataset, op)
    if n < 2:
        raise ParameterError(f"{op} needs a stack of at least 2 frames, got {n}")
    if reference_frame >= n:
        raise ParameterError(f"{op}: reference_frame={reference_frame} but the stack has {n} "
                             "frames")
    rows, cols = _roi_slices(dataset, roi, op)
    if min(rows.stop - rows.start, cols.stop - cols.start) // 2 ** pyramid < 8:
        raise ParameterError(f"{op}: pyramid={pyramid} bins the frames below 8 pixels; use "
                             "fewer levels")
    workers = cpu_workers()
    prior = None
    radius = max_shift
    residual = None
    info: dict[str, Any] = {}
    for level in range(pyramid, -1, -1):
        b = 2 ** level
        sp = _Spectra(data, n, rows, cols, prefilter, sigma, b, workers)
        lvl_prior = None if prior is None else prior / b
        lvl_radius = (None if radius is None else radius / b) if prior is None else 3.0
        if method == "reference":
            shifts, quality = _register_reference(sp, reference, reference_frame, lvl_prior,
                                                  lvl_radius, upsample if level == 0 else 4,
                                                  workers, track)
        else:
            shifts, quality, residual, info = _register_all_pairs(
                sp, window, threshold, lvl_prior, lvl_radius,
                upsample if level == 0 else 4, reference_frame, workers, track)
        prior = shifts * b
    assert prior is not None
    ay, ax = dataset.sig_axes
    dy, dx = prior[:, 0], prior[:, 1]
    cols_out: dict[str, Any] = {"frame": np.arange(n, dtype=np.int64), "dx": dx, "dy": dy,
                                "dx_cal": dx * ax.scale, "dy_cal": dy * ay.scale,
                                "quality": np.asarray(quality, np.float64)}
    if residual is not None:
        cols_out["residual"] = residual
    units = {"dx": "px", "dy": "px", "dx_cal": ax.units, "dy_cal": ay.units,
             "residual": "px"}
    units = {k: v for k, v in units.items() if v and k in cols_out}
    meta = {"method": method, "prefilter": prefilter, "sigma": sigma,
            "reference": reference if method == "reference" else "least squares",
            "reference_frame": reference_frame, "frame_shape": [h, w],
            "scale": [ay.scale, ax.scale], **info}
    table = Table(cols_out, units=units, title=f"{dataset.title} shifts".strip(), metadata=meta)
    if not apply:
        return table
    aligned = apply_shifts(dataset, table, interpolation=interpolation, border=border)
    return aligned, table


def apply_shifts(dataset: Dataset, shifts: Table | None = None, *,
                 interpolation: Literal["fourier", "spline"] = "fourier",
                 order: Annotated[int, Range(0, 5)] = 3,
                 border: Literal["crop", "pad", "keep"] = "crop",
                 fill: float = 0.0,
                 invert: bool = False) -> Dataset:
    """Move every frame back by its shift (drift correction), from a shifts table.

    Frame ``k`` is resampled so that content found at ``(x + dx_k, y + dy_k)`` lands on
    ``(x, y)``: the frames of a stack registered by ``alignment.register_stack`` line up with
    its reference. The table may come from another dataset with the same number of frames
    (e.g. shifts found on HAADF applied to a second detector channel). Without a table the
    dataset is registered first with ``alignment.register_stack``'s defaults. Cupy stacks are
    resampled on the GPU (``cupyx.scipy.fft`` / ``cupyx.scipy.ndimage.shift``).

    Parameters
    ----------
    dataset : Dataset
        Stack of images (navigation axes flattened in C order to match the table's ``frame``).
    shifts : Table, optional
        Table with ``dx`` and ``dy`` columns in pixels, one row per frame (``frame`` column
        optional). Default: register ``dataset`` itself.
    interpolation : {"fourier", "spline"}
        Fourier shift theorem (exact for band-limited frames, periodic border) or spline
        interpolation of order ``order`` (``scipy.ndimage.shift``, nearest-edge border).
    order : int
        Spline order (0 = nearest neighbour, 1 = linear, 3 = cubic) for ``"spline"``.
    border : {"crop", "pad", "keep"}
        Crop to the area every frame covers (the axes' offsets move accordingly), set the
        uncovered pixels of each frame to ``fill``, or keep what the resampling leaves there.
    fill : float
        Value of the uncovered pixels for ``border="pad"``.
    invert : bool
        Apply the opposite shifts (move the frames' content by ``+dx, +dy`` instead).

    Returns
    -------
    Dataset
        Float32 stack with the same navigation axes (signal axes cropped for ``"crop"``).
    """
    import numpy as np
    import scipy.fft
    import scipy.ndimage

    from micrographia.backend import array_namespace, is_gpu_array
    from micrographia.frames import cpu_workers
    from micrographia.tasks import check_cancelled, report_progress

    op = "alignment.apply_shifts"
    data, n, h, w = _stack_view(dataset, op)
    if shifts is None:
        shifts = register_stack(dataset, apply=False)
    for c in ("dx", "dy"):
        if c not in shifts.columns:
            raise ParameterError(f"{op}: the table has no {c!r} column; columns are "
                                 f"{', '.join(shifts.columns)}")
    dx = np.asarray(shifts["dx"], np.float64)
    dy = np.asarray(shifts["dy"], np.float64)
    if "frame" in shifts.columns:
        fr = np.asarray(shifts["frame"])
        if len(fr) != n or not np.array_equal(np.sort(fr), np.arange(n)):
            raise ParameterError(f"{op}: the table's frames ({len(fr)} rows) do not match the "
                                 f"dataset's {n} frames")
        order_idx = np.argsort(fr)
        dx, dy = dx[order_idx], dy[order_idx]
    elif len(dx) != n:
        raise ParameterError(f"{op}: the table has {len(dx)} rows but the dataset has {n} "
                             "frames")
    if not (np.isfinite(dx).all() and np.isfinite(dy).all()):
        raise ParameterError(f"{op}: the table has non-finite shifts")
    if invert:
        dx, dy = -dx, -dy
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    gpu = is_gpu_array(data)
    if gpu:  # cupy frames: resampled on the device
        out = _shift_frames_gpu(data, n, h, w, dy, dx, fy, fx, interpolation, order)
    else:
        out = np.empty((n, h, w), np.float32)
        workers = cpu_workers()
        chunk = max(1, min(n, _CHUNK_BYTES // (h * w * 16)))
        for i0 in range(0, n, chunk):
            check_cancelled()
            i1 = min(n, i0 + chunk)
            block = _load(data, i0, i1)
            if interpolation == "fourier":
                f = scipy.fft.rfft2(block, workers=workers)
                ph = np.exp(2j * np.pi * (fy[None] * dy[i0:i1, None, None]
                                          + fx[None] * dx[i0:i1, None, None])).astype(
                    np.complex64)
                out[i0:i1] = scipy.fft.irfft2(f * ph, s=(h, w), workers=workers)
            else:
                for k in range(i0, i1):
                    out[k] = scipy.ndimage.shift(block[k - i0], (-dy[k], -dx[k]), order=order,
                                                 mode="nearest", prefilter=order > 1)
            report_progress(i1 / n, "shifting frames")
    ay, ax = dataset.sig_axes
    axes = list(dataset.axes)
    # aligned pixel x shows source x + dx: covered when 0 <= x + dx <= w - 1
    x0 = max(0, math.ceil(float(np.max(-dx)) - 1e-6))
    x1 = min(w, math.floor(float(np.min(w - 1 - dx)) + 1e-6) + 1)
    y0 = max(0, math.ceil(float(np.max(-dy)) - 1e-6))
    y1 = min(h, math.floor(float(np.min(h - 1 - dy)) + 1e-6) + 1)
    if border == "crop":
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ParameterError(f"{op}: the frames share no common area (shifts up to "
                                 f"{np.abs(dx).max():.1f}, {np.abs(dy).max():.1f} px); use "
                                 "border='pad'")
        out = out[:, y0:y1, x0:x1]
        axes[-2] = ay.replace(size=y1 - y0, offset=ay.offset + y0 * ay.scale)
        axes[-1] = ax.replace(size=x1 - x0, offset=ax.offset + x0 * ax.scale)
    elif border == "pad" and gpu:  # on the device: one masked write
        xs = np.arange(w)[None, :]
        ys = np.arange(h)[None, :]
        bad_x = (xs + dx[:, None] < -1e-6) | (xs + dx[:, None] > w - 1 + 1e-6)  # (n, w)
        bad_y = (ys + dy[:, None] < -1e-6) | (ys + dy[:, None] > h - 1 + 1e-6)  # (n, h)
        xp = array_namespace(out)
        out[xp.asarray(bad_y)[:, :, None] | xp.asarray(bad_x)[:, None, :]] = fill
    elif border == "pad":
        xs = np.arange(w)[None, :]
        ys = np.arange(h)[:, None]
        for k in range(n):
            bad = ((xs + dx[k] < -1e-6) | (xs + dx[k] > w - 1 + 1e-6)
                   | (ys + dy[k] < -1e-6) | (ys + dy[k] > h - 1 + 1e-6))
            out[k][bad] = fill
    out = out.reshape(tuple(dataset.shape[:-2]) + out.shape[-2:])
    return dataset.replace(data=out, axes=tuple(axes),
                           title=f"{dataset.title} aligned".strip())


def _shift_frames_gpu(data: Any, n: int, h: int, w: int, dy: Any, dx: Any, fy: Any, fx: Any,
                      interpolation: str, order: int) -> Any:
    """:func:`apply_shifts`' resampling of cupy frames on the device (float32 cupy result)."""
    import cupy
    import cupyx.scipy.fft as dfft
    import cupyx.scipy.ndimage as dndi

    from micrographia.tasks import check_cancelled, report_progress

    out = cupy.empty((n, h, w), cupy.float32)
    fy, fx = cupy.asarray(fy), cupy.asarray(fx)
    chunk = max(1, min(n, _GPU_CHUNK_BYTES // (h * w * 16)))
    for i0 in range(0, n, chunk):
        check_cancelled()
        i1 = min(n, i0 + chunk)
        block = _load(data, i0, i1)
        if interpolation == "fourier":
            f = dfft.rfft2(block)
            by, bx = cupy.asarray(dy[i0:i1]), cupy.asarray(dx[i0:i1])
            ph = cupy.exp(2j * math.pi * (fy[None] * by[:, None, None]
                                          + fx[None] * bx[:, None, None])).astype(cupy.complex64)
            out[i0:i1] = dfft.irfft2(f * ph, s=(h, w))
        else:
            for k in range(i0, i1):
                out[k] = dndi.shift(block[k - i0], (-float(dy[k]), -float(dx[k])), order=order,
                                    mode="nearest", prefilter=order > 1)
        report_progress(i1 / n, "shifting frames")
    return out


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(register_stack, id="alignment.register_stack", title="Register stack…",
                 menu="Align", kinds=_STACK_KINDS, dtypes="iuf", gpu=True)
    registry.add(apply_shifts, id="alignment.apply_shifts", title="Apply shifts…",
                 menu="Align", kinds=_STACK_KINDS, dtypes="iuf", gpu=True)
