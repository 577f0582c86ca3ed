"""measure.regions against scikit-image's regionprops_table, column by column.

The op computes everything vectorised over all labels; these tests pin it to scikit-image's
definitions on random label images with fixed seeds and on the awkward cases: regions touching
the image edge, one-pixel regions, regions with holes, lines, non-consecutive and huge label
values, labels that are not connected, unsigned / bool labels, stacks and empty images.
"""

import numpy as np
import pytest

import micrographia as mg

PROPS = ("label", "area", "equivalent_diameter_area", "perimeter", "centroid", "orientation",
         "eccentricity", "axis_major_length", "axis_minor_length")
INTENSITY = ("intensity_mean", "intensity_max", "intensity_min")
PAIRS = (("area_px", "area"), ("equivalent_diameter_px", "equivalent_diameter_area"),
         ("perimeter_px", "perimeter"), ("centroid_y_px", "centroid-0"),
         ("centroid_x_px", "centroid-1"), ("eccentricity", "eccentricity"),
         ("major_axis_length_px", "axis_major_length"),
         ("minor_axis_length_px", "axis_minor_length"))


def _reference(lab, img=None):
    from skimage.measure import regionprops_table

    props = PROPS + (INTENSITY if img is not None else ())
    return regionprops_table(lab, intensity_image=img, properties=props)


def _assert_orientation(ours_deg, ref_rad):
    """Equal to 1e-9 (relative, 1e-9° absolute near 0); ±90° is the same axis.

    Where the major axis is exactly horizontal (mu11 = 0 exactly) scikit-image returns +90°
    or −90° depending on the rounding noise of its float sums; ours are exact (+90°). Any
    other difference fails.
    """
    ref = np.degrees(np.asarray(ref_rad, float))
    ours = np.asarray(ours_deg, float)
    tol = 1e-9 * np.maximum(1.0, np.abs(ref))
    wrapped = (ours - ref + 90.0) % 180.0 - 90.0
    assert np.all(np.abs(wrapped) <= tol), np.abs(wrapped).max()
    flipped = np.abs(ours - ref) > tol
    np.testing.assert_array_equal(ours[flipped], 90.0)
    return int(flipped.sum())


def _compare(t, lab, img=None, rtol=1e-9):
    ref = _reference(lab, img)
    np.testing.assert_array_equal(t["label"], ref["label"])
    assert t["label"].dtype == np.int64
    for ours, theirs in PAIRS:
        np.testing.assert_allclose(t[ours], ref[theirs], rtol=rtol, atol=0, err_msg=ours)
    if img is not None:
        np.testing.assert_allclose(t["mean_intensity"], ref["intensity_mean"], rtol=rtol,
                                   err_msg="mean_intensity")
        np.testing.assert_array_equal(t["max_intensity"], ref["intensity_max"])
        np.testing.assert_array_equal(t["min_intensity"], ref["intensity_min"])
    return _assert_orientation(t["orientation"], ref["orientation"])


@pytest.mark.parametrize("seed", range(6))
def test_random_components_equal_regionprops(seed):
    from skimage.measure import label

    rng = np.random.default_rng(seed)
    mask = rng.random((70, 90)) < (0.42, 0.3)[seed % 2] + 0.02 * seed
    lab = label(mask, connectivity=1 + seed % 2)
    img = rng.normal(100.0, 30.0, lab.shape)
    flips = _compare(mg.run("measure.regions", mg.from_array(lab), mg.from_array(img)), lab, img)
    assert flips <= 2
    assert lab.max() > 40  # many regions, many touching the edge
    assert lab[0].any() and lab[-1].any() and lab[:, 0].any() and lab[:, -1].any()


@pytest.mark.parametrize("seed", range(3))
def test_smooth_blobs_equal_regionprops(seed):
    """Blob-shaped regions (the usual case): holes, concavities, sizes 1..~500 px."""
    from scipy import ndimage as ndi
    from skimage.measure import label

    rng = np.random.default_rng(10 + seed)
    a = ndi.gaussian_filter(rng.normal(0, 1, (128, 150)), 3)
    lab = label(a > 0.05).astype(np.int32) * 3 + 5 * (a > 0.05)  # non-consecutive values
    img = (a * 1000).astype(np.float32)
    t = mg.run("measure.regions", mg.from_array(lab), mg.from_array(img))
    ref = _reference(lab, img)
    # float32 intensities: scikit-image averages in float32, we accumulate in float64
    np.testing.assert_allclose(t["mean_intensity"], ref["intensity_mean"], rtol=1e-5)
    _compare(t, lab)


def test_edge_cases_equal_regionprops():
    lab = np.zeros((40, 50), np.int64)
    lab[0, 0] = 3  # one pixel in the corner
    lab[20, 25] = 1000  # one isolated pixel
    lab[5, 10:30] = 7  # horizontal line (major axis exactly horizontal)
    lab[8:30, 45] = 8  # vertical line touching nothing
    lab[np.arange(10, 20), np.arange(10, 20)] = 9  # diagonal line (45°, a tie)
    lab[np.arange(10, 20), np.arange(30, 20, -1)] = 10  # anti-diagonal
    lab[25:36, 5:16] = 11  # square with a hole
    lab[28:33, 8:13] = 0
    lab[29:32, 9:12] = 12  # region inside the hole
    lab[32:40, 30:50] = 10 ** 6  # large value, touching two image edges
    lab[0:3, 47:50] = 13  # 3×3 block in the top-right corner
    lab[36:40, 0:2] = 14  # two separate pieces with the same label
    lab[38, 20] = 14
    t = mg.run("measure.regions", mg.from_array(lab))
    assert len(t) == 11
    assert _compare(t, lab) == 0
    row = dict(zip(t["label"].tolist(), range(len(t))))
    one = row[3]
    assert t["area_px"][one] == 1 and t["eccentricity"][one] == 0
    assert t["major_axis_length_px"][one] == 0 and t["perimeter_px"][one] == 0
    assert t["orientation"][row[7]] == 90.0 and t["orientation"][row[9]] == 45.0
    assert t["orientation"][row[10]] == -45.0 and t["minor_axis_length_px"][row[7]] == 0
    # label values beyond what scikit-image can handle (its find_objects needs max_label entries)
    huge = mg.run("measure.regions", mg.from_array(np.where(lab == 10 ** 6, 2 ** 60, lab)))
    assert huge["label"][-1] == 2 ** 60
    for c in t.columns:
        if c != "label":
            np.testing.assert_array_equal(huge[c], t[c])


def test_random_label_noise_and_dtypes():
    """Scattered, non-connected regions; uint8/uint16/uint64/int64 labels give one table."""
    rng = np.random.default_rng(5)
    lab = rng.integers(0, 9, (30, 40)) * 11
    ref_t = mg.run("measure.regions", mg.from_array(lab))
    _compare(ref_t, lab)
    for dtype in (np.uint8, np.uint16, np.int16, np.uint32, np.uint64):
        t = mg.run("measure.regions", mg.from_array(lab.astype(dtype)))
        for c in ref_t.columns:
            np.testing.assert_array_equal(t[c], ref_t[c], err_msg=f"{dtype} {c}")
    big = lab.astype(np.uint64) * np.uint64(2 ** 56)  # values above 2**63
    t = mg.run("measure.regions", mg.from_array(big))
    np.testing.assert_array_equal(t["area_px"], ref_t["area_px"])
    np.testing.assert_array_equal(t["perimeter_px"], ref_t["perimeter_px"])


def test_integer_intensity_and_calibration():
    from skimage.measure import label

    rng = np.random.default_rng(7)
    lab = label(rng.random((50, 60)) < 0.45)
    img = rng.integers(0, 60000, lab.shape).astype(np.uint16)
    d = mg.from_array(lab, scale=0.5, units="nm")
    t = mg.run("measure.regions", d, mg.from_array(img))
    _compare(t, lab, img)
    np.testing.assert_allclose(t["area"], 0.25 * t["area_px"], rtol=1e-15)
    np.testing.assert_allclose(t["perimeter"], 0.5 * t["perimeter_px"], rtol=1e-15)
    np.testing.assert_allclose(t["centroid_x"], 0.5 * t["centroid_x_px"], rtol=1e-15)
    assert t.units["area"] == "nm²" and t.units["perimeter"] == "nm"


def test_stack_is_measured_frame_by_frame():
    from skimage.measure import label

    rng = np.random.default_rng(11)
    masks = rng.random((2, 3, 40, 45)) < 0.4
    lab = np.stack([np.stack([label(m) for m in row]) for row in masks]).astype(np.int32)
    lab[1, 2] = 0  # an empty frame
    lab[0, 1] *= 1000  # large, non-consecutive values in one frame
    img = rng.normal(0.0, 1.0, lab.shape)
    t = mg.run("measure.regions", mg.from_array(lab), mg.from_array(img))
    assert t["frame"].dtype == np.int64
    flat_lab, flat_img = lab.reshape(6, 40, 45), img.reshape(6, 40, 45)
    for i in range(6):
        sel = t["frame"] == i
        if i == 5:
            assert not sel.any()
            continue
        sub = {c: t[c][sel] for c in t.columns}
        _compare(sub, flat_lab[i], flat_img[i])
    assert np.all(np.diff(t["frame"]) >= 0)


def test_empty_and_negative_labels():
    t = mg.run("measure.regions", mg.from_array(np.zeros((20, 30), np.int32)))
    assert len(t) == 0 and "area_px" in t.columns and "frame" not in t.columns
    lab = np.zeros((10, 10), np.int32)
    lab[2, 2] = -1
    with pytest.raises(mg.ParameterError, match="negative"):
        mg.run("measure.regions", mg.from_array(lab))
