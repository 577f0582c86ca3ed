"""restore.hot_pixels and restore.inpaint against injected defects and known images."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import micrographia as mg


def _defects(seed=0, size=256, lam=200.0, n=200):
    rng = np.random.default_rng(seed)
    clean = rng.poisson(lam, (size, size)).astype(np.uint16)
    img = clean.copy()
    # isolated defect positions (no two within 2 px of each other)
    pos = []
    while len(pos) < n:
        p = rng.integers(0, size, 2)
        if all(max(abs(p - q)) > 2 for q in pos):
            pos.append(p)
    pos = np.array(pos)
    hot, dead = pos[: n // 2], pos[n // 2:]
    img[hot[:, 0], hot[:, 1]] = rng.integers(1000, 4000, len(hot))
    img[dead[:, 0], dead[:, 1]] = 0
    truth = np.zeros(img.shape, bool)
    truth[pos[:, 0], pos[:, 1]] = True
    return clean, img, truth


def test_hot_pixels_recall_and_repair():
    clean, img, truth = _defects()
    d = mg.from_array(img, scale=0.1, units="nm")
    out = mg.run("restore.hot_pixels", d)
    assert out.dtype == np.uint16 and out.axes == d.axes
    changed = out.data != img
    found = changed | (truth & (out.data == img))  # a repaired value may equal the defect
    recall = (found & truth).sum() / truth.sum()
    assert recall >= 0.99
    count = out.metadata["Micrographia"]["hot_pixels"][0]
    assert truth.sum() <= count <= truth.sum() + 2
    # repaired to the local level: within ~4 σ of the Poisson mean
    assert np.all(np.abs(out.data[truth].astype(float) - 200) < 4 * np.sqrt(200))
    np.testing.assert_array_equal(out.data[~truth & ~changed], img[~truth & ~changed])


@pytest.mark.parametrize(("lam", "dtype", "gain"), [
    (0.05, np.uint16, 1), (1.0, np.uint16, 1), (3.0, np.uint16, 1), (20.0, np.uint16, 1),
    (200.0, np.uint16, 1), (5000.0, np.uint16, 1), (200.0, np.uint16, 10),
    (20.0, np.float32, 1), (200.0, np.float32, 1), (5000.0, np.float32, 1)])
def test_hot_pixels_no_false_positive_on_clean_poisson(lam, dtype, gain):
    for seed in range(3):
        clean = (gain * np.random.default_rng(seed).poisson(lam, (256, 256))).astype(dtype)
        out = mg.run("restore.hot_pixels", mg.from_array(clean))
        assert out.metadata["Micrographia"]["hot_pixels"] == (0,)
        np.testing.assert_array_equal(out.data, clean)


def test_hot_pixels_low_dose_counting_frame():
    rng = np.random.default_rng(4)
    a = rng.poisson(1.0, (128, 128)).astype(np.uint16)
    a[[10, 50, 90], [20, 60, 100]] = 300
    out = mg.run("restore.hot_pixels", mg.from_array(a))
    assert out.metadata["Micrographia"]["hot_pixels"] == (3,)
    assert np.all(out.data[[10, 50, 90], [20, 60, 100]] <= 4)


def test_hot_pixels_stack_per_frame_and_lazy():
    frames = [_defects(seed=s, size=64, n=10)[1] for s in (1, 2)]
    s = mg.from_array(np.stack(frames))
    out = mg.run("restore.hot_pixels", s)
    assert out.metadata["Micrographia"]["hot_pixels"] == (10, 10)
    for i in range(2):
        np.testing.assert_array_equal(out.data[i], mg.run("restore.hot_pixels",
                                                          mg.from_array(frames[i])).data)
    lazy = s.replace(data=da.from_array(np.asarray(s.data), chunks=(1, 32, 64)))
    lo = mg.run("restore.hot_pixels", lazy)
    assert lo.is_lazy
    np.testing.assert_array_equal(lo.numpy(), out.data)
    with pytest.raises(mg.ParameterError, match="threshold"):
        mg.run("restore.hot_pixels", s, threshold=1.0)


def _smooth(shape=(96, 128)):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (100 + 20 * np.sin(xx / 15.0) * np.cos(yy / 20.0) + 0.05 * xx).astype(np.float32)


def test_inpaint_fills_masked_disk():
    from skimage.restoration import inpaint_biharmonic

    img = _smooth()
    yy, xx = np.mgrid[0:96, 0:128]
    hole = np.hypot(yy - 48, xx - 60) < 8
    damaged = img.copy()
    damaged[hole] = 0
    d = mg.from_array(damaged, scale=0.2, units="nm")
    out = mg.run("restore.inpaint", d, mg.from_array(hole))
    assert out.dtype == np.float32 and out.axes == d.axes
    err = np.abs(out.data[hole] - img[hole])
    assert err.max() < 0.5  # range of the image ≈ 45
    np.testing.assert_array_equal(out.data[~hole], damaged[~hole])
    ref = inpaint_biharmonic(damaged.astype(np.float64), hole)
    np.testing.assert_allclose(out.data, ref, rtol=1e-6, atol=1e-4)


def test_inpaint_default_nan_stack_and_errors():
    img = _smooth()
    a = np.stack([img, img[::-1]])
    a[0, 10:14, 20:24] = np.nan
    a[1, 50, 50:60] = np.nan
    out = mg.run("restore.inpaint", mg.from_array(a))
    assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data[0], img, atol=0.2)
    np.testing.assert_allclose(out.data[1], img[::-1], atol=0.2)
    # one mask per frame
    m = np.zeros(a.shape, bool)
    m[1, 30:35, 30:35] = True
    b = np.stack([img, img[::-1]])
    out2 = mg.run("restore.inpaint", mg.from_array(b), mg.from_array(m))
    np.testing.assert_array_equal(out2.data[0], b[0])
    np.testing.assert_allclose(out2.data[1], b[1], atol=0.2)
    with pytest.raises(mg.ParameterError, match="boolean"):
        mg.run("restore.inpaint", mg.from_array(b), mg.from_array(m.astype(np.uint8)))
    with pytest.raises(mg.ParameterError, match="shape"):
        mg.run("restore.inpaint", mg.from_array(b), mg.from_array(np.zeros((5, 5), bool)))


def test_hot_pixels_banded_median_equals_single_thread(monkeypatch):
    _, img, truth = _defects(seed=3, size=512, n=300)
    d = mg.from_array(img)
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "3")
    banded = mg.run("restore.hot_pixels", d)
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "1")
    single = mg.run("restore.hot_pixels", d)
    np.testing.assert_array_equal(banded.data, single.data)
    assert banded.metadata["Micrographia"]["hot_pixels"][0] >= 0.99 * truth.sum()
