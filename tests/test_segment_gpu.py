"""GPU branches of segment.*, restore.hot_pixels and peaks.find on the strict cupy stand-in.

Every operation is run through :func:`micrographia.compute.execute` with the device set to the
GPU (inputs moved to the stand-in's device arrays) and to the CPU; the results must be equal and
the GPU run must not have fallen back to the CPU (``notes == []``). A spy on the stand-in's
``cupy`` / ``cupyx.scipy.ndimage`` functions checks that the device code really ran (a CPU branch
given device data would silently convert it to host memory on the stand-in).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _fake_cupy import install

import micrographia as mg
from micrographia import settings
from micrographia.compute import execute


def _set_device(monkeypatch, device):
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", device)
    settings.reset_cache()


@pytest.fixture
def gpu_calls(monkeypatch):
    """Install the stand-in; return the list of device functions called (by name)."""
    install(monkeypatch)
    calls: list[str] = []
    for modname in ("cupy", "cupyx.scipy.ndimage"):
        mod = sys.modules[modname]
        for name in dir(mod):
            value = getattr(mod, name)
            if name.startswith("_") or isinstance(value, type) or not callable(value) \
                    or isinstance(value, np.ufunc) or not hasattr(value, "__wrapped__"):
                continue

            def spy(*args, _f=value, _n=name, **kwargs):
                calls.append(_n)
                return _f(*args, **kwargs)

            monkeypatch.setattr(mod, name, spy)
    from _fake_cupy import FakeGpuArray

    ufunc = FakeGpuArray.__array_ufunc__

    def ufunc_spy(self, uf, method, *inputs, **kwargs):  # operators on device arrays
        calls.append(f"ufunc:{uf.__name__}")
        return ufunc(self, uf, method, *inputs, **kwargs)

    monkeypatch.setattr(FakeGpuArray, "__array_ufunc__", ufunc_spy)
    return calls


def _both(op_id, ds, params, monkeypatch, inputs=()):
    """Run on the (stand-in) GPU and on the CPU; return (gpu result, cpu result)."""
    op = mg.operation(op_id)
    assert op.gpu, op_id
    args = (ds, *inputs)
    bound = op.bind(args, params)
    _set_device(monkeypatch, "gpu")
    gpu, notes = execute(op, args, bound)
    assert notes == [], notes
    _set_device(monkeypatch, "cpu")
    cpu, notes = execute(op, args, bound)
    assert notes == []
    return gpu, cpu


def _same_dataset(g, c):
    assert type(g.data) is np.ndarray  # users always get numpy back
    assert g.axes == c.axes and g.dtype == c.dtype
    np.testing.assert_array_equal(g.data, c.data)


def _blobs(shape, seed, n=12, sigma=4.0):
    rng = np.random.default_rng(seed)
    nav, (h, w) = shape[:-2], shape[-2:]
    out = np.empty(shape, np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    for idx in np.ndindex(*nav):
        f = np.zeros((h, w))
        for _ in range(n):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            f += 100 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
        out[idx] = 20 + f + rng.normal(0, 4, (h, w))
    return out


def _images():
    """A float32 image and a uint16 stack with blobs on a noisy background."""
    img = mg.from_array(_blobs((70, 90), 1).astype(np.float32), scale=0.1, units="nm",
                        title="img")
    stack = mg.from_array(np.clip(np.rint(_blobs((3, 64, 72), 2)), 0, None).astype(np.uint16),
                          scale=0.2, units="nm", title="stack")
    return [img, stack]


def _masks():
    """Boolean image and stack with objects of several sizes, holes and specks."""
    rng = np.random.default_rng(3)
    out = []
    for shape, seed in (((66, 80), 4), ((3, 60, 70), 5)):
        m = _blobs(shape, seed, n=10, sigma=3.5) > 60
        m ^= rng.random(shape) < 0.03  # specks and pinholes
        out.append(mg.from_array(m, scale=0.5, units="nm", title="mask"))
    return out


# -- segment.threshold ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["otsu", "li", "yen", "triangle", "isodata", "mean",
                                    "manual"])
@pytest.mark.parametrize("invert", [False, True])
def test_threshold_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, method, invert):
    for ds in _images():
        gpu_calls.clear()
        g, c = _both("segment.threshold", ds, {"method": method, "value": 45.0,
                                                "invert": invert}, monkeypatch)
        _same_dataset(g, c)
        assert 0 < c.data.sum() < c.data.size  # a real split, not a trivial mask
        tg = g.metadata["Micrographia"]["threshold"]
        tc = c.metadata["Micrographia"]["threshold"]
        assert len(tg) == len(tc) == int(np.prod(ds.shape[:-2]))
        np.testing.assert_allclose(tg, tc, rtol=1e-6)
        assert "ufunc:greater" in gpu_calls  # the mask was made on the device
        if method in ("otsu", "yen", "triangle", "isodata"):
            assert {"histogram", "bincount"} & set(gpu_calls)


def test_threshold_histogram_matches_skimage(gpu_calls):
    """The device histogram has scikit-image's bins, counts and centres."""
    import cupy
    from skimage.exposure import histogram

    from micrographia.plugins.segment import _histogram_xp

    rng = np.random.default_rng(0)
    for a in (rng.normal(3, 2, (50, 60)).astype(np.float32), rng.normal(3, 2, (40, 30)),
              rng.integers(-20, 300, (30, 40)).astype(np.int16),
              rng.poisson(5, (30, 40)).astype(np.uint16)):
        counts, centers = _histogram_xp(cupy.asarray(a))
        ref_counts, ref_centers = histogram(a.ravel(), 256, source_range="image")
        np.testing.assert_array_equal(counts, ref_counts)
        np.testing.assert_array_equal(centers, ref_centers)
        assert centers.dtype == ref_centers.dtype


def test_threshold_of_a_constant_frame_on_the_gpu(gpu_calls, monkeypatch):
    ds = mg.from_array(np.full((2, 20, 30), 7, np.uint16))
    for method in ("otsu", "li", "triangle", "mean"):
        g, c = _both("segment.threshold", ds, {"method": method}, monkeypatch)
        _same_dataset(g, c)
        assert list(g.metadata["Micrographia"]["threshold"]) == [7.0, 7.0]


# -- segment.multi_otsu / local_threshold ---------------------------------------------------
@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multi_otsu_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, classes):
    for ds in _images():
        gpu_calls.clear()
        g, c = _both("segment.multi_otsu", ds, {"classes": classes}, monkeypatch)
        _same_dataset(g, c)
        assert len(np.unique(c.data)) == classes
        np.testing.assert_allclose(g.metadata["Micrographia"]["thresholds"],
                                   c.metadata["Micrographia"]["thresholds"], rtol=1e-6)
        assert "digitize" in gpu_calls and {"histogram", "bincount"} & set(gpu_calls)


@pytest.mark.parametrize("method, call", [("gaussian", "gaussian_filter"),
                                          ("mean", "uniform_filter"),
                                          ("median", "median_filter")])
@pytest.mark.parametrize("block_size, offset, invert", [(35, 0.0, False), (9, -2.5, True),
                                                        (15, 3.0, False)])
def test_local_threshold_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, method, call,
                                                   block_size, offset, invert):
    for ds in _images():
        gpu_calls.clear()
        g, c = _both("segment.local_threshold", ds, {"block_size": block_size,
                                                      "method": method, "offset": offset,
                                                      "invert": invert}, monkeypatch)
        _same_dataset(g, c)
        assert 0 < c.data.sum() < c.data.size
        assert call in gpu_calls


# -- segment.morphology / label / clear_border ----------------------------------------------
@pytest.mark.parametrize("operation, call", [
    ("open", "binary_opening"), ("close", "binary_closing"), ("erode", "binary_erosion"),
    ("dilate", "binary_dilation"), ("fill_holes", "binary_fill_holes"),
    ("remove_small_objects", "label"), ("remove_small_holes", "label")])
@pytest.mark.parametrize("radius, connectivity, min_size", [(1, 1, 5), (3, 2, 40)])
def test_morphology_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, operation, call, radius,
                                              connectivity, min_size):
    for ds in _masks():
        gpu_calls.clear()
        g, c = _both("segment.morphology", ds, {"operation": operation, "radius": radius,
                                                 "connectivity": connectivity,
                                                 "min_size": min_size}, monkeypatch)
        _same_dataset(g, c)
        assert not np.array_equal(c.data, ds.data)  # the operation changed something
        assert call in gpu_calls


@pytest.mark.parametrize("connectivity", [1, 2])
def test_label_on_the_gpu_equals_the_cpu_and_skimage(gpu_calls, monkeypatch, connectivity):
    from skimage.measure import label as sk_label

    for ds in _masks():
        gpu_calls.clear()
        g, c = _both("segment.label", ds, {"connectivity": connectivity}, monkeypatch)
        _same_dataset(g, c)
        assert g.dtype == np.int32 and "label" in gpu_calls
        m = ds.data.reshape(-1, *ds.shape[-2:])
        for k, lab in enumerate(g.data.reshape(m.shape)):
            ref = sk_label(m[k], connectivity=connectivity)
            assert ref.max() > 5
            np.testing.assert_array_equal(lab, ref)


@pytest.mark.parametrize("width", [1, 4])
def test_clear_border_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, width):
    from scipy import ndimage as ndi

    for ds in _masks():
        labels = ds.replace(data=np.stack([ndi.label(f)[0] for f in
                                           ds.data.reshape(-1, *ds.shape[-2:])])
                            .reshape(ds.shape).astype(np.int32))
        for d in (ds, labels):
            gpu_calls.clear()
            g, c = _both("segment.clear_border", d, {"width": width}, monkeypatch)
            _same_dataset(g, c)
            assert np.count_nonzero(c.data) < np.count_nonzero(d.data)
            assert "isin" in gpu_calls


@pytest.mark.parametrize("op_id", ["segment.morphology", "segment.label",
                                   "segment.clear_border"])
def test_mask_ops_pass_the_shared_parity_check(gpu_calls, monkeypatch, op_id):
    """tests/_gpu_parity's default samples are not masks: run it on masks here."""
    from _gpu_parity import check_gpu_equals_cpu

    check_gpu_equals_cpu(op_id, monkeypatch, samples=_masks())


def test_watershed_and_inpaint_stay_on_the_cpu(gpu_calls, monkeypatch):
    # (peaks.template_match has a GPU path: tests/test_template_match.py)
    for op_id in ("segment.watershed", "restore.inpaint"):
        assert not mg.operation(op_id).gpu
    _set_device(monkeypatch, "gpu")
    m = _masks()[0]
    op = mg.operation("segment.watershed")
    out, notes = execute(op, (m,), op.bind((m,), {}))
    assert notes == [] and type(out.data) is np.ndarray and out.data.max() > 1


# -- restore.hot_pixels ---------------------------------------------------------------------
def _hot_data():
    rng = np.random.default_rng(7)
    img = rng.normal(100, 5, (120, 140)).astype(np.float32)
    # outliers of graded size (2 to 40 σ, both signs) on a sparse grid: the detection threshold
    # falls between some of them, so any change in σ or in the neighbour median shows
    sites = [(r, c) for r in range(4, 116, 4) for c in range(4, 136, 4)]
    for k, (r, c) in enumerate(sites):
        img[r, c] += (-1) ** k * 5.5 * (2 + 38 * k / len(sites))
    img[10, 13], img[30, 41], img[31, 41], img[0, 0], img[119, 139] = 900, 0, -300, 1e4, 2e3
    img[21, 21], img[45, 6] = np.nan, np.inf
    stack = rng.poisson(30, (3, 50, 64)).astype(np.uint16)
    for k, (r, c) in enumerate(sites[:330]):
        stack[k % 3, r % 50, c % 64] += int(5.5 * (2 + 38 * k / 330))
    stack[0, 5, 5], stack[1, 20, 30], stack[1, 20, 31], stack[2, 49, 63] = 4000, 0, 65535, 900
    sparse = (rng.random((2, 40, 50)) < 0.1).astype(np.uint16)  # low dose: nothing is hot
    sparse[1, 10, 10] = 500
    return [mg.from_array(a) for a in (img, stack, sparse)]


@pytest.mark.parametrize("threshold", [4.0, 8.0, 30.0])
def test_hot_pixels_on_the_gpu_equal_the_cpu(gpu_calls, monkeypatch, threshold):
    for ds in _hot_data():
        gpu_calls.clear()
        g, c = _both("restore.hot_pixels", ds, {"threshold": threshold}, monkeypatch)
        _same_dataset(g, c)
        ng, nc = g.metadata["Micrographia"]["hot_pixels"], c.metadata["Micrographia"]["hot_pixels"]
        assert ng == nc and sum(nc) > 0
        assert "median_filter" in gpu_calls


def test_hot_pixels_of_a_flat_frame_on_the_gpu(gpu_calls, monkeypatch):
    ds = mg.from_array(np.full((2, 30, 30), 5.0, np.float32))
    g, c = _both("restore.hot_pixels", ds, {}, monkeypatch)
    _same_dataset(g, c)
    assert list(g.metadata["Micrographia"]["hot_pixels"]) == [0, 0]


# -- peaks.find -----------------------------------------------------------------------------
def _spots(shape, seed):
    rng = np.random.default_rng(seed)
    h, w = shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty(shape)
    for idx in np.ndindex(*shape[:-2]):
        f = np.zeros((h, w))
        for cy in np.arange(4.3, h - 2, 9.0):
            for cx in np.arange(3.7, w - 2, 9.0):
                dy, dx = rng.uniform(-0.5, 0.5, 2)
                f += rng.uniform(50, 100) * np.exp(-((yy - cy - dy) ** 2 + (xx - cx - dx) ** 2)
                                                   / (2 * 1.6 ** 2))
        out[idx] = 10 + f + rng.normal(0, 2, (h, w))
    return out


@pytest.mark.parametrize("refine", ["gaussian", "com", "paraboloid", None])
@pytest.mark.parametrize("params", [{}, {"min_distance": 1, "exclude_border": False},
                                    {"min_distance": 5, "threshold_abs": 40.0,
                                     "threshold_rel": 0.0, "window": 3}])
def test_find_peaks_on_the_gpu_equals_the_cpu(gpu_calls, monkeypatch, refine, params):
    img = mg.from_array(_spots((64, 72), 1).astype(np.float32), scale=0.1, units="nm")
    stack = mg.from_array(np.rint(_spots((3, 50, 60), 2)).astype(np.uint16), scale=0.2,
                          units="nm")
    for ds in (img, stack):
        gpu_calls.clear()
        g, c = _both("peaks.find", ds, {"refine": refine, **params}, monkeypatch)
        assert list(g.columns) == list(c.columns)
        assert len(c["x"]) > 20
        for name in c.columns:
            assert type(g[name]) is np.ndarray and g[name].dtype == c[name].dtype
            np.testing.assert_allclose(g[name], c[name], rtol=0, atol=1e-6, equal_nan=True)
        assert "maximum_filter" in gpu_calls
        if refine in ("gaussian", "com", "paraboloid"):
            assert "pad" in gpu_calls  # windows gathered on the device


def test_find_peaks_with_non_finite_pixels_on_the_gpu(gpu_calls, monkeypatch):
    a = _spots((40, 45), 3)
    a[5, 5], a[20, 30] = np.nan, np.nan
    b = a.copy()
    b[30, 12] = -np.inf
    for data, refine in ((a, "com"), (b, None), (np.full((10, 12), np.nan), "gaussian")):
        g, c = _both("peaks.find", mg.from_array(data), {"refine": refine}, monkeypatch)
        assert len(c["x"]) > 5 or np.isnan(data).all()
        for name in c.columns:
            np.testing.assert_allclose(g[name], c[name], rtol=0, atol=1e-6)
