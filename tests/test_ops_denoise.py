"""Tests of the ``denoise.*`` operations: PSNR gains on a phantom with known noise, agreement
with scikit-image, stacks per frame, lazy == eager, PCA rank selection."""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia.plugins.denoise import estimate_sigma, nl_means_frame

SIGMA = 0.1


def _phantom(n: int = 128, m: int = 128) -> np.ndarray:
    """Smooth lattice-like texture plus a sharp-edged disk and a bar, range about [0.2, 1.6]."""
    yy, xx = np.mgrid[0:n, 0:m]
    img = 0.5 + 0.3 * np.sin(xx / 6.0) * np.cos(yy / 9.0)
    img = img + 0.8 * (np.hypot(yy - n / 2, xx - m / 2) < n / 4)
    img = img + 0.4 * ((xx > m * 0.8) & (yy < n * 0.3))
    return img


def _noisy(seed: int = 0, n: int = 128, m: int = 128, sigma: float = SIGMA):
    clean = _phantom(n, m)
    noisy = clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)
    return clean, noisy.astype(np.float32)


def _psnr(a, clean) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(10 * np.log10(np.ptp(clean) ** 2 / np.mean((a - clean) ** 2)))


def _stack(frames: int = 3, n: int = 64, m: int = 80):
    clean = _phantom(n, m)
    rng = np.random.default_rng(7)
    data = np.stack([clean * (1 + 0.2 * i) + rng.normal(0, SIGMA, clean.shape)
                     for i in range(frames)]).astype(np.float32)
    return mg.from_array(data, scale=0.1, units="nm")


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.3])
def test_estimate_sigma_within_10_percent(sigma):
    _, noisy = _noisy(seed=3, n=256, m=256, sigma=sigma)
    est = estimate_sigma(noisy)
    assert abs(est - sigma) / sigma < 0.10, est
    # 1-D frames: differences of neighbours
    spectrum = np.linspace(0, 5, 4096) + np.random.default_rng(4).normal(0, sigma, 4096)
    assert abs(estimate_sigma(spectrum) - sigma) / sigma < 0.10


def test_nl_means_equals_scikit_image_and_beats_its_psnr():
    from skimage.restoration import denoise_nl_means

    clean, noisy = _noisy()
    s = estimate_sigma(noisy)
    kw = dict(patch_size=5, patch_distance=6, h=0.8 * s, sigma=s, fast_mode=True)
    ours = mg.run("denoise.nl_means", mg.from_array(noisy)).numpy()
    assert ours.dtype == np.float32
    # the same algorithm in float64 on the whole frame: equal to rounding
    ref64 = denoise_nl_means(noisy.astype(np.float64), preserve_range=True, **kw)
    np.testing.assert_allclose(ours, ref64, rtol=0, atol=1e-6)
    # scikit-image on the float32 image, same parameters: our PSNR gain is at least as high
    ref32 = denoise_nl_means(noisy, preserve_range=True, **kw)
    gain, ref_gain = _psnr(ours, clean) - _psnr(noisy, clean), \
        _psnr(ref32, clean) - _psnr(noisy, clean)
    assert gain >= ref_gain - 1e-6, (gain, ref_gain)
    assert gain > 8.0, gain


@pytest.mark.parametrize("fast_mode", [True, False])
def test_nl_means_tiles_equal_whole_frame(fast_mode):
    _, noisy = _noisy(n=100, m=60)
    kw = dict(patch_size=5, patch_distance=4, h=0.8, sigma=None, fast_mode=fast_mode)
    whole = nl_means_frame(noisy, tiles=1, **kw)
    for tiles in (2, 3, 4):
        tiled = nl_means_frame(noisy, tiles=tiles, **kw)
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-9,
                                   err_msg=f"{tiles} tiles")
        # tiles in parallel threads or one after the other: bit-identical
        np.testing.assert_array_equal(nl_means_frame(noisy, tiles=tiles, parallel=False, **kw),
                                      tiled)


def test_nl_means_default_tiling_of_a_tall_frame():
    clean, noisy = _noisy(seed=9, n=400, m=48)  # 400 rows, halo 11: 2 tiles by default
    kw = dict(patch_size=5, patch_distance=6, h=0.8, sigma=None, fast_mode=True)
    whole = nl_means_frame(noisy, tiles=1, **kw)
    tiled = nl_means_frame(noisy, **kw)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-9)
    # the operation on a stack (frames in parallel, tiles in turn) == on single frames (tiles
    # in parallel) == lazily
    import dask.array as da

    stack = mg.from_array(np.stack([noisy, noisy[::-1]]))
    out = mg.run("denoise.nl_means", stack).numpy()
    np.testing.assert_array_equal(out[0], tiled.astype(np.float32))
    np.testing.assert_array_equal(
        out[1], mg.run("denoise.nl_means", mg.from_array(noisy[::-1])).numpy())
    lazy = stack.replace(data=da.from_array(stack.numpy(), chunks=(1, -1, -1)))
    np.testing.assert_array_equal(mg.run("denoise.nl_means", lazy).numpy(), out)


@pytest.mark.parametrize("op_id, options, min_gain", [
    ("denoise.nl_means", {}, 8.0),
    ("denoise.tv", {}, 9.0),
    ("denoise.tv", {"method": "bregman"}, 8.0),
    ("denoise.wavelet", {}, 5.5),
    ("denoise.wavelet", {"method": "VisuShrink"}, 4.0),
    ("denoise.bilateral", {}, 4.0),
])
def test_psnr_gain(op_id, options, min_gain):
    clean, noisy = _noisy(seed=11)
    out = mg.run(op_id, mg.from_array(noisy, scale=0.05, units="nm"), **options)
    assert out.dtype == np.float32
    assert out.axes[0].scale == 0.05 and out.axes[1].units == "nm"
    gain = _psnr(out.numpy(), clean) - _psnr(noisy, clean)
    assert gain >= min_gain, f"{op_id} {options}: PSNR gain {gain:.2f} dB"


def test_reference_calls_with_explicit_sigma():
    from skimage.restoration import (
        denoise_bilateral,
        denoise_tv_bregman,
        denoise_tv_chambolle,
        denoise_wavelet,
    )

    _, noisy = _noisy(seed=5, n=64, m=64)
    f, d, s = noisy.astype(np.float64), mg.from_array(noisy), 0.1

    def close(a, b):
        np.testing.assert_allclose(a.numpy(), b.astype(np.float32), rtol=0, atol=1e-6)

    close(mg.run("denoise.tv", d, weight=1.5, sigma=s),
          denoise_tv_chambolle(f, weight=0.15, max_num_iter=200))
    close(mg.run("denoise.tv", d, weight=1.0, sigma=s, method="bregman"),
          s * denoise_tv_bregman(f / s, weight=0.5, max_num_iter=200))
    close(mg.run("denoise.wavelet", d, sigma=s, wavelet="db4", mode="hard"),
          denoise_wavelet(f, sigma=s, wavelet="db4", mode="hard", method="BayesShrink",
                          rescale_sigma=True))
    # positive data: scikit-image shifts negative data itself, but with its colour look-up
    # table scaled for the unshifted range; we shift before calling it
    dp = mg.from_array(noisy + np.float32(1.0))
    fp = dp.numpy().astype(np.float64)
    close(mg.run("denoise.bilateral", dp, sigma_color=0.3, sigma_spatial=2.0),
          denoise_bilateral(fp, sigma_color=0.3, sigma_spatial=2.0, mode="reflect"))
    close(mg.run("denoise.bilateral", dp, sigma=s), denoise_bilateral(
        fp, sigma_color=2 * s, sigma_spatial=1.5, mode="reflect"))


@pytest.mark.parametrize("op_id, options", [
    ("denoise.nl_means", {"patch_distance": 3}),
    ("denoise.tv", {}),
    ("denoise.wavelet", {}),
    ("denoise.bilateral", {}),
])
def test_stack_per_frame_and_lazy(op_id, options):
    import dask.array as da

    stack = _stack()
    out = mg.run(op_id, stack, **options)
    assert out.shape == stack.shape and out.axes == stack.axes
    for i in range(stack.shape[0]):
        frame = mg.from_array(stack.numpy()[i], scale=0.1, units="nm")
        np.testing.assert_array_equal(out.numpy()[i], mg.run(op_id, frame, **options).numpy())
    lazy = stack.replace(data=da.from_array(stack.numpy(), chunks=(1, -1, -1)))
    lazy_out = mg.run(op_id, lazy, **options)
    assert lazy_out.is_lazy
    np.testing.assert_array_equal(lazy_out.numpy(), out.numpy())


def test_integer_counts_are_not_rescaled():
    rng = np.random.default_rng(2)
    counts = rng.poisson(200 * _phantom(64, 64)).astype(np.uint16)
    for op_id in ("denoise.nl_means", "denoise.tv", "denoise.wavelet", "denoise.bilateral"):
        out = mg.run(op_id, mg.from_array(counts))
        assert out.dtype == np.float32
        assert abs(out.numpy().mean() - counts.mean()) < 0.02 * counts.mean(), op_id


def test_negative_values_and_offsets():
    """Bilateral (which scikit-image refuses on negative data) and TV are shift-equivariant."""
    _, noisy = _noisy(seed=6, n=48, m=48)
    for op_id in ("denoise.bilateral", "denoise.tv", "denoise.wavelet", "denoise.nl_means"):
        a = mg.run(op_id, mg.from_array(noisy), sigma=0.1).numpy()
        b = mg.run(op_id, mg.from_array(noisy - 5.0), sigma=0.1).numpy()
        np.testing.assert_allclose(b + 5.0, a, atol=2e-3, err_msg=op_id)


def test_spectra_work_with_tv_and_wavelet():
    e = np.linspace(0, 1, 512)
    clean = np.stack([np.exp(-0.5 * ((e - 0.5) / 0.05) ** 2) * (i + 1) for i in range(4)])
    noisy = clean + np.random.default_rng(8).normal(0, 0.05, clean.shape)
    d = mg.from_array(noisy, signal_dims=1, scale=2.0, units="eV")
    for op_id in ("denoise.tv", "denoise.wavelet"):
        out = mg.run(op_id, d).numpy()
        assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2), op_id


def test_bad_options_raise_parameter_error():
    d = mg.from_array(_noisy(n=32, m=32)[1])
    with pytest.raises(mg.ParameterError, match="sigma"):
        mg.run("denoise.nl_means", d, sigma=0.0)
    with pytest.raises(mg.ParameterError, match="patch_size"):
        mg.run("denoise.nl_means", d, patch_size=1)
    with pytest.raises(mg.ParameterError, match="method"):
        mg.run("denoise.tv", d, method="rof")
    with pytest.raises(mg.ParameterError, match="sigma_color"):
        mg.run("denoise.bilateral", d, sigma_color=0.0)
    with pytest.raises(mg.ParameterError, match="images"):
        mg.run("denoise.tv", mg.from_array(np.ones((3, 64)), signal_dims=1), method="bregman")
    with pytest.raises(mg.ParameterError):
        mg.run("denoise.pca", d)  # a single image has no navigation axis
    assert not mg.operation("denoise.nl_means").accepts(
        mg.from_array(np.ones((3, 64)), signal_dims=1))


def _low_rank_si(seed: int = 1):
    e = np.arange(200)
    comps = np.stack([np.exp(-0.5 * ((e - c) / w) ** 2)
                      for c, w in [(50, 8), (100, 5), (150, 12)]]) + 0.1
    yy, xx = np.mgrid[0:24, 0:20]
    abundance = np.stack([1 + 0.8 * np.sin(xx / 3.0), 1 + 0.8 * np.cos(yy / 4.0),
                          0.5 + (xx > 10)])
    truth = np.einsum("kyx,ke->yxe", abundance, comps) * 30
    return truth, np.random.default_rng(seed).poisson(truth).astype(np.uint16)


def test_pca_poisson_low_rank_spectrum_image():
    truth, counts = _low_rank_si()
    d = mg.from_array(counts, signal_dims=1, scale=5.0, units="eV")
    out, scree = mg.run("denoise.pca", d, poisson_weighting=True)
    assert out.dtype == np.float32 and out.axes == d.axes
    assert scree.metadata["n_components"] == 3
    assert scree.columns == ("component", "explained_variance", "explained_variance_ratio")
    ratio = scree["explained_variance_ratio"]
    assert ratio.sum() <= 1 + 1e-9 and np.all(np.diff(ratio) <= 1e-12)
    assert scree["component"][0] == 1
    noise_rms = np.sqrt(np.mean((counts - truth) ** 2))
    err_rms = np.sqrt(np.mean((out.numpy() - truth) ** 2))
    assert err_rms < 0.25 * noise_rms, (err_rms, noise_rms)
    # a fixed number of components is honoured
    out2, scree2 = mg.run("denoise.pca", d, n_components=2, poisson_weighting=True)
    assert scree2.metadata["n_components"] == 2
    assert np.sqrt(np.mean((out2.numpy() - truth) ** 2)) > err_rms


def test_pca_gaussian_noise_stack_and_lazy():
    import dask.array as da

    truth, _ = _low_rank_si()
    noisy = truth + np.random.default_rng(3).normal(0, 3.0, truth.shape)
    d = mg.from_array(noisy.astype(np.float32), signal_dims=1)
    out, scree = mg.run("denoise.pca", d)
    assert scree.metadata["n_components"] == 3
    assert np.sqrt(np.mean((out.numpy() - truth) ** 2)) < 0.25 * 3.0
    lazy = d.replace(data=da.from_array(d.numpy(), chunks=(6, 5, -1)))
    lazy_out, lazy_scree = mg.run("denoise.pca", lazy)
    np.testing.assert_array_equal(lazy_out.numpy(), out.numpy())
    with pytest.raises(mg.ParameterError, match="n_components"):
        mg.run("denoise.pca", d, n_components=1000)
    with pytest.raises(mg.ParameterError, match="non-negative"):
        mg.run("denoise.pca", d.replace(data=d.numpy() - 1000), poisson_weighting=True)


def test_stack_frames_run_in_parallel_threads(monkeypatch):
    """An in-memory stack is denoised frame by frame in several threads (both cores here)."""
    import threading
    import time

    from micrographia.plugins import denoise

    monkeypatch.setenv("MICROGRAPHIA_THREADS", "2")
    seen = set()

    def frame(f, split):  # noqa: ANN001, ANN202
        assert split is False
        seen.add(threading.get_ident())
        time.sleep(0.01)
        return f * 2

    stack = mg.from_array(np.arange(20 * 4 * 5, dtype=np.float32).reshape(20, 4, 5))
    out = denoise._run_frames(stack, frame, "test", "x")
    np.testing.assert_array_equal(out.numpy(), stack.numpy() * 2)
    assert len(seen) == 2


@pytest.mark.parametrize("shift", [1.0, -1.0])
def test_bilateral_tiles_are_bit_identical(shift):
    from micrographia.plugins.denoise import bilateral_frame

    _, noisy = _noisy(seed=12, n=200, m=40)
    f = noisy.astype(np.float64) + shift
    kw = dict(sigma_color=0.2, sigma_spatial=1.5)
    whole = bilateral_frame(f, tiles=1, **kw)
    for tiles in (2, 3, 5):
        for parallel in (True, False):
            np.testing.assert_array_equal(
                bilateral_frame(f, tiles=tiles, parallel=parallel, **kw), whole,
                err_msg=f"{tiles} tiles")
    np.testing.assert_array_equal(bilateral_frame(f, **kw), whole)  # default tiling
    if shift > 0:  # positive data: exactly scikit-image's call
        from skimage.restoration import denoise_bilateral

        np.testing.assert_array_equal(whole, denoise_bilateral(f, mode="reflect", **kw))


# -- BM3D (optional package) ----------------------------------------------------------------
def _need_bm3d():
    pytest.importorskip("bm3d", reason="the optional `bm3d` package is not installed "
                                       "(pip install 'micrographia[bm3d]')")


def test_bm3d_psnr_gain_beats_nl_means_and_reference_call():
    _need_bm3d()
    import bm3d

    clean, noisy = _noisy(seed=12, n=80, m=80)
    d = mg.from_array(noisy)
    ours = mg.run("denoise.bm3d", d, sigma=SIGMA)
    assert ours.dtype == np.float32 and ours.axes == d.axes
    before, after = _psnr(noisy, clean), _psnr(ours.numpy(), clean)
    assert after - before > 9.0, (before, after)
    nlm = _psnr(mg.run("denoise.nl_means", d, sigma=SIGMA).numpy(), clean)
    assert after > nlm + 0.5, (after, nlm)
    # the package called directly on the data scaled to [0, 1], single-threaded
    low, span = float(noisy.min()), float(np.ptp(noisy))
    pro = bm3d.BM3DProfile()
    pro.num_threads = 1
    ref = bm3d.bm3d((noisy.astype(np.float64) - low) / span, SIGMA / span,
                    profile=pro) * span + low
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-5)


def test_bm3d_stack_frames_in_parallel_equal_single_frames():
    _need_bm3d()
    stack = _stack(frames=2, n=48, m=56)
    out = mg.run("denoise.bm3d", stack, stage="hard_thresholding")  # sigma estimated
    assert out.shape == stack.shape and out.dtype == np.float32
    frame = stack.numpy()[1]
    one = mg.run("denoise.bm3d", mg.from_array(frame), stage="hard_thresholding").numpy()
    np.testing.assert_array_equal(out.numpy()[1], one)
    assert _psnr(one, 1.2 * _phantom(48, 56)) > _psnr(frame, 1.2 * _phantom(48, 56)) + 6
    # units do not matter: counts scaled by 1000 and offset give the scaled result
    big = mg.run("denoise.bm3d", mg.from_array(frame.astype(np.float64) * 1000 + 5),
                 stage="hard_thresholding").numpy()
    np.testing.assert_allclose((big - 5) / 1000, one, atol=1e-4)
    with pytest.raises(mg.ParameterError, match="sigma must be positive"):
        mg.run("denoise.bm3d", stack, sigma=0.0)


def test_bm3d_registered_only_when_the_package_imports(monkeypatch):
    import importlib.util

    from micrographia.plugins import denoise

    present = importlib.util.find_spec("bm3d") is not None
    assert ("denoise.bm3d" in {op.id for op in mg.operations()}) == present

    # without the package: no menu entry, and a direct call explains what to install
    class Recorder:
        ids: list = []

        def add(self, func, **kw):
            self.ids.append(kw["id"])

    monkeypatch.setattr(denoise, "_bm3d_installed", lambda: False)
    reg = Recorder()
    denoise.micrographia_register(reg)
    assert "denoise.nl_means" in reg.ids and "denoise.bm3d" not in reg.ids
    with pytest.raises(mg.OperationError, match=r"pip install 'micrographia\[bm3d\]'"):
        denoise.bm3d(mg.from_array(np.zeros((8, 8), np.float32)))
