"""Tests of alignment.register_pair and alignment.stitch (plugins/alignment_pair.py).

Known truth: a smooth band-limited random texture, resampled exactly (cubic splines) by a known
affine transform, the centre cropped so that edges do not dominate; tiles cut from a larger
texture at known positions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

import micrographia as mg
from micrographia import replay

OP, STITCH = "alignment.register_pair", "alignment.stitch"


def _texture(n: int, seed: int, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.normal(size=(n, n)), sigma, mode="wrap")
    return (f - f.mean()) / f.std()


def _affine(rot_deg: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0), shear: float = 0.0,
            crop: int = 256) -> np.ndarray:
    """Reference → moving pixel matrix of content turned by ``rot_deg`` (counter-clockwise as
    displayed), magnified by ``scale`` and moved by ``shift`` (dx, dy) about the centre."""
    th = -math.radians(rot_deg)
    lin = scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    lin = lin @ np.array([[1.0, shear], [0.0, 1.0]])
    c = np.full(2, (crop - 1) / 2)
    a = np.eye(3)
    a[:2, :2] = lin
    a[:2, 2] = c - lin @ c + np.asarray(shift)
    return a


def _pair(a: np.ndarray, crop: int = 256, seed: int = 0, n: int = 600):
    """(reference, moving) with moving(q) = reference(A⁻¹ q), both exact crops of a texture."""
    big = _texture(n, seed)
    coef = ndimage.spline_filter(big, order=3)
    off = (n - 1) / 2 - (crop - 1) / 2
    yy, xx = np.mgrid[0:crop, 0:crop].astype(float)
    ref = ndimage.map_coordinates(coef, [yy + off, xx + off], order=3, prefilter=False)
    ai = np.linalg.inv(a)
    xr = ai[0, 0] * xx + ai[0, 1] * yy + ai[0, 2]
    yr = ai[1, 0] * xx + ai[1, 1] * yy + ai[1, 2]
    mov = ndimage.map_coordinates(coef, [yr + off, xr + off], order=3, prefilter=False)
    return (mg.from_array(ref.astype(np.float32), scale=0.5, units="nm", title="ref"),
            mg.from_array(mov.astype(np.float32), scale=0.5, units="nm", title="mov"))


@pytest.mark.parametrize("method", ["phase", "features"])
@pytest.mark.parametrize(("rot", "scale", "shift"), [(7.3, 1.04, (3.2, -5.1)),
                                                     (-151.0, 0.95, (-1.7, 2.4))])
def test_rotation_scale_recovered(method, rot, scale, shift):
    ref, mov = _pair(_affine(rot, scale, shift))
    reg, tab = mg.run(OP, ref, mov, method=method, model="similarity")
    assert len(tab) == 1
    assert abs(tab["rotation"][0] - rot) < 0.1
    assert abs(tab["scale"][0] / scale - 1) < 1e-3
    assert abs(tab["dx"][0] - shift[0]) < 0.05 and abs(tab["dy"][0] - shift[1]) < 0.05
    assert tab["ncc"][0] > 0.999
    if method == "features":
        assert tab["inliers"][0] >= 20 and tab["matches"][0] >= tab["inliers"][0]
    # the registered image sits on the reference grid and matches it inside
    assert reg.axes == ref.axes and reg.dtype == np.float32
    inner = (slice(40, -40), slice(40, -40))
    np.testing.assert_allclose(reg.numpy()[inner], ref.numpy()[inner], atol=0.02)
    np.testing.assert_allclose(tab["dx_cal"], tab["dx"] * 0.5)
    assert tab.units["rotation"] == "deg" and tab.units["dx_cal"] == "nm"


def test_features_sift_and_affine():
    """SIFT matches alone (no intensity refinement) and an affine fit with shear."""
    ref, mov = _pair(_affine(7.3, 1.04, (3.2, -5.1)))
    tab = mg.run(OP, ref, mov, method="features", detector="sift", refine=False, apply=False)
    assert abs(tab["rotation"][0] - 7.3) < 0.1 and abs(tab["scale"][0] / 1.04 - 1) < 1e-3
    assert tab["inliers"][0] > 100 and tab["rms_residual"][0] < 1.5
    ref, mov = _pair(_affine(-12.0, 0.97, (1.5, 0.5), shear=0.03), seed=4)
    tab = mg.run(OP, ref, mov, method="features", model="affine", apply=False)
    expected = _affine(-12.0, 0.97, (1.5, 0.5), shear=0.03)
    m = np.array([tab[f"m{i}{j}"][0] for i in range(3) for j in range(3)]).reshape(3, 3)
    np.testing.assert_allclose(m[:2, :2], expected[:2, :2], atol=1e-4)
    assert abs(tab["rotation"][0] + 12.0) < 0.1 and abs(tab["shear"][0] - 0.03) < 1e-3
    assert abs(tab["dx"][0] - 1.5) < 0.05 and abs(tab["dy"][0] - 0.5) < 0.05


def test_phase_without_refinement_is_close():
    """The log-polar estimate alone (Reddy & Chatterji) is already near the truth."""
    ref, mov = _pair(_affine(7.3, 1.04, (3.2, -5.1)))
    tab = mg.run(OP, ref, mov, refine=False, apply=False)
    assert isinstance(tab, mg.Table)
    assert abs(tab["rotation"][0] - 7.3) < 0.1
    assert abs(tab["scale"][0] / 1.04 - 1) < 0.006
    assert tab["peak"][0] > 0.05


@pytest.mark.parametrize("model", ["translation", "similarity"])
def test_pure_subpixel_shift(model):
    for shift in [(0.3, -0.7), (-4.55, 2.45)]:
        ref, mov = _pair(_affine(shift=shift), seed=1)
        tab = mg.run(OP, ref, mov, model=model, apply=False)
        assert abs(tab["dx"][0] - shift[0]) < 0.05
        assert abs(tab["dy"][0] - shift[1]) < 0.05
        assert abs(tab["rotation"][0]) < 0.01 and abs(tab["scale"][0] - 1) < 1e-4
    # skimage's phase correlation on Hann-windowed copies agrees (to its own ~0.1 px bias;
    # it returns the shift that registers moving: the negative of the content displacement)
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    w = window("hann", ref.shape)
    sk, _, _ = phase_cross_correlation(ref.numpy() * w, mov.numpy() * w, upsample_factor=100)
    assert abs(-sk[1] - tab["dx"][0]) < 0.15 and abs(-sk[0] - tab["dy"][0]) < 0.15


def test_points_exact_affine_and_warp_matches_skimage():
    a = _affine(12.0, 1.07, (4.0, -3.0), shear=0.05, crop=64)
    ref = mg.from_array(_texture(64, 3).astype(np.float32), title="ref")
    mov = mg.from_array(_texture(64, 4).astype(np.float32), title="mov")
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 63, (5, 2))  # (x, y)
    dst = (np.column_stack([src, np.ones(5)]) @ a.T)[:, :2]
    pts = [[float(s[1]), float(s[0]), float(d[1]), float(d[0])] for s, d in zip(src, dst)]
    reg, tab = mg.run(OP, ref, mov, method="points", model="affine", points=pts, order=1)
    m = np.array([tab[f"m{i}{j}"][0] for i in range(3) for j in range(3)]).reshape(3, 3)
    np.testing.assert_allclose(m, a, atol=1e-6)
    assert tab["rms_residual"][0] < 1e-6 and tab["inliers"][0] == 5
    lin = a[:2, :2] / 1.0
    assert abs(tab["shear"][0] - 0.05) < 1e-6
    assert abs(tab["scale"][0] - math.sqrt(abs(np.linalg.det(lin)))) < 1e-9
    # resampling equals skimage.transform.warp with the same (output → input) matrix
    from skimage.transform import AffineTransform, warp

    expected = warp(mov.numpy().astype(np.float64), AffineTransform(matrix=a), order=1,
                    mode="constant", cval=0.0, preserve_range=True)
    yy, xx = np.mgrid[0:64, 0:64]
    xm = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
    ym = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
    inside = (xm > 0.5) & (xm < 62.5) & (ym > 0.5) & (ym < 62.5)  # edges are handled apart
    assert inside.mean() > 0.6
    np.testing.assert_allclose(reg.numpy()[inside], expected[inside], atol=1e-4)


@pytest.mark.parametrize("model", ["translation", "euclidean", "similarity"])
def test_points_models_match_skimage_estimates(model):
    from skimage.transform import EuclideanTransform, SimilarityTransform

    rng = np.random.default_rng(7)
    src = rng.uniform(0, 100, (8, 2))
    dst = src @ np.array([[0.9, -0.3], [0.35, 1.1]]).T + (5, -2) + rng.normal(0, 0.5, (8, 2))
    pts = np.column_stack([src[:, 1], src[:, 0], dst[:, 1], dst[:, 0]]).tolist()
    img = mg.from_array(np.zeros((32, 32), np.float32))
    tab = mg.run(OP, img, img, method="points", model=model, points=pts, apply=False)
    m = np.array([tab[f"m{i}{j}"][0] for i in range(3) for j in range(3)]).reshape(3, 3)
    if model == "translation":
        expected = np.eye(3)
        expected[:2, 2] = (dst - src).mean(axis=0)
    else:
        cls = EuclideanTransform if model == "euclidean" else SimilarityTransform
        expected = cls.from_estimate(src, dst).params
    np.testing.assert_allclose(m, expected, atol=1e-9)


def test_stack_frames_registered_to_the_first():
    ref, mov = _pair(_affine(5.0, 1.0, (2.5, 1.5)), seed=2)
    _, mov2 = _pair(_affine(0.0, 1.0, (-1.25, 0.75)), seed=2)
    stack = mg.from_array(np.stack([ref.numpy(), mov.numpy(), mov2.numpy()]), title="s")
    reg, tab = mg.run(OP, stack, model="euclidean")
    assert reg.shape == stack.shape and list(tab["frame"]) == [0, 1, 2]
    np.testing.assert_allclose(tab["rotation"], [0.0, 5.0, 0.0], atol=0.05)
    np.testing.assert_allclose(tab["dx"], [0.0, 2.5, -1.25], atol=0.05)
    np.testing.assert_allclose(tab["dy"], [0.0, 1.5, 0.75], atol=0.05)
    np.testing.assert_allclose(tab["scale"], 1.0, atol=1e-9)  # euclidean: no scale
    # a single image alone has nothing to register: a clear error naming the second input
    with pytest.raises(mg.ParameterError, match="second \\(moving\\) input"):
        mg.run(OP, ref, apply=False)


def test_register_pair_errors():
    ref, mov = _pair(_affine(), crop=64, n=128)
    small = mg.from_array(np.zeros((40, 50), np.float32))
    stack = mg.from_array(np.zeros((2, 64, 64), np.float32))
    with pytest.raises(mg.ParameterError, match="same shape"):
        mg.run(OP, ref, small)
    with pytest.raises(mg.ParameterError, match="single images"):
        mg.run(OP, ref, stack)
    with pytest.raises(mg.ParameterError, match="affine"):
        mg.run(OP, ref, mov, model="affine")
    with pytest.raises(mg.ParameterError, match="at least 3 point"):
        mg.run(OP, ref, mov, method="points", model="affine",
               points=[[0, 0, 1, 1], [5, 5, 6, 6]])
    with pytest.raises(mg.ParameterError, match="not on one line"):
        mg.run(OP, ref, mov, method="points", model="affine",
               points=[[0, 0, 1, 1], [5, 5, 6, 6], [10, 10, 11, 11]])
    with pytest.raises(mg.ParameterError, match="4 numbers"):
        mg.run(OP, ref, mov, method="points", points=[[0, 0, 1], [5, 5, 6]])
    with pytest.raises(mg.ParameterError, match="needs point pairs"):
        mg.run(OP, ref, mov, method="points")
    with pytest.raises(mg.ParameterError, match="second \\(moving\\) input"):
        mg.run(OP, ref, method="points", points=[[0, 0, 1, 1]])
    with pytest.raises(mg.ParameterError, match="only used with method='points'"):
        mg.run(OP, ref, mov, points=[[0, 0, 1, 1]])
    with pytest.raises(mg.ParameterError, match="keypoint|matches|consistent"):
        mg.run(OP, small, mg.from_array(np.ones((40, 50), np.float32)), method="features")
    with pytest.raises(mg.ParameterError, match="method must be one of"):
        mg.run(OP, ref, mov, method="magic")


# --------------------------------------------------------------------------------------------
# stitching


def _tiles(seed: int = 2, t: int = 256, overlap: float = 0.2, snake: bool = False):
    src = _texture(720, seed, sigma=2.5)
    step = int(round(t * (1 - overlap)))
    truth, tiles = [], []
    for r in range(3):
        for c in range(3):
            cc = 2 - c if snake and r % 2 else c
            y, x = 20 + r * step, 20 + cc * step
            truth.append((y, x))
            tiles.append(src[y:y + t, x:x + t])
    stack = mg.from_array(np.stack(tiles).astype(np.float32), scale=0.25, units="nm",
                          title="tiles")
    return src, np.array(truth, float), stack


def _check_mosaic(src, truth, mosaic, pos):
    origin = pos[0] + np.floor(pos.min(axis=0) - pos[0] + 1e-9)
    oy, ox = np.round(truth[0] - pos[0] + origin).astype(int)
    m = mosaic.numpy()
    s = src[oy:oy + m.shape[0], ox:ox + m.shape[1]]
    covered = m != 0
    assert covered.mean() > 0.95
    return np.corrcoef(m[covered], s[covered])[0, 1]


def test_stitch_recovers_positions_and_mosaic():
    src, truth, stack = _tiles()
    rng = np.random.default_rng(11)
    given = truth + rng.uniform(-5, 5, truth.shape)
    mosaic, tab = mg.run(STITCH, stack, positions=given.tolist())
    pos = np.column_stack([tab["y"], tab["x"]])
    err = (pos - pos[0]) - (truth - truth[0])
    assert np.abs(err).max() < 0.2
    np.testing.assert_array_equal(pos[0], given[0])  # first tile fixed
    np.testing.assert_allclose(tab["dy"], tab["y"] - tab["y_given"])
    np.testing.assert_allclose(tab["x_cal"], tab["x"] * 0.25)
    assert tab.metadata["pairs_used"] == 20 and tab.metadata["pairs_dropped"] == 0
    assert list(tab["pairs"]) == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    assert _check_mosaic(src, truth, mosaic, pos) > 0.99
    assert mosaic.axes[0].scale == 0.25 and mosaic.axes[1].units == "nm"
    assert mosaic.axes[0].offset == pytest.approx(pos[0, 0] * 0.25)
    # calibrated positions give the same answer
    _, tab2 = mg.run(STITCH, stack, positions=(given * 0.25).tolist(), units="calibrated")
    np.testing.assert_allclose(tab2["y"], tab["y"], atol=1e-6)


def test_stitch_grid_layout_snake():
    src, truth, stack = _tiles(seed=5, t=128, snake=True)
    mosaic, tab = mg.run(STITCH, stack, rows=3, cols=3, overlap=0.2, grid_order="snake")
    pos = np.column_stack([tab["y"], tab["x"]])
    err = (pos - pos[0]) - (truth - truth[0])
    assert np.abs(err).max() < 0.2
    assert _check_mosaic(src, truth, mosaic, pos) > 0.99
    # row-major order on snake-ordered tiles: the swapped tiles do not match, pairs dropped
    _, bad = mg.run(STITCH, stack, rows=3, cols=3, overlap=0.2)
    assert bad.metadata["pairs_dropped"] > 0


def test_stitch_errors():
    _, truth, stack = _tiles(t=64)
    with pytest.raises(mg.ParameterError, match="no two tiles overlap"):
        mg.run(STITCH, stack, positions=(truth * 10).tolist())
    with pytest.raises(mg.ParameterError, match="no two tiles overlap"):
        mg.run(STITCH, stack, overlap=0.0)
    with pytest.raises(mg.ParameterError, match="8 positions given for 9 tiles"):
        mg.run(STITCH, stack, positions=truth[:8].tolist())
    with pytest.raises(mg.ParameterError, match="room for 4 tiles"):
        mg.run(STITCH, stack, rows=2, cols=2)
    with pytest.raises(mg.ParameterError, match="pairs"):
        mg.run(STITCH, stack, positions=[[1, 2, 3]] * 9)
    img = mg.from_array(np.zeros((32, 32), np.float32))
    with pytest.raises(mg.ParameterError, match="stack"):
        mg.run(STITCH, img)


# --------------------------------------------------------------------------------------------
# recorded log replay


def test_recorded_log_replays_identically(tmp_path):
    ref, mov = _pair(_affine(4.0, 1.02, (1.5, -2.0)), crop=128, n=300)
    _, truth, stack = _tiles(t=64)
    given = (truth + np.random.default_rng(1).uniform(-2, 2, truth.shape)).tolist()
    pts = [[10.0, 12.0, 11.5, 13.0], [100.0, 20.0, 101.0, 23.5], [50.0, 90.0, 52.0, 91.0],
           [80.0, 70.0, 81.0, 72.5]]
    paths = {n: mg.save(d, tmp_path / f"{n}.hspy")
             for n, d in (("ref", ref), ("mov", mov), ("tiles", stack))}
    log = tmp_path / "log.py"
    with mg.recording(log):
        r, m, t = (mg.open(paths[n]) for n in ("ref", "mov", "tiles"))
        direct = [*mg.run(OP, r, m), mg.run(OP, r, m, method="points", model="affine",
                                            points=pts, apply=False),
                  *mg.run(STITCH, t, positions=given)]
    text = log.read_text()
    assert 'mg.run("alignment.register_pair", d1, d2' in text and "points=((10.0" in text
    result = replay.run_program(replay.parse(text, str(log)), out=tmp_path / "out")
    outs = []
    for v in result.variables.values():
        outs.extend(v if isinstance(v, tuple) else [v])
    outs = [o for o in outs if getattr(getattr(o.provenance, "node", None), "op", "")
            in (OP, STITCH)]
    assert len(outs) == len(direct) == 5
    for a, b in zip(direct, outs):
        assert type(a) is type(b)
        if isinstance(a, mg.Table):
            assert a.columns == b.columns
            for c in a.columns:
                np.testing.assert_array_equal(a[c], b[c], err_msg=c)
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            assert a.axes == b.axes
