"""segment.* and measure.* operations: against scikit-image and known truth."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

import micrographia as mg


def _lazy(d: mg.Dataset, chunks) -> mg.Dataset:
    return d.replace(data=da.from_array(np.asarray(d.data), chunks=chunks))


def _blobs(seed=3, shape=(2, 64, 80)) -> mg.Dataset:
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    a = ndi.gaussian_filter(rng.normal(0, 1, shape), (0, 4, 4))
    a = (a - a.min()) / np.ptp(a) * 1000 + rng.normal(0, 20, shape)
    return mg.from_array(a.astype(np.float32), scale=0.5, units="nm", title="blobs")


def _touching_disks(seed=7, n=40, size=256):
    """Image of ``n`` disks (r 9..11 px), about half touching a neighbour, plus noise."""
    rng = np.random.default_rng(seed)
    centres, radii, touches = [], [], []
    tries = 0
    while len(centres) < n:
        tries += 1
        assert tries < 100000
        r = rng.uniform(9, 11)
        k = -1
        if centres and rng.random() < 0.5:  # touch an existing disk (chains, no clusters)
            k = int(rng.integers(len(centres)))
            if touches[k] >= 2:
                continue
            ang = rng.uniform(0, 2 * np.pi)
            dist = radii[k] + r + rng.uniform(-1.0, 0.0)
            c = centres[k] + dist * np.array([np.sin(ang), np.cos(ang)])
        else:
            c = rng.uniform(14, size - 14, 2)
        if np.any(c < 13) or np.any(c > size - 13):
            continue
        if any(np.hypot(*(c - c2)) < r + r2 + 3.0 for j, (c2, r2) in
               enumerate(zip(centres, radii)) if j != k):
            continue
        if k >= 0:
            touches[k] += 1
        centres.append(c)
        radii.append(r)
        touches.append(int(k >= 0))
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.full((size, size), 20.0)
    for (cy, cx), r in zip(centres, radii):
        img[np.hypot(yy - cy, xx - cx) <= r] = 100.0
    img += rng.normal(0, 10, img.shape)
    touching = sum(1 for i in range(n) for j in range(i + 1, n)
                   if np.hypot(*(centres[i] - centres[j])) < radii[i] + radii[j] + 0.6)
    return img.astype(np.float32), np.array(radii), touching


# -- threshold -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["otsu", "li", "yen", "triangle", "isodata", "mean"])
def test_threshold_values_equal_skimage_per_frame(method):
    from skimage import filters

    s = _blobs()
    m = mg.run("segment.threshold", s, method=method)
    assert m.dtype == bool and m.axes == s.axes
    ts = m.metadata["Micrographia"]["threshold"]
    assert len(ts) == 2
    for i in range(2):
        t = getattr(filters, f"threshold_{method}")(s.data[i])
        assert ts[i] == float(t)
        np.testing.assert_array_equal(m.data[i], s.data[i] > t)


def test_threshold_manual_invert_lazy_and_errors():
    s = _blobs()
    m = mg.run("segment.threshold", s, method="manual", value=500.0, invert=True)
    np.testing.assert_array_equal(m.data, s.data <= 500.0)
    assert m.metadata["Micrographia"]["threshold"] == (500.0, 500.0)
    lazy = mg.run("segment.threshold", _lazy(s, (1, 32, 80)))
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), mg.run("segment.threshold", s).data)
    with pytest.raises(mg.ParameterError, match="method"):
        mg.run("segment.threshold", s, method="magic")
    si = mg.from_array(np.ones((3, 4, 50)), signal_dims=1)
    assert not mg.operation("segment.threshold").accepts(si)
    mask = mg.from_array(np.ones((8, 8), bool))
    assert not mg.operation("segment.threshold").accepts(mask)


def test_multi_otsu_and_local_threshold_equal_skimage():
    from skimage.filters import threshold_local, threshold_multiotsu

    s = _blobs()
    c = mg.run("segment.multi_otsu", s, classes=3)
    assert c.dtype == np.uint8
    for i in range(2):
        t = threshold_multiotsu(s.data[i], classes=3)
        np.testing.assert_array_equal(c.data[i], np.digitize(s.data[i], t))
        assert c.metadata["Micrographia"]["thresholds"][i] == tuple(float(v) for v in t)
    m = mg.run("segment.local_threshold", s, block_size=21, method="mean", offset=-5.0)
    for i in range(2):
        f = s.data[i].astype(np.float64)
        np.testing.assert_array_equal(m.data[i],
                                      f > threshold_local(f, 21, method="mean", offset=-5.0))
    with pytest.raises(mg.ParameterError, match="odd"):
        mg.run("segment.local_threshold", s, block_size=20)


# -- binary ops ------------------------------------------------------------------------------
def test_label_equals_skimage_and_lazy():
    from skimage.measure import label

    s = _blobs()
    m = mg.run("segment.threshold", s)
    for conn in (1, 2):
        lab = mg.run("segment.label", m, connectivity=conn)
        assert lab.dtype == np.int32 and lab.axes == m.axes
        for i in range(2):
            np.testing.assert_array_equal(lab.data[i], label(m.data[i], connectivity=conn))
    lazy = mg.run("segment.label", _lazy(m, (1, 64, 80)))
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), mg.run("segment.label", m).data)


def test_morphology_against_references():
    from scipy import ndimage as ndi
    from skimage import morphology as skm

    m = mg.run("segment.threshold", _blobs())
    f = m.data[1]
    disk = skm.disk(2).astype(bool)
    for op, ref in [("erode", ndi.binary_erosion(f, disk)),
                    ("dilate", ndi.binary_dilation(f, disk)),
                    ("open", ndi.binary_opening(f, disk)),
                    ("close", skm.closing(np.pad(f, 2, mode="edge"), disk)[2:-2, 2:-2]),
                    ("fill_holes", ndi.binary_fill_holes(f))]:
        out = mg.run("segment.morphology", m, operation=op, radius=2)
        np.testing.assert_array_equal(out.data[1], ref, err_msg=op)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small_obj = skm.remove_small_objects(f, min_size=50, connectivity=1)
        small_holes = skm.remove_small_holes(f, area_threshold=50, connectivity=1)
    out = mg.run("segment.morphology", m, operation="remove_small_objects", min_size=50)
    np.testing.assert_array_equal(out.data[1], small_obj)
    out = mg.run("segment.morphology", m, operation="remove_small_holes", min_size=50)
    np.testing.assert_array_equal(out.data[1], small_holes)
    assert not mg.operation("segment.morphology").accepts(_blobs())


def test_clear_border_labels_and_mask():
    lab = np.zeros((20, 20), np.int32)
    lab[0:3, 5:8] = 1
    lab[8:12, 8:12] = 2
    lab[15:20, 15:18] = 3
    out = mg.run("segment.clear_border", mg.from_array(lab))
    assert sorted(np.unique(out.data)) == [0, 2]
    mout = mg.run("segment.clear_border", mg.from_array(lab > 0))
    np.testing.assert_array_equal(mout.data, lab == 2)


# -- watershed: the quality bar -------------------------------------------------------
def test_otsu_watershed_counts_touching_disks():
    img, radii, touching = _touching_disks()
    assert touching >= 10  # the test is meaningful: many disks touch
    d = mg.from_array(img, scale=0.25, units="nm", title="disks")
    mask = mg.run("segment.threshold", d, method="otsu")
    mask = mg.run("segment.morphology", mask, operation="remove_small_objects", min_size=30)
    mask = mg.run("segment.morphology", mask, operation="fill_holes")
    # without splitting, touching disks merge
    merged = mg.run("segment.label", mask)
    assert merged.data.max() < 40 - 5
    labels = mg.run("segment.watershed", mask, min_distance=5)
    assert labels.dtype == np.int32 and labels.axes == d.axes
    t = mg.run("measure.regions", labels)
    n = len(t)
    assert abs(n - 40) <= 0.02 * 40, n
    mean_d = np.mean(t["equivalent_diameter_px"])
    true_d = np.mean(2 * radii)
    assert abs(mean_d - true_d) <= 0.03 * true_d, (mean_d, true_d)
    np.testing.assert_allclose(t["equivalent_diameter"], t["equivalent_diameter_px"] * 0.25)
    assert t.units["equivalent_diameter"] == "nm" and t.units["area"] == "nm²"


def test_watershed_stack_lazy_and_intensity_surface():
    img, _, _ = _touching_disks(seed=11, n=20, size=160)
    mask = np.stack([img > 60, img[::-1] > 60])
    m = mg.from_array(mask)
    lab = mg.run("segment.watershed", m, min_distance=5)
    lazy = mg.run("segment.watershed", _lazy(m, (1, 160, 160)), min_distance=5)
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), lab.data)
    np.testing.assert_array_equal(lab.data[0] > 0, mask[0])
    assert 18 <= lab.data[0].max() <= 22
    # flooding an intensity surface (here −distance given explicitly) gives the same labels
    from scipy import ndimage as ndi

    surf = mg.from_array(np.stack([-ndi.distance_transform_edt(f) for f in mask]))
    lab2 = mg.run("segment.watershed", m, surf, min_distance=5)
    np.testing.assert_array_equal(lab2.data, lab.data)
    with pytest.raises(mg.ParameterError, match="shape"):
        mg.run("segment.watershed", m, mg.from_array(np.zeros((160, 160))))


# -- measure.regions -------------------------------------------------------------------------
def test_regions_equal_regionprops_calibrated():
    from skimage.measure import label, regionprops

    s = _blobs()
    m = mg.run("segment.threshold", s)
    lab = mg.run("segment.label", m)
    lab = lab.replace(axes=tuple(a.replace(offset=3.0) if not a.navigate else a
                                 for a in lab.axes))
    t = mg.run("measure.regions", lab, s)
    assert "frame" in t.columns
    rows = 0
    for i in range(2):
        props = regionprops(label(m.data[i]), intensity_image=s.data[i])
        sel = t["frame"] == i
        rows += len(props)
        assert sel.sum() == len(props)
        np.testing.assert_array_equal(t["label"][sel], [p.label for p in props])
        np.testing.assert_allclose(t["area"][sel], [p.area * 0.25 for p in props])
        np.testing.assert_allclose(t["perimeter"][sel], [p.perimeter * 0.5 for p in props])
        np.testing.assert_allclose(t["centroid_x"][sel],
                                   [3.0 + 0.5 * p.centroid[1] for p in props])
        np.testing.assert_allclose(t["centroid_y"][sel],
                                   [3.0 + 0.5 * p.centroid[0] for p in props])
        np.testing.assert_allclose(t["mean_intensity"][sel],
                                   [p.intensity_mean for p in props], rtol=1e-6)
        np.testing.assert_allclose(t["orientation"][sel],
                                   [np.degrees(p.orientation) for p in props])
    assert len(t) == rows
    assert t.units["area"] == "nm²" and t.units["centroid_x"] == "nm"
    assert t.units["orientation"] == "deg"
    single = mg.run("measure.regions", mg.from_array(label(m.data[0])))
    assert "frame" not in single.columns and "mean_intensity" not in single.columns
    with pytest.raises(mg.ParameterError, match="shape"):
        mg.run("measure.regions", lab, mg.from_array(np.zeros((3, 3))))


def test_threaded_frames_equal_single_thread(monkeypatch):
    s = mg.from_array(np.concatenate([_blobs(seed=k).data for k in range(4)]))  # 8 frames
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "3")
    a = mg.run("segment.threshold", s, method="li")
    w = mg.run("segment.watershed", a, min_distance=4)
    monkeypatch.setenv("MICROGRAPHIA_THREADS", "1")
    b = mg.run("segment.threshold", s, method="li")
    np.testing.assert_array_equal(a.data, b.data)
    assert a.metadata["Micrographia"]["threshold"] == b.metadata["Micrographia"]["threshold"]
    np.testing.assert_array_equal(w.data, mg.run("segment.watershed", b, min_distance=4).data)


def test_regions_lazy_and_unsigned_labels():
    from skimage.measure import label

    m = mg.run("segment.threshold", _blobs())
    lab = label(m.data[0]).astype(np.uint16)
    d = mg.from_array(lab, scale=2.0, units="µm")
    t = mg.run("measure.regions", d)
    lazy = d.replace(data=da.from_array(lab, chunks=(32, 40)))
    tl = mg.run("measure.regions", lazy)
    for c in t.columns:
        np.testing.assert_array_equal(tl[c], t[c])
    assert t.units["area"] == "µm²"
    np.testing.assert_allclose(t["area"], 4.0 * t["area_px"])


def test_label_outputs_are_marked_for_the_categorical_display():
    from micrographia.io.render import default_cmap, is_label_image

    rng = np.random.default_rng(3)
    img = mg.from_array(rng.random((40, 50)).astype(np.float32), scale=0.1, units="nm")
    mask = mg.run("segment.threshold", img)
    assert not is_label_image(mask)  # a mask is shown grey
    for result in (mg.run("segment.label", mask), mg.run("segment.watershed", mask),
                   mg.run("segment.multi_otsu", img, classes=3)):
        assert is_label_image(result) and default_cmap(result) == "labels", result.title
    assert not is_label_image(mg.run("segment.morphology", mask))
