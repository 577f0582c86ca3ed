"""Tests of the transform.* operations: numbers against numpy/scipy/scikit-image, calibrations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import micrographia as mg


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    a = ndimage.gaussian_filter(rng.normal(0, 1, (40, 56)), 3).astype(np.float32)
    return mg.Dataset(a, [mg.Axis("y", 40, 0.1, 2.0, "nm"), mg.Axis("x", 56, 0.1, -1.0, "nm")],
                      title="img")


def test_rotate_90_equals_rot90(image):
    a = image.numpy()
    r = mg.run("transform.rotate", image, angle=90, reshape=True)
    np.testing.assert_array_equal(r.numpy(), np.rot90(a))
    # the image centre keeps its calibrated coordinates
    for old, new in zip(image.sig_axes, r.sig_axes):
        assert new.scale == old.scale and new.units == old.units
        assert new.offset + (new.size - 1) / 2 * new.scale == pytest.approx(
            old.offset + (old.size - 1) / 2 * old.scale)
    r = mg.run("transform.rotate", image, angle=-90, reshape=True, order=0)
    np.testing.assert_array_equal(r.numpy(), np.rot90(a, -1))


@pytest.mark.parametrize("angle, reshape, order", [(33.0, False, 1), (-20.0, True, 3)])
def test_rotate_equals_scipy(image, angle, reshape, order):
    r = mg.run("transform.rotate", image, angle=angle, reshape=reshape, order=order).numpy()
    ref = ndimage.rotate(image.numpy(), angle, reshape=reshape, order=order)
    np.testing.assert_allclose(r, ref, atol=1e-5)


def test_rescale_axes_and_round_trip(image):
    up = mg.run("transform.rescale", image, factor=2.0, order=3)
    assert up.sig_shape == (80, 112)
    for old, new in zip(image.sig_axes, up.sig_axes):
        assert new.scale == pytest.approx(old.scale / 2, rel=1e-12)
        # field of view: outer pixel edges unchanged
        assert new.offset - new.scale / 2 == pytest.approx(old.offset - old.scale / 2)
        assert new.offset + (new.size - 0.5) * new.scale == pytest.approx(
            old.offset + (old.size - 0.5) * old.scale)
    back = mg.run("transform.rescale", up, factor=0.5, order=1, anti_aliasing=False)
    assert back.axes == image.axes or all(
        a.size == b.size and np.isclose(a.scale, b.scale) and np.isclose(a.offset, b.offset)
        for a, b in zip(back.axes, image.axes))
    a = image.numpy()
    err = np.abs(back.numpy() - a)[2:-2, 2:-2].max()
    assert err < 0.02 * np.ptp(a)


def test_rescale_matches_skimage(image):
    from skimage.transform import rescale as sk_rescale

    a = image.numpy().astype(np.float64)
    for factor, aa in [(2.0, False), (0.5, True)]:
        ours = mg.run("transform.rescale", image, factor=factor, order=1,
                      anti_aliasing=aa).numpy()
        ref = sk_rescale(a, factor, order=1, anti_aliasing=aa, mode="edge",
                         preserve_range=True)
        assert ours.shape == ref.shape
        # same sampling convention; edges may differ by the boundary handling
        np.testing.assert_allclose(ours[2:-2, 2:-2], ref[2:-2, 2:-2], atol=1e-4)


def test_resize_shape_and_scale(image):
    r = mg.run("transform.resize", image, height=20, width=112, order=0)
    assert r.sig_shape == (20, 112) and r.dtype == np.float32
    ay, ax = r.sig_axes
    assert ay.scale == pytest.approx(0.2) and ax.scale == pytest.approx(0.05)


def test_flip_and_transpose(image):
    a = image.numpy()
    np.testing.assert_array_equal(mg.run("transform.flip", image).numpy(), a[:, ::-1])
    np.testing.assert_array_equal(mg.run("transform.flip", image, axis="vertical").numpy(),
                                  a[::-1])
    t = mg.run("transform.flip", image, axis="transpose")
    np.testing.assert_array_equal(t.numpy(), a.T)
    assert t.sig_axes[0].offset == image.sig_axes[1].offset and t.sig_axes[0].name == "y"


def test_affine_identity_translation_and_rotation(image):
    a = image.numpy()
    np.testing.assert_allclose(mg.run("transform.affine", image).numpy(), a, atol=1e-6)
    t = mg.run("transform.affine", image, translate_x=3, translate_y=2, order=0).numpy()
    np.testing.assert_array_equal(t[2:, 3:], a[:-2, :-3])
    r = mg.run("transform.affine", image, rotation=25, order=1).numpy()
    np.testing.assert_allclose(r, mg.run("transform.rotate", image, angle=25).numpy(),
                               atol=1e-5)
    s = mg.run("transform.affine", image, scale=2.0, order=1).numpy()
    cy, cx = 19.5, 27.5
    # content magnified about the centre: output (cy + 2d) = input (cy + d)
    np.testing.assert_allclose(s[int(cy + 0.5) + 3, int(cx + 0.5) + 5],
                               ndimage.map_coordinates(a, [[cy + 1.75], [cx + 2.75]],
                                                       order=1)[0], atol=1e-5)


def test_polar_rings_at_their_radius():
    n, scale = 129, 0.02
    yy, xx = (np.mgrid[0:n, 0:n] - 64) * scale
    rr = np.hypot(yy, xx)
    radii = [0.3, 0.62, 1.05]
    img = sum(np.exp(-(rr - r0) ** 2 / (2 * 0.02 ** 2)) for r0 in radii)
    d = mg.from_array(img.astype(np.float32), scale=scale, units="nm")
    p = mg.run("transform.polar", d, centre="image")
    aa, ar = p.sig_axes
    assert (aa.name, aa.units, ar.name, ar.units) == ("angle", "°", "r", "nm")
    assert p.sig_shape[0] == 360
    prof = p.numpy()
    for r0 in radii:
        j0 = int(round(r0 / ar.scale))
        win = slice(j0 - 4, j0 + 5)
        # every angle: sub-pixel peak of the profile near r0 within 0.5 px
        sub = prof[:, win]
        jj = np.arange(j0 - 4, j0 + 5)
        peak = (sub * jj).sum(axis=1) / sub.sum(axis=1)
        assert np.abs(peak * ar.scale - r0).max() < 0.5 * ar.scale
    # diffraction pattern (1/nm axes) with an off-centre beam: auto uses the centre of mass
    shifted = np.roll(np.roll(img, 5, axis=0), -3, axis=1)
    dp = mg.from_array(shifted.astype(np.float32), scale=scale, units="1/nm")
    q = mg.run("transform.polar", dp)
    j0 = int(round(radii[1] / scale))
    assert np.abs(q.numpy()[:, j0 - 3:j0 + 4].argmax(axis=1) - 3).max() <= 1
    with pytest.raises(mg.ParameterError, match="outside"):
        mg.run("transform.polar", d, centre="given", centre_y=100.0, centre_x=0.0)


def test_polar_log_axis():
    d = mg.from_array(np.ones((64, 64), np.float32), scale=0.5, units="nm")
    p = mg.run("transform.polar", d, log=True, n_angles=90)
    assert p.sig_axes[1].name == "log_r" and p.sig_shape[0] == 90


@pytest.mark.parametrize("op, opts", [("transform.rescale", {"factor": 0.5}),
                                      ("transform.rotate", {"angle": 10}),
                                      ("transform.polar", {}),
                                      ("transform.flip", {"axis": "transpose"})])
def test_lazy_equals_eager_per_frame(op, opts):
    import dask.array as da

    rng = np.random.default_rng(2)
    stack = mg.from_array(rng.poisson(50, (3, 30, 36)).astype(np.uint16), scale=0.2,
                          units="nm")
    lazy = stack.replace(data=da.from_array(stack.numpy(), chunks=(1, 30, 36)))
    a, b = mg.run(op, stack, **opts), mg.run(op, lazy, **opts)
    assert b.is_lazy and b.axes == a.axes
    np.testing.assert_array_equal(b.numpy(), a.numpy())
    one = mg.run(op, mg.from_array(stack.numpy()[1], scale=0.2, units="nm"), **opts)
    np.testing.assert_array_equal(a.numpy()[1], one.numpy())


def test_large_frames_in_bands_equal_single_thread(monkeypatch):
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, (500, 520)).astype(np.float32)  # above the band-splitting size
    d = mg.from_array(a, scale=0.1, units="nm")
    r = mg.run("transform.rotate", d, angle=90, reshape=True).numpy()
    np.testing.assert_array_equal(r, np.rot90(a))
    multi = [mg.run("transform.rotate", d, angle=30).numpy(),
             mg.run("transform.rescale", d, factor=1.7, anti_aliasing=False).numpy(),
             mg.run("transform.polar", d, n_angles=2000).numpy()]
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "1")
    single = [mg.run("transform.rotate", d, angle=30).numpy(),
              mg.run("transform.rescale", d, factor=1.7, anti_aliasing=False).numpy(),
              mg.run("transform.polar", d, n_angles=2000).numpy()]
    for m, s in zip(multi, single):
        np.testing.assert_allclose(m, s, atol=1e-6)
    np.testing.assert_allclose(multi[0], ndimage.rotate(a, 30, reshape=False, order=1),
                               atol=1e-5)


def test_small_frames_enlarged_to_large_frames_do_not_deadlock():
    rng = np.random.default_rng(5)
    stack = mg.from_array(rng.normal(0, 1, (3, 100, 100)).astype(np.float32))
    up = mg.run("transform.rescale", stack, factor=4.0).numpy()
    one = mg.run("transform.rescale", mg.from_array(stack.numpy()[2]), factor=4.0).numpy()
    np.testing.assert_array_equal(up[2], one)
