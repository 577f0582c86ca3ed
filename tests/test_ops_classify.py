"""Trainable pixel classifier (``segment.pixel_classifier``): accuracy on textures, determinism,
stacks, probabilities, errors and the recorded-log round trip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

import micrographia as mg
from micrographia import replay

pytest.importorskip("sklearn")

OP = "segment.pixel_classifier"


def _textures(seed: int = 1, n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Fine vertical stripes (top half) and smooth noise (bottom half) with the same mean and
    nearly the same spread, plus a brighter disc (class 3) inside the smooth half."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    stripes = 100 + 20 * np.sin(2 * np.pi * xx / 4.0) + rng.normal(0, 3, (n, n))
    smooth = ndi.gaussian_filter(rng.normal(0, 1, (n, n)), 2)
    smooth = 100 + smooth / smooth.std() * 14
    truth = np.where(yy < n // 2, 1, 2).astype(np.int32)
    disc = np.hypot(yy - 3 * n // 4, xx - 5 * n // 8) < 16
    truth[disc] = 3
    img = np.where(truth == 1, stripes, smooth)
    img[disc] = 150 + rng.normal(0, 5, int(disc.sum()))
    return img.astype(np.float32), truth


def _ring(cy: float, cx: float, r: float, n: int = 13) -> list[list[float]]:
    return [[round(cy + r * np.sin(a), 2), round(cx + r * np.cos(a), 2)]
            for a in np.linspace(0, 2 * np.pi, n)]


FIRST = [
    {"label": 1, "radius": 2.0, "points": [[15, 10], [20, 60]]},
    {"label": 1, "radius": 2.0, "points": [[50, 70], [55, 120]]},
    {"label": 2, "radius": 2.0, "points": [[75, 10], [80, 50]]},
    {"label": 2, "radius": 2.0, "points": [[118, 20], [110, 120]]},
    {"label": 3, "radius": 2.0, "points": [[90, 75], [100, 88]]},
]
# what a user adds after the first preview: strokes along the boundaries it got wrong
CORRECTIONS = [
    {"label": 1, "radius": 1.0, "points": [[60, 5], [60, 120]]},
    {"label": 2, "radius": 1.0, "points": [[68, 5], [68, 120]]},
    {"label": 3, "radius": 1.0, "points": _ring(96, 80, 13.5)},
    {"label": 2, "radius": 1.0, "points": _ring(96, 80, 19)},
]


@pytest.fixture(scope="module")
def textures():
    img, truth = _textures()
    return mg.from_array(img, scale=0.5, units="nm", title="textures"), truth


def test_threshold_cannot_separate_the_textures(textures):
    from skimage.filters import threshold_multiotsu

    d, truth = textures
    img = d.numpy()
    assert abs(img[truth == 1].mean() - img[truth == 2].mean()) < 2  # same mean intensity
    best = np.digitize(img, threshold_multiotsu(img, 3)) + 1
    assert (best == truth).mean() < 0.6


def test_strokes_learn_textures_to_95_percent(textures):
    d, truth = textures
    first = mg.run(OP, d, strokes=FIRST)
    assert first.dtype == np.int32 and first.shape == truth.shape
    assert first.axes == d.axes  # calibration kept
    acc_first = float((first.numpy() == truth).mean())
    out = mg.run(OP, d, strokes=FIRST + CORRECTIONS)
    labels = out.numpy()
    acc = float((labels == truth).mean())
    assert acc >= 0.95, acc
    assert acc > acc_first
    for c in (1, 2, 3):  # every class is mostly right
        assert (labels[truth == c] == c).mean() > 0.88, c
    assert set(np.unique(labels)) == {1, 2, 3}
    info = out.metadata["Micrographia"]["pixel_classifier"]
    assert list(info["labels"]) == [1, 2, 3]
    assert len(info["features"]) == 1 + 9 * 4
    assert all(info["training_pixels"][str(c)] > 0 for c in (1, 2, 3))


def test_deterministic_and_input_untouched(textures):
    d, _ = textures
    before = d.numpy().copy()
    a = mg.run(OP, d, strokes=FIRST, n_estimators=20)
    b = mg.run(OP, d, strokes=FIRST, n_estimators=20)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    pa = mg.run(OP, d, strokes=FIRST, n_estimators=20, output="probabilities")
    pb = mg.run(OP, d, strokes=FIRST, n_estimators=20, output="probabilities")
    np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    np.testing.assert_array_equal(d.numpy(), before)
    other_seed = mg.run(OP, d, strokes=FIRST, n_estimators=20, seed=7, output="probabilities")
    assert not np.array_equal(other_seed.numpy(), pa.numpy())


def test_probabilities_stack_with_class_axis(textures):
    d, _ = textures
    labels = mg.run(OP, d, strokes=FIRST, n_estimators=20)
    p = mg.run(OP, d, strokes=FIRST, n_estimators=20, output="probabilities")
    assert p.dtype == np.float32 and p.shape == (3,) + d.shape
    cls = p.axes[0]
    assert (cls.name, cls.navigate, cls.offset, cls.scale) == ("class", True, 1.0, 1.0)
    assert p.axes[1:] == d.axes
    probs = p.numpy()
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(probs, axis=0) + 1, labels.numpy())


def test_label_values_are_the_painted_ones_and_erasing(textures):
    d, truth = textures
    strokes = [dict(s, label={1: 3, 2: 7, 3: 12}[s["label"]]) for s in FIRST]
    out = mg.run(OP, d, strokes=strokes, n_estimators=20).numpy()
    ref = mg.run(OP, d, strokes=FIRST, n_estimators=20).numpy()
    np.testing.assert_array_equal(out, np.choose(ref - 1, [3, 7, 12]))
    # a label-0 stroke erases: covering the only class-3 stroke leaves two classes
    eraser = {"label": 0, "radius": 4.0, "points": [[90, 75], [100, 88]]}
    two = mg.run(OP, d, strokes=FIRST + [eraser], n_estimators=10).numpy()
    assert set(np.unique(two)) == {1, 2}


def test_features_match_scipy_references():
    from micrographia.plugins.classify import feature_names, pixel_features

    f = np.random.default_rng(3).random((40, 52)) * 100
    sigmas = (1.0, 2.5)
    feats = pixel_features(f, sigmas)
    names = feature_names(sigmas)
    assert feats.shape == (40, 52, 19) and feats.dtype == np.float32 and len(names) == 19

    def get(name):
        return feats[..., names.index(name)]

    np.testing.assert_array_equal(get("intensity"), f.astype(np.float32))
    gy = ndi.gaussian_filter(f, 1.0, order=(1, 0))
    gx = ndi.gaussian_filter(f, 1.0, order=(0, 1))
    for s in sigmas:
        ref = {
            "gaussian": ndi.gaussian_filter(f, s),
            "gradient": ndi.gaussian_gradient_magnitude(f, s),
            "log": ndi.gaussian_laplace(f, s) * s * s,
            "dog": ndi.gaussian_filter(f, s) - ndi.gaussian_filter(f, 1.6 * s),
            "local_std": np.sqrt(np.maximum(ndi.gaussian_filter(f * f, s)
                                            - ndi.gaussian_filter(f, s) ** 2, 0)),
        }
        hess = np.stack([[ndi.gaussian_filter(f, s, order=(2, 0)),
                          ndi.gaussian_filter(f, s, order=(1, 1))],
                         [ndi.gaussian_filter(f, s, order=(1, 1)),
                          ndi.gaussian_filter(f, s, order=(0, 2))]]).transpose(2, 3, 0, 1)
        ev = np.linalg.eigvalsh(hess) * s * s  # ascending
        ref["hessian_min"], ref["hessian_max"] = ev[..., 0], ev[..., 1]
        st = np.stack([[ndi.gaussian_filter(gy * gy, s), ndi.gaussian_filter(gx * gy, s)],
                       [ndi.gaussian_filter(gx * gy, s), ndi.gaussian_filter(gx * gx, s)]]
                      ).transpose(2, 3, 0, 1)
        ev = np.linalg.eigvalsh(st)
        ref["structure_min"], ref["structure_max"] = ev[..., 0], ev[..., 1]
        for name, r in ref.items():
            np.testing.assert_allclose(get(f"{name} s={s:g}"), r, rtol=1e-5,
                                       atol=1e-4 * np.abs(r).max(), err_msg=name)


def test_rasterize_strokes_geometry():
    from micrographia.plugins.classify import rasterize_strokes

    r = rasterize_strokes([{"label": 2, "radius": 2.0, "points": [[5, 5]]}], (11, 11))
    yy, xx = np.mgrid[0:11, 0:11]
    np.testing.assert_array_equal(r, np.where(np.hypot(yy - 5, xx - 5) <= 2, 2, 0))
    line = rasterize_strokes([{"label": 1, "radius": 0.0, "points": [[1, 1], [1, 8]]},
                              {"label": 4, "radius": 0.5, "points": [[1, 5]]}], (4, 10))
    expect = np.zeros((4, 10), np.uint8)
    expect[1, 1:9] = 1
    expect[1, 5] = 4  # later strokes paint over earlier ones
    np.testing.assert_array_equal(line, expect)


def test_stack_trains_on_stroked_frames_and_classifies_every_frame():
    frames, truths = [], []
    for seed in (1, 2, 3):
        img, truth = _textures(seed=seed, n=96)
        frames.append(img)
        truths.append(truth)
    stack = mg.from_array(np.stack(frames), scale=0.5, units="nm", title="stack")
    truth = np.stack(truths)
    strokes = [
        {"label": 1, "radius": 2.0, "points": [[10, 5], [40, 90]], "frame": 0},
        {"label": 2, "radius": 2.0, "points": [[85, 5], [60, 40]], "frame": 0},
        {"label": 3, "radius": 2.0, "points": [[68, 55], [76, 66]], "frame": 2},
        {"label": 3, "radius": 1.0, "points": _ring(72, 60, 13.5), "frame": 2},
    ]
    out = mg.run(OP, stack, strokes=strokes, n_estimators=30)
    assert out.shape == stack.shape and out.axes == stack.axes and out.dtype == np.int32
    labels = out.numpy()
    for k in range(3):  # frame 1 has no strokes and is classified all the same
        assert (labels[k] == truth[k]).mean() > 0.85, k
    # one forest, trained on frames 0 and 2, classifies every frame: the same training frames
    # put first in another stack give the same labels for the unstroked frame 1
    other = mg.from_array(np.stack([frames[0], frames[2], frames[1]]), scale=0.5, units="nm")
    moved = [dict(s, frame={0: 0, 2: 1}[s["frame"]]) for s in strokes]
    again = mg.run(OP, other, strokes=moved, n_estimators=30).numpy()
    np.testing.assert_array_equal(again[2], labels[1])
    np.testing.assert_array_equal(again[:2], labels[[0, 2]])
    p = mg.run(OP, stack, strokes=strokes, n_estimators=30, output="probabilities")
    assert p.shape == (3, 3, 96, 96) and [a.name for a in p.nav_axes][1] == "class"
    np.testing.assert_array_equal(np.argmax(p.numpy(), axis=1) + 1, labels)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "no training strokes"),
    ({"strokes": []}, "no training strokes"),
    ({"strokes": [{"label": 1, "points": [[5, 5], [9, 9]]},
                  {"label": 1, "points": [[12, 20]]}]}, "class 1; paint at least two"),
    ({"strokes": [{"label": 1, "points": [[5, 5]]}, {"label": 2, "points": [[5, 40]]}]},
     r"outside the 20 × 30 image"),
    ({"strokes": [{"label": 1, "points": [[-3, 5]]}, {"label": 2, "points": [[5, 4]]}]},
     "outside"),
    ({"strokes": [{"label": 1, "points": [[5, 5]], "frame": 1},
                  {"label": 2, "points": [[5, 9]]}]}, "frame 1 does not exist"),
    ({"strokes": [{"label": 300, "points": [[5, 5]]}]}, "label must be 1 to 255"),
    ({"strokes": [{"label": 1.5, "points": [[5, 5]]}]}, "label must be an integer"),
    ({"strokes": [{"label": 1, "points": []}]}, "non-empty list"),
    ({"strokes": [{"label": 1, "points": [[5, 5, 5]]}]}, r"must be \[y, x\]"),
    ({"strokes": [{"label": 1}]}, "needs 'label' and 'points'"),
    ({"strokes": [{"label": 1, "points": [[1, 1]], "colour": "red"}]}, "unknown key"),
    ({"strokes": [{"label": 1, "points": [[1, 1]], "radius": -1}]}, "radius must be"),
    ({"strokes": ["a stroke"]}, "must be a mapping"),
    ({"strokes": [{"label": 1, "points": [[1, 1]]}, {"label": 2, "points": [[3, 3]]}],
      "sigmas": ()}, "give 1 to 12 sigmas"),
    ({"strokes": [{"label": 1, "points": [[1, 1]]}, {"label": 2, "points": [[3, 3]]}],
      "sigmas": (0.1,)}, "between 0.3 and 256"),
    ({"strokes": [{"label": 1, "points": [[1, 1]]}, {"label": 2, "points": [[3, 3]]}],
      "output": "rgb"}, "output must be one of"),
    ({"strokes": [{"label": 1, "points": [[1, 1]]}, {"label": 2, "points": [[3, 3]]}],
      "n_estimators": 0}, r"n_estimators must be in \[1, 1000\]"),
])
def test_clear_errors(kwargs, match):
    d = mg.from_array(np.random.default_rng(0).random((20, 30)).astype(np.float32))
    with pytest.raises(mg.ParameterError, match=match):
        mg.run(OP, d, **kwargs)


def test_refuses_spectra_and_complex():
    si = mg.from_array(np.zeros((4, 5, 16), np.float32), signal_dims=1)
    strokes = [{"label": 1, "points": [[1, 1]]}, {"label": 2, "points": [[3, 3]]}]
    with pytest.raises(mg.ParameterError, match="images"):
        mg.run(OP, si, strokes=strokes)
    with pytest.raises(mg.ParameterError, match="complex|floating"):
        mg.run(OP, mg.from_array(np.zeros((8, 8), np.complex64)), strokes=strokes)


def test_recorded_log_replays_identically(textures, tmp_path, monkeypatch):
    d, _ = textures
    src = mg.save(d, tmp_path / "textures.hspy")
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log.py"
    strokes = FIRST + CORRECTIONS[:2]
    with mg.recording(log):
        opened = mg.open(src)
        labels = mg.run(OP, opened, strokes=strokes, n_estimators=25)
        probs = mg.run(OP, opened, strokes=strokes, n_estimators=25, output="probabilities")
    text = log.read_text()
    assert f'mg.run("{OP}", d1, strokes=({{"label": 1, "radius": 2.0, "points": ((15, 10)' \
        in text
    program = replay.parse(text, path=str(log))
    targets = [s.targets[0] for s in program.steps if isinstance(s, replay.RunStep)]
    out = replay.run_program(program)
    again_labels = out.variables[targets[0]]
    again_probs = out.variables[targets[1]]
    np.testing.assert_array_equal(again_labels.numpy(), labels.numpy())
    np.testing.assert_array_equal(again_probs.numpy(), probs.numpy())
    assert again_labels.axes == labels.axes and again_probs.axes == probs.axes
    # the same as a direct call outside any recording
    direct = mg.run(OP, d, strokes=strokes, n_estimators=25)
    np.testing.assert_array_equal(direct.numpy(), labels.numpy())
