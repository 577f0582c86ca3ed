"""Pixel classifier features in bands of rows (bounded memory): banded features equal the
whole-frame ones bit for bit, and the operation's result does not depend on the band
height or on the feature cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import micrographia as mg
from micrographia.plugins import classify
from micrographia.plugins.classify import band_features, band_height, feature_halo, pixel_features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ops_classify import CORRECTIONS, FIRST, _ring, _textures  # noqa: E402

pytest.importorskip("sklearn")

OP = "segment.pixel_classifier"


def _frame(shape: tuple[int, int], dtype: type, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    img = 500 + 200 * np.sin(yy / 7.0) * np.cos(xx / 5.0) + rng.normal(0, 40, shape)
    return img.astype(dtype)


def test_halo_is_the_largest_filter_reach():
    assert feature_halo((1.0,)) == 8  # structure tensor: 4 (gradients) + 4 (smoothing)
    assert feature_halo((1.0, 2.0, 4.0, 8.0)) == 51  # DoG at 12.8: int(51.2 + 0.5)
    assert feature_halo((16.0,)) == 102
    assert feature_halo((0.3, 2.5)) == 16  # 2.5 * 1.6 = 4: 16 (the structure tensor: 14)


@pytest.mark.parametrize("shape, sigmas, dtype", [
    ((130, 47), (1.0, 2.0, 4.0, 8.0), np.float32),
    ((241, 33), (0.3, 1.7, 16.0), np.uint16),
    ((37, 29), (16.0,), np.float64),  # the halo covers the whole frame
])
@pytest.mark.parametrize("height", [1, 2, 7, 50, 51, 52, 129])
def test_banded_features_equal_whole_frame_bit_for_bit(shape, sigmas, dtype, height):
    f = _frame(shape, dtype)
    whole = pixel_features(f, sigmas)
    assert whole.shape == shape + (1 + 9 * len(sigmas),)
    parts = [band_features(f, sigmas, r0, min(r0 + height, shape[0]))
             for r0 in range(0, shape[0], height)]
    banded = np.concatenate(parts)
    assert banded.dtype == np.float32
    assert banded.tobytes() == whole.tobytes()
    # written into a given array, e.g. a view of the whole frame's features
    dest = np.full_like(whole, np.nan)
    for r0 in range(0, shape[0], height):
        r1 = min(r0 + height, shape[0])
        assert band_features(f, sigmas, r0, r1, out=dest[r0:r1]) is not None
    assert dest.tobytes() == whole.tobytes()


def test_single_rows_at_edges_and_middle():
    f = _frame((300, 40), np.float64, seed=9)
    sigmas = (1.0, 8.0)
    whole = pixel_features(f, sigmas)
    for r in (0, 1, 50, 51, 52, 149, 247, 248, 249, 298, 299):
        assert band_features(f, sigmas, r, r + 1).tobytes() == whole[r:r + 1].tobytes(), r


def test_band_features_rejects_bad_rows():
    f = np.zeros((10, 10))
    for start, stop in ((0, 0), (-1, 3), (5, 11), (6, 5)):
        with pytest.raises(ValueError):
            band_features(f, (1.0,), start, stop)


def test_band_height_follows_the_budget():
    sigmas = (1.0, 2.0, 4.0, 8.0)
    assert band_height((2048, 2048), sigmas, budget=1 << 40) == 2048
    h = band_height((2048, 2048), sigmas, budget=192 << 20)
    assert 100 < h < 2048
    h4 = band_height((4096, 4096), sigmas, budget=192 << 20)
    assert 50 < h4 < h  # wider frames: fewer rows per band
    assert band_height((2048, 2048), sigmas, budget=1) == 1
    assert band_height((5, 2048), sigmas, budget=1 << 40) == 5


@pytest.fixture(scope="module")
def image():
    img, _ = _textures()
    return mg.from_array(img, scale=0.5, units="nm", title="textures")


@pytest.fixture(scope="module")
def stack():
    frames = [_textures(seed=s, n=96)[0] for s in (1, 2, 3)]
    strokes = [
        {"label": 1, "radius": 2.0, "points": [[10, 5], [40, 90]], "frame": 0},
        {"label": 2, "radius": 2.0, "points": [[85, 5], [60, 40]], "frame": 0},
        {"label": 3, "radius": 2.0, "points": [[68, 55], [76, 66]], "frame": 2},
        {"label": 3, "radius": 1.0, "points": _ring(72, 60, 13.5), "frame": 2},
    ]
    return mg.from_array(np.stack(frames), scale=0.5, units="nm", title="stack"), strokes


def _run(monkeypatch, data, strokes, band, cache, output):
    monkeypatch.setattr(classify, "BAND_BYTES", band)
    monkeypatch.setattr(classify, "CACHE_BYTES", cache)
    return mg.run(OP, data, strokes=strokes, n_estimators=15, output=output)


@pytest.mark.parametrize("output", ["labels", "probabilities"])
def test_tiny_bands_give_the_same_result_on_an_image(monkeypatch, image, output):
    strokes = FIRST + CORRECTIONS
    big = _run(monkeypatch, image, strokes, 1 << 40, 1 << 40, output)
    for band, cache in ((1, 0), (2_000_000, 0), (2_000_000, 1 << 40)):
        assert band_height(image.sig_shape, (1.0, 2.0, 4.0, 8.0), band) < 128
        small = _run(monkeypatch, image, strokes, band, cache, output)
        assert small.dtype == big.dtype and small.shape == big.shape
        assert small.numpy().tobytes() == big.numpy().tobytes(), (band, cache)
        assert small.axes == big.axes
        assert small.metadata == big.metadata
    labels = big.numpy() if output == "labels" else np.argmax(big.numpy(), axis=0) + 1
    assert set(np.unique(labels)) == {1, 2, 3}


@pytest.mark.parametrize("output", ["labels", "probabilities"])
def test_tiny_bands_give_the_same_result_on_a_stack(monkeypatch, stack, output):
    data, strokes = stack
    big = _run(monkeypatch, data, strokes, 1 << 40, 1 << 40, output)
    for band, cache in ((1, 0), (1_500_000, 0), (1_500_000, 96 * 96 * 37 * 4)):
        small = _run(monkeypatch, data, strokes, band, cache, output)
        assert small.numpy().tobytes() == big.numpy().tobytes(), (band, cache)
    shape = data.shape if output == "labels" else (3,) + data.shape
    assert big.shape == shape


def test_result_does_not_depend_on_strokes_band_placement(monkeypatch, image):
    """A stroke that crosses a band boundary trains on the same pixels, in the same order."""
    strokes = [
        {"label": 1, "radius": 3.0, "points": [[2, 3], [60, 40]]},
        {"label": 2, "radius": 3.0, "points": [[70, 10], [126, 120]]},
    ]
    big = _run(monkeypatch, image, strokes, 1 << 40, 1 << 40, "probabilities")
    small = _run(monkeypatch, image, strokes, 3_000_000, 0, "probabilities")
    assert small.numpy().tobytes() == big.numpy().tobytes()
    info = small.metadata["Micrographia"]["pixel_classifier"]
    assert info["training_pixels"] == big.metadata["Micrographia"]["pixel_classifier"][
        "training_pixels"]
