"""Tests of the filters.* operations against scipy / scikit-image references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import micrographia as mg


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return mg.from_array(rng.normal(100, 10, (40, 52)).astype(np.float32), scale=0.1,
                         units="nm", title="img")


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(1)
    return mg.from_array(rng.poisson(50, (4, 30, 36)).astype(np.uint16), scale=0.2,
                         units="nm", title="stack")


@pytest.mark.parametrize("size", [1, 3, 4, 7])
def test_median_equals_scipy_and_skimage(image, size):
    from skimage.filters import median as sk_median

    out = mg.run("filters.median", image, size=size)
    a = image.numpy()
    np.testing.assert_array_equal(out.numpy(), ndimage.median_filter(a, size))
    if size % 2:
        ref = sk_median(a, np.ones((size, size), bool), mode="reflect")
        np.testing.assert_array_equal(out.numpy(), ref)
    assert out.dtype == a.dtype and out.axes == image.axes


@pytest.mark.parametrize("op, ref", [("filters.minimum", ndimage.minimum_filter),
                                     ("filters.maximum", ndimage.maximum_filter)])
def test_rank_filters_per_frame(stack, op, ref):
    out = mg.run(op, stack, size=5).numpy()
    a = stack.numpy()
    for i in range(a.shape[0]):
        np.testing.assert_array_equal(out[i], ref(a[i], 5))
    assert out.dtype == np.uint16


def test_mean_equals_uniform_filter(stack):
    out = mg.run("filters.mean", stack, size=3)
    assert out.dtype == np.float32
    ref = np.stack([ndimage.uniform_filter(f.astype(np.float32), 3) for f in stack.numpy()])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)


def test_unsharp_mask_matches_skimage(image):
    from skimage.filters import unsharp_mask as sk_unsharp

    out = mg.run("filters.unsharp_mask", image, radius=1.5, amount=2.0).numpy()
    ref = sk_unsharp(image.numpy().astype(np.float64), radius=1.5, amount=2.0,
                     preserve_range=True)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("method", ["sobel", "prewitt", "scharr"])
def test_edges_equal_skimage(image, method):
    import skimage.filters as skf

    out = mg.run("filters.edges", image, method=method).numpy()
    ref = getattr(skf, method)(image.numpy().astype(np.float64))
    # skimage zeroes nothing with mode="reflect" (its default); same scaling
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)


def test_log_and_dog(image):
    from skimage.filters import difference_of_gaussians

    a = image.numpy().astype(np.float64)
    out = mg.run("filters.log", image, sigma=2.0).numpy()
    np.testing.assert_allclose(out, ndimage.gaussian_laplace(a, 2.0), rtol=1e-4, atol=1e-3)
    out = mg.run("filters.dog", image, sigma_low=1.0, sigma_high=3.0).numpy()
    ref = difference_of_gaussians(a, 1.0, 3.0, mode="reflect")
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)
    with pytest.raises(mg.ParameterError, match="sigma_high"):
        mg.run("filters.dog", image, sigma_low=3.0, sigma_high=1.0)


def test_convolve_custom_kernel(image):
    k = [[1, 2, 0], [0, 1, -1], [3, 0, 1]]
    out = mg.run("filters.convolve", image, kernel=k).numpy()
    ref = ndimage.convolve(image.numpy().astype(np.float64), np.array(k, float), mode="reflect")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)
    out = mg.run("filters.convolve", image, kernel=k, normalise=True).numpy()
    np.testing.assert_allclose(out, ref / 7.0, rtol=1e-5, atol=1e-3)
    with pytest.raises(mg.ParameterError, match="kernel"):
        mg.run("filters.convolve", image, kernel=[[1, 2], [3]])


def test_background_plane_and_rolling_ball():
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float64)
    plane = 5.0 + 0.3 * yy - 0.2 * xx
    spots = np.zeros_like(plane)
    spots[20:24, 30:34] = 50.0
    d = mg.from_array((plane + spots).astype(np.float32))
    bg = mg.run("filters.background", d, method="polynomial", order=1,
                output="background").numpy()
    # the spots bias the fit a little; the plane slope is recovered
    np.testing.assert_allclose(np.diff(bg, axis=1).mean(), -0.2, atol=0.01)
    flat = mg.from_array((10.0 + spots).astype(np.float32))
    sub = mg.run("filters.background", flat, method="rolling_ball", radius=10).numpy()
    np.testing.assert_allclose(sub[spots == 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(sub[spots > 0], 50.0, atol=0.3)  # ball curvature
    pure = mg.from_array(plane.astype(np.float32))
    sub = mg.run("filters.background", pure, method="polynomial", order=1).numpy()
    np.testing.assert_allclose(sub, 0.0, atol=1e-3)


@pytest.mark.parametrize("op, opts", [("filters.median", {"size": 3}),
                                      ("filters.mean", {"size": 5}),
                                      ("filters.edges", {}),
                                      ("filters.dog", {}),
                                      ("filters.background", {"radius": 5})])
def test_lazy_equals_eager_per_frame(stack, op, opts):
    import dask.array as da

    lazy = stack.replace(data=da.from_array(stack.numpy(), chunks=(1, 30, 36)))
    a = mg.run(op, stack, **opts)
    b = mg.run(op, lazy, **opts)
    assert b.is_lazy
    np.testing.assert_array_equal(b.numpy(), a.numpy())
    single = mg.run(op, mg.from_array(stack.numpy()[2], scale=0.2, units="nm"), **opts)
    np.testing.assert_array_equal(a.numpy()[2], single.numpy())


def test_large_frames_split_in_bands_give_identical_results():
    from skimage.filters import sobel

    rng = np.random.default_rng(7)
    a = rng.normal(0, 1, (420, 400)).astype(np.float32)  # above the band-splitting size
    d = mg.from_array(a)
    np.testing.assert_array_equal(mg.run("filters.median", d, size=5).numpy(),
                                  ndimage.median_filter(a, 5))
    np.testing.assert_array_equal(mg.run("filters.mean", d, size=4).numpy(),
                                  ndimage.uniform_filter(a, 4))
    np.testing.assert_array_equal(mg.run("filters.log", d, sigma=3.0).numpy(),
                                  ndimage.gaussian_laplace(a, 3.0))
    np.testing.assert_allclose(mg.run("filters.edges", d).numpy(), sobel(a.astype(float)),
                               atol=1e-5)
    bg = mg.run("filters.background", d, radius=4, output="background").numpy()
    from micrographia.plugins.filters import _ball

    f, h = _ball(4)
    np.testing.assert_array_equal(bg, ndimage.grey_opening(a, footprint=f, structure=h))


def test_complex_and_wrong_inputs_refused_with_clear_message():
    c = mg.from_array(np.ones((8, 8), np.complex64))
    with pytest.raises(mg.ParameterError, match="complex"):
        mg.run("filters.median", c)
    spectrum = mg.from_array(np.ones(16, np.float32), signal_dims=1)
    with pytest.raises(mg.ParameterError, match="images"):
        mg.run("filters.edges", spectrum)
    with pytest.raises(mg.ParameterError):
        mg.run("filters.median", mg.from_array(np.ones((8, 8), np.float32)), size=0)


def test_parallel_frames_report_progress_and_cancel():
    import threading
    import time

    from micrographia.plugins.filters import map_frames_parallel
    from micrographia.tasks import TaskRunner

    seen = set()

    def slow(f):
        seen.add(threading.get_ident())
        time.sleep(0.005)
        return f * 2

    data = np.ones((2000, 4, 4), np.float32)
    runner = TaskRunner(max_workers=1)
    try:
        task = runner.submit(map_frames_parallel, slow, data, signal_ndim=2,
                             out_dtype=np.float32, message="slow")
        deadline = time.monotonic() + 10
        while task.progress == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert task.cancel() is True
        with pytest.raises(mg.CancelledError):
            task.result(timeout=5)
        assert 0 < task.progress < 1
        small = map_frames_parallel(slow, data[:40], signal_ndim=2, out_dtype=np.float32)
        np.testing.assert_array_equal(small, 2 * data[:40])
    finally:
        runner.shutdown(wait=True, cancel_pending=True)
    from micrographia.frames import cpu_workers

    if cpu_workers() > 1:
        assert len(seen) > 1  # frames ran on more than one thread


def test_rolling_ball_is_the_opening_of_skimage_erosion():
    from skimage.restoration import rolling_ball

    from micrographia.plugins.filters import _ball

    a = np.random.default_rng(9).poisson(100, (70, 90)).astype(np.float64)
    ours = mg.run("filters.background", mg.from_array(a), radius=6,
                  output="background").numpy()
    sk = rolling_ball(a, radius=6)
    f, h = _ball(6)
    np.testing.assert_allclose(ndimage.grey_erosion(a, footprint=f, structure=h), sk)
    np.testing.assert_allclose(ours, ndimage.grey_dilation(sk, footprint=f, structure=h))
    assert (ours >= sk - 1e-9).all() and (ours <= a + 1e-9).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (2, 9), (3, 3), (61, 47)])
def test_median3x3_min_max_network_equals_scipy(dtype, shape):
    from micrographia.plugins.filters import median3x3

    rng = np.random.default_rng(8)
    for levels in (3, 60000):  # many ties, and nearly distinct values
        high = min(levels, 255) if dtype == np.uint8 else levels
        a = rng.integers(0, high, shape).astype(dtype)
        if np.dtype(dtype).kind == "f":
            a = a + rng.normal(0, 0.25, shape).astype(dtype)
        np.testing.assert_array_equal(median3x3(a), ndimage.median_filter(a, 3, mode="reflect"))


def test_median_3_stacks_large_frames_and_nan():
    from skimage.filters import median as sk_median

    rng = np.random.default_rng(9)
    stack = rng.poisson(40, (12, 70, 90)).astype(np.uint16)  # small frames: frames in threads
    out = mg.run("filters.median", mg.from_array(stack), size=3).numpy()
    ref = np.stack([sk_median(f, np.ones((3, 3), bool), mode="reflect") for f in stack])
    np.testing.assert_array_equal(out, ref)
    big = rng.normal(0, 1, (700, 400)).astype(np.float32)  # banded in threads, with halos
    np.testing.assert_array_equal(mg.run("filters.median", mg.from_array(big)).numpy(),
                                  ndimage.median_filter(big, 3, mode="reflect"))
    big[10, 10] = np.nan  # NaN: scipy's rank filter decides, as before
    np.testing.assert_array_equal(mg.run("filters.median", mg.from_array(big)).numpy(),
                                  ndimage.median_filter(big, 3, mode="reflect"))
