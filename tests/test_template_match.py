"""peaks.template_match: its own NCC map and peak search against scikit-image's."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import match_template, peak_local_max

import micrographia as mg
from micrographia.plugins import peaks as P


def _ref(img, tpl):
    """scikit-image's map in float64 (the peer), non-finite values → 0."""
    cc = match_template(np.asarray(img, np.float64), np.asarray(tpl, np.float64),
                        pad_input=True, mode="constant")
    return np.nan_to_num(cc, nan=0.0, posinf=0.0, neginf=0.0)


def _map(img, tpl, **kw):
    cmap, table = mg.run("peaks.template_match", mg.from_array(img), mg.from_array(tpl), **kw)
    return cmap.numpy(), table


def _local_var(img, shape):
    """Σ(x - x̄)² of each template-sized window centred as pad_input=True (zero padding)."""
    m, n = shape
    pad = np.zeros((img.shape[0] + m - 1, img.shape[1] + n - 1))
    pad[m // 2:m // 2 + img.shape[0], n // 2:n // 2 + img.shape[1]] = img
    win = np.lib.stride_tricks.sliding_window_view(pad, shape)
    return win.var(axis=(2, 3)) * m * n


def _spots(size, positions, sigma=1.6, amp=100.0, background=10.0, noise=0.0, seed=0):
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    img = np.full(size, background)
    for y, x in positions:
        img += amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return img + np.random.default_rng(seed).normal(0, noise, size) if noise else img


@pytest.mark.parametrize("tshape", [(7, 7), (8, 8), (7, 10), (6, 9), (1, 5), (16, 3)])
def test_map_equals_skimage_random(tshape):
    rng = np.random.default_rng(sum(tshape))
    img = rng.normal(3.0, 2.0, (61, 74))
    tpl = rng.normal(0.0, 1.0, tshape)
    ours, _ = _map(img, tpl)
    ref = _ref(img, tpl)
    assert ours.shape == img.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-7)  # float32 map of the float64 result
    assert np.abs(ours).max() <= 1.0


def test_map_equals_skimage_structured_with_flat_regions():
    # spots on a background with a large offset, a zero region, a constant region and a copy
    # of the template cut by the image's border
    img = _spots((120, 140), [(30, 40), (60.4, 90.7), (95, 20.2), (1.3, 70), (64, 138.6)],
                 background=1000.0, noise=2.0, seed=3)
    img[:, :12] = 0.0  # exactly zero
    img[80:115, 100:135] = 1234.5  # exactly constant, not zero
    tpl = _spots((11, 11), [(5, 5)], background=1000.0)
    ours, _ = _map(img, tpl)
    ref = _ref(img, tpl)
    var = _local_var(img, tpl.shape)
    flat = var < 1e-6  # windows with no contrast (exactly 0 here); the others have var > 1
    assert flat.sum() > 800 and var[~flat].min() > 1.0
    assert np.all(ours[flat] == 0.0)  # scikit-image gives rounding noise there
    assert np.abs(ref[flat]).max() > 0  # (≈1e-6 here)
    ok = var > 1e-3
    np.testing.assert_allclose(ours[ok], ref[ok], atol=1e-6)
    # on a zero background (the padding's value) the copies cut by the border are found too
    img = _spots((120, 140), [(30, 40), (60.4, 90.7), (95, 20.2), (1.3, 70), (64, 138.6)],
                 background=0.0, noise=2.0, seed=3)
    tpl = _spots((11, 11), [(5, 5)], background=0.0)
    ours, t = _map(img, tpl, threshold=0.9, min_distance=5)
    np.testing.assert_allclose(ours, _ref(img, tpl), atol=2e-7)
    pk = peak_local_max(_ref(img, tpl), min_distance=5, threshold_abs=0.9,
                        exclude_border=False)
    assert len(t) == len(pk) == 5
    truth = np.array([(30, 40), (60.4, 90.7), (95, 20.2), (1.3, 70), (64, 138.6)])
    d = np.hypot(t["y"][:, None] - truth[None, :, 0], t["x"][:, None] - truth[None, :, 1])
    assert sorted(d.argmin(axis=1)) == list(range(5)) and d.min(axis=1).max() < 0.8


def test_map_of_a_stack_and_integer_frames():
    rng = np.random.default_rng(7)
    stack = rng.poisson(50, (3, 48, 57)).astype(np.uint16)
    tpl = stack[1, 10:19, 20:28].astype(np.float64)
    cmap, t = mg.run("peaks.template_match", mg.from_array(stack), mg.from_array(tpl),
                     threshold=0.99)
    assert cmap.shape == stack.shape and cmap.dtype == np.float32
    for k in range(3):
        np.testing.assert_allclose(cmap.numpy()[k], _ref(stack[k], tpl), atol=2e-7)
    # the template's own place in frame 1 (centre of an even template: index 4)
    assert list(t["frame"]) == [1]
    assert (round(t["y"][0]), round(t["x"][0])) == (14, 24)
    assert cmap.numpy()[1, 14, 24] == pytest.approx(1.0, abs=1e-6)
    # a lazy stack and a single thread give the same answer
    import dask.array as da

    lazy = mg.from_array(da.from_array(stack, chunks=(1, 48, 57)))
    cmap2, t2 = mg.run("peaks.template_match", lazy, mg.from_array(tpl), threshold=0.99)
    np.testing.assert_array_equal(np.asarray(cmap2.numpy()), cmap.numpy())
    np.testing.assert_array_equal(t2["x"], t["x"])


def test_single_thread_equals_default(monkeypatch):
    rng = np.random.default_rng(11)
    img = rng.normal(0, 1, (300, 280))
    tpl = img[100:113, 50:63].copy()
    for r, c in rng.integers(10, 270, (30, 2)):
        img[r - 6:r + 7, c - 6:c + 7] += 0.8 * tpl
    a, ta = _map(img, tpl, threshold=0.3, min_distance=3)
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "1")
    b, tb = _map(img, tpl, threshold=0.3, min_distance=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta["x"], tb["x"])
    assert len(ta) > 10


def test_non_finite_pixels_only_zero_their_windows():
    rng = np.random.default_rng(2)
    img = rng.normal(0, 1, (50, 60))
    tpl = rng.normal(0, 1, (5, 7))
    img[20, 30] = np.nan
    img[3, 58] = np.inf
    ours, _ = _map(img, tpl)
    hit = np.zeros(img.shape, bool)
    hit[20 - 2:20 + 3, 30 - 3:30 + 4] = True
    hit[1:6, 55:] = True
    assert np.all(ours[hit] == 0.0)
    ref = _ref(np.nan_to_num(img, nan=0.0, posinf=0.0), tpl)
    np.testing.assert_allclose(ours[~hit], ref[~hit], atol=2e-7)
    # a constant image: no contrast away from the border (the zero padding makes some there)
    const = np.full((30, 30), 5.0)
    flat, t = _map(const, tpl, threshold=-1.0)
    assert np.all(flat[2:-2, 3:-3] == 0.0)
    np.testing.assert_allclose(flat, _ref(const, tpl), atol=2e-7)
    # all zero: no match at all
    zero, t = _map(np.zeros((30, 30)), tpl, threshold=-1.0)
    assert np.all(zero == 0.0) and len(t) == 0


def test_matches_equal_peak_local_max_at_known_subpixel_positions():
    rng = np.random.default_rng(4)
    truth = [(r + rng.uniform(-0.5, 0.5), c + rng.uniform(-0.5, 0.5))
             for r in range(14, 200, 23) for c in range(10, 240, 19)]
    img = _spots((210, 250), truth, noise=3.0, seed=5)
    tpl = _spots((13, 13), [(6, 6)])
    ours, t = _map(img, tpl, threshold=0.5, min_distance=5)
    ref = _ref(img, tpl)
    np.testing.assert_allclose(ours, ref, atol=2e-7)
    pk = peak_local_max(ref, min_distance=5, threshold_abs=0.5, exclude_border=False)
    assert len(t) == len(pk) == len(truth)
    # the same pixels, in the same order (decreasing score), before the sub-pixel step
    pad = np.full((ref.shape[0] + 10, ref.shape[1] + 10), -np.inf)
    pad[5:-5, 5:-5] = ours.astype(np.float64)
    r, c = P._spaced_maxima(pad, 5, 0.5, 1)
    np.testing.assert_array_equal(np.stack([r, c], 1), pk)
    # sub-pixel positions near the truth (paraboloid on the NCC peak: biased, < 0.2 px)
    ty, tx = np.array(truth).T
    d = np.hypot(t["x"][:, None] - tx[None], t["y"][:, None] - ty[None])
    assert sorted(d.argmin(axis=1)) == list(range(len(truth)))
    assert d.min(axis=1).max() < 0.2
    assert np.all(t["score"] > 0.97) and np.all(t["score"] <= 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_peak_search_equals_peak_local_max(seed):
    rng = np.random.default_rng(seed)
    d = 1 + seed % 4
    shape = (40 + seed, 57)
    cc = rng.normal(0, 1, shape)
    if seed % 2:  # coarse values: plateaus and equal maxima closer than min_distance
        cc = np.round(cc * 2) / 2
        cc[10:14, 20:26] = cc.max()
    thr = 0.3
    ref = peak_local_max(cc, min_distance=d, threshold_abs=thr, exclude_border=False)
    pad = np.full((shape[0] + 2 * d, shape[1] + 2 * d), -np.inf)
    pad[d:d + shape[0], d:d + shape[1]] = cc
    for threads in (1, 2):
        r, c = P._spaced_maxima(pad, d, thr, threads)
        np.testing.assert_array_equal(np.stack([r, c], 1), ref)
    # a constant map has no peak
    pad[d:d + shape[0], d:d + shape[1]] = 1.0
    assert len(P._spaced_maxima(pad, d, 0.5, 1)[0]) == 0


@pytest.mark.parametrize("op", [np.add, np.maximum])
@pytest.mark.parametrize("w", [1, 2, 3, 5, 8, 11, 16, 17, 23])
def test_sliding_windows_equal_direct(op, w):
    rng = np.random.default_rng(w)
    a = rng.integers(-50, 50, (30, 37)).astype(np.float64)  # exact sums
    h, ww = 30 - w + 1, 37 - w + 1
    ref = np.lib.stride_tricks.sliding_window_view(a, (w, w))
    ref = ref.sum(axis=(2, 3)) if op is np.add else ref.max(axis=(2, 3))
    got = P._window_op(a, w, w, (h, ww), op, {}, "z")
    np.testing.assert_array_equal(got, ref)
    got = P._window_op(a, w, 2, (h, 36), op, {}, "z")  # rectangular window
    ref2 = np.lib.stride_tricks.sliding_window_view(a, (w, 2))
    ref2 = ref2.sum(axis=(2, 3)) if op is np.add else ref2.max(axis=(2, 3))
    np.testing.assert_array_equal(got, ref2)


def test_large_template_and_old_numpy_fft_path(monkeypatch):
    rng = np.random.default_rng(9)
    img = rng.normal(0, 1, (150, 131))
    tpl = rng.normal(0, 1, (70, 9))  # > 64 rows: the template's spectrum by FFT
    ours, _ = _map(img, tpl)
    np.testing.assert_allclose(ours, _ref(img, tpl), atol=2e-7)
    monkeypatch.setattr(P, "_np_fft_out", lambda: False)  # numpy < 2: through scipy.fft
    old, _ = _map(img, tpl)
    np.testing.assert_allclose(old, ours, atol=1e-7)


def test_large_min_distance_and_tiny_image():
    img = _spots((20, 25), [(10.2, 12.7)], noise=1.0, seed=1)
    tpl = _spots((5, 5), [(2, 2)])
    ours, t = _map(img, tpl, threshold=0.5, min_distance=40)
    pk = peak_local_max(_ref(img, tpl), min_distance=40, threshold_abs=0.5,
                        exclude_border=False)
    assert len(t) == len(pk) == 1
    assert (round(t["y"][0]), round(t["x"][0])) == tuple(pk[0])


def test_closed_form_paraboloid_equals_least_squares():
    rng = np.random.default_rng(3)
    cc = rng.normal(0, 1, (20, 23))
    cc[5:8, 5:8] += np.array([[0.2, 0.5, 0.3], [0.6, 2.0, 0.7], [0.1, 0.4, 0.2]]) * 3
    pad = np.full((22, 25), -np.inf)
    pad[1:-1, 1:-1] = cc
    rows = np.array([6, 0, 19, 0, 10, 3])
    cols = np.array([6, 0, 22, 11, 0, 17])
    got = P._paraboloid_at(pad, 1, rows, cols)
    ref = P._refine_paraboloid(P._window_stack(cc, rows, cols, 1))  # NaN outside
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    assert abs(got[0][0]) < 0.5 and abs(got[1][0]) < 0.5


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.uint8, np.int32])
def test_computed_in_float64_whatever_the_dtype(dtype):
    rng = np.random.default_rng(8)
    img = (rng.random((40, 50)) * 100).astype(dtype)
    tpl = img[10:17, 12:21].astype(np.float64)
    ours, _ = _map(img, tpl)
    np.testing.assert_allclose(ours, _ref(img, tpl), atol=2e-7)


def test_exact_on_a_high_dynamic_range_image():
    # a bright, high-variance half and a faint half on a large offset: the windowed sums and
    # the FFT of the mean-shifted frame stay exact to float32 output precision (scikit-image's
    # running sums lose ~1e-5 in the faint half here)
    rng = np.random.default_rng(0)
    img = rng.normal(0, 1, (120, 90))
    img[:60] = rng.normal(5e4, 1e4, (60, 90))
    img += 1e5
    tpl = rng.normal(0, 1, (11, 13))
    pad = np.zeros((120 + 10, 90 + 12))
    pad[5:125, 6:96] = img
    win = np.lib.stride_tricks.sliding_window_view(pad, tpl.shape)
    wz = win - win.mean(axis=(2, 3), keepdims=True)
    t0 = tpl - tpl.mean()
    exact = (wz * t0).sum(axis=(2, 3)) / np.sqrt((wz ** 2).sum(axis=(2, 3)) * (t0 ** 2).sum())
    ours, _ = _map(img, tpl)
    np.testing.assert_allclose(ours, exact, atol=2e-7)


# -- the GPU path, on the host/device-strict numpy stand-in for cupy (tests/_fake_cupy.py) ----
def _gpu_and_cpu(monkeypatch, img, tpl, **kw):
    """Run the op with the device setting on the GPU stand-in, then on the CPU."""
    from _fake_cupy import install

    from micrographia import settings
    from micrographia.compute import execute

    install(monkeypatch)
    op = mg.operation("peaks.template_match")
    inputs = (mg.from_array(img), mg.from_array(tpl))
    bound = op.bind(inputs, kw)
    out = {}
    for device in ("gpu", "cpu"):
        monkeypatch.setenv("MICROGRAPHIA_DEVICE", device)
        settings.reset_cache()
        result, notes = execute(op, inputs, bound)
        assert notes == [], notes  # the GPU branch ran, no fallback
        out[device] = result
    return out["gpu"], out["cpu"]


@pytest.mark.parametrize("tshape", [(11, 11), (8, 6)])
def test_gpu_path_equals_cpu_with_flat_and_non_finite_regions(monkeypatch, tshape):
    img = _spots((90, 110), [(30, 40), (60.4, 90.7), (1.3, 70), (64, 108.6)],
                 background=1000.0, noise=2.0, seed=4)
    img[:, :12] = 0.0  # exactly zero
    img[70:88, 20:60] = 1234.5  # exactly constant
    img[40, 15] = np.nan
    img[5, 100] = np.inf
    tpl = _spots(tshape, [((tshape[0] - 1) / 2, (tshape[1] - 1) / 2)], background=1000.0)
    (gmap, gtab), (cmap, ctab) = _gpu_and_cpu(monkeypatch, img, tpl, threshold=0.6,
                                              min_distance=4)
    g, c = gmap.numpy(), cmap.numpy()
    assert g.dtype == c.dtype == np.float32
    np.testing.assert_allclose(g, c, atol=1e-6)
    assert np.array_equal(g == 0.0, c == 0.0)  # the same flat and non-finite windows
    assert len(gtab) == len(ctab) >= 2
    for col in ctab.columns:
        np.testing.assert_allclose(gtab[col], ctab[col], atol=1e-6)


def test_gpu_path_on_a_stack(monkeypatch):
    rng = np.random.default_rng(8)
    frames = [_spots((64, 72), rng.uniform(8, 56, (5, 2)), noise=1.0, seed=k) for k in range(3)]
    tpl = _spots((9, 9), [(4, 4)])
    (gmap, gtab), (cmap, ctab) = _gpu_and_cpu(monkeypatch, np.stack(frames), tpl,
                                              threshold=0.7)
    np.testing.assert_allclose(gmap.numpy(), cmap.numpy(), atol=1e-6)
    assert list(gtab["frame"]) == list(ctab["frame"]) and len(ctab) >= 12
    np.testing.assert_allclose(gtab["x"], ctab["x"], atol=1e-6)
    np.testing.assert_allclose(gtab["y"], ctab["y"], atol=1e-6)
