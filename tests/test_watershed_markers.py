"""segment.watershed's own distance transform, peaks and h-maxima against references.

The watershed computes its markers from the mask pixels (plugins/segment.py): a distance
transform, ``peak_local_max``'s peaks per component and ``h_maxima``'s plateaus. Each piece is
compared here with scikit-image / scipy and with a brute-force h-maxima on small random masks
(fixed seeds), and the whole frame with the reference pipeline they replace.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

import micrographia as mg
from micrographia.plugins import segment as seg


def _random_mask(rng: np.random.Generator, kind: int, shape: tuple[int, int]) -> np.ndarray:
    if kind == 0:  # smooth blobs of many sizes
        a = ndi.gaussian_filter(rng.normal(size=shape), rng.uniform(1, 4))
        return a > rng.uniform(-0.3, 0.3) * a.std()
    if kind == 1:  # salt-and-pepper: tiny and thin components, plateaus of equal distance
        return rng.random(shape) < rng.uniform(0.3, 0.8)
    yy, xx = np.mgrid[:shape[0], :shape[1]]  # overlapping disks with ragged edges
    m = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 10))):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        m |= np.hypot(yy - cy, xx - cx) <= rng.uniform(2, 11)
    return m ^ (rng.random(shape) < 0.03)


def _masks(seed: int, count: int, lo: int = 5, hi: int = 48):
    rng = np.random.default_rng(seed)
    for k in range(count):
        m = _random_mask(rng, k % 3, (int(rng.integers(lo, hi)), int(rng.integers(lo, hi))))
        if m.any():
            yield k, m


def _pixels(m: np.ndarray):
    pix = np.flatnonzero(m)
    dist, vals = seg._edt_exact(m, pix)
    return seg._MaskPixels(m, dist, pix, vals)


def _reference_markers(m, min_distance, footprint, connectivity, h):
    """The previous implementation: skimage's peak_local_max and h_maxima on the whole frame."""
    from skimage.feature import peak_local_max
    from skimage.morphology import h_maxima

    distance = ndi.distance_transform_edt(m)
    components, n_comp = ndi.label(m, structure=ndi.generate_binary_structure(2, connectivity))
    fp = None if footprint <= 0 else np.ones((footprint, footprint), bool)
    coords = peak_local_max(distance, min_distance=min_distance, footprint=fp,
                            labels=components, exclude_border=False)
    if h > 0:
        hm, nh = ndi.label(h_maxima(distance, h), structure=np.ones((3, 3), bool))
        hit = np.unique(hm[tuple(coords.T)])
        hit = hit[hit > 0]
        remap = np.zeros(nh + 1, np.int32)
        remap[hit] = np.arange(1, len(hit) + 1, dtype=np.int32)
        markers, n = remap[hm], len(hit)
    else:
        markers = np.zeros(m.shape, np.int32)
        markers[tuple(coords.T)] = np.arange(1, len(coords) + 1, dtype=np.int32)
        n = len(coords)
    missing = np.setdiff1d(np.arange(1, n_comp + 1), np.unique(components[markers > 0]))
    for k, lab in enumerate(missing):  # first deepest pixel in raster order
        markers[ndi.maximum_position(distance, components, int(lab))] = n + 1 + k
    return markers, components


def test_distance_transform_is_bit_equal_to_scipy(monkeypatch):
    cases = list(_masks(1, 60))
    edge = np.ones((9, 12), bool)  # rows and columns without background
    edge[4, 0] = False
    cases += [(-1, edge), (-2, np.ones((5, 6), bool)), (-3, np.eye(7, dtype=bool))]
    for work in (seg._EDT_WORK, 1e9):  # the default choice, then always the own transform
        monkeypatch.setattr(seg, "_EDT_WORK", work)
        for k, m in cases:
            pix = np.flatnonzero(m)
            dist, vals = seg._edt_exact(m, pix)
            ref = ndi.distance_transform_edt(m)
            assert dist.dtype == np.float64 and np.array_equal(dist, ref), k
            np.testing.assert_array_equal(vals, ref.ravel()[pix])


@pytest.mark.parametrize(("min_distance", "footprint", "connectivity"),
                         [(5, 0, 1), (3, 0, 2), (2, 0, 1), (4, 3, 1), (3, 4, 2), (6, 5, 1),
                          (2, 1, 1), (3, 2, 2)])
def test_peaks_equal_peak_local_max(min_distance, footprint, connectivity):
    from skimage.feature import peak_local_max

    struct = ndi.generate_binary_structure(2, connectivity)
    checked = 0
    for k, m in _masks(2, 45):
        px = _pixels(m)
        comp, n_comp = ndi.label(m, structure=struct)
        peaks = seg._component_peaks(px, comp, n_comp, min_distance, footprint)
        fp = None if footprint <= 0 else np.ones((footprint, footprint), bool)
        ref = peak_local_max(px.dist, min_distance=min_distance, footprint=fp, labels=comp,
                             exclude_border=False)
        got = np.stack(np.divmod(px.pix[peaks], m.shape[1]), axis=1)
        np.testing.assert_array_equal(got, ref, err_msg=str(k))  # same peaks, same order
        checked += len(ref)
    assert checked > 300, checked


def _brute_h_maxima(dist: np.ndarray, h: float) -> np.ndarray:
    """A pixel is an h-maximum when nothing higher is 8-connected to it above f - h."""
    out = np.zeros(dist.shape, bool)
    if h > np.ptp(dist):
        return out
    for v in np.unique(dist):
        lab, _ = ndi.label(dist > v - h, structure=np.ones((3, 3), bool))
        top = ndi.maximum(dist, lab, np.arange(lab.max() + 1))
        here = dist == v
        out[here] = top[lab[here]] <= v
    return out


@pytest.mark.parametrize("h", [0.3, 0.5, 1.0, 1.5, 2.0, 4.0])
def test_h_maxima_plateaus_equal_skimage_and_brute_force(h):
    from skimage.morphology import h_maxima

    found = 0
    for k, m in _masks(3, 36, hi=40):
        px = _pixels(m)
        li, plate, is_h = seg._h_maxima_plateaus(px, h)
        got = np.zeros(m.size, bool)
        got[px.pix[li[is_h[plate]]]] = True
        got = got.reshape(m.shape)
        np.testing.assert_array_equal(got, _brute_h_maxima(px.dist, h), err_msg=str(k))
        np.testing.assert_array_equal(got, h_maxima(px.dist, h).astype(bool), err_msg=str(k))
        # the plateaus are numbered as ndi.label numbers the h-maxima
        ref, _ = ndi.label(got, structure=np.ones((3, 3), bool))
        kept = np.flatnonzero(is_h)
        renum = np.zeros(plate.max() + 1, np.int64)
        renum[kept] = np.arange(1, kept.size + 1)
        lab = np.zeros(m.size, np.int64)
        lab[px.pix[li]] = renum[plate]
        np.testing.assert_array_equal(lab.reshape(m.shape), ref)
        found += int(got.sum())
    assert found >= 40, found


def test_markers_equal_the_reference_pipeline():
    rng = np.random.default_rng(4)
    n_cases = 0
    for k, m in _masks(5, 150, hi=64):
        md = int(rng.integers(1, 7))
        fp = int(rng.choice([0, 0, 0, 1, 3, 4, 5]))
        con = int(rng.integers(1, 3))
        h = float(rng.choice([0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 3.0]))
        ref, comp = _reference_markers(m, md, fp, con, h)
        pix = np.flatnonzero(m)
        dist, vals = seg._edt_exact(m, pix)
        markers, n = seg._watershed_markers(m, dist, pix, vals, comp, int(comp.max()), md,
                                            fp, h)
        np.testing.assert_array_equal(markers.reshape(m.shape), ref,
                                      err_msg=f"case {k}: {md=} {fp=} {con=} {h=}")
        assert n == ref.max()
        n_cases += 1
    assert n_cases > 140


def test_full_or_empty_frames():
    full = np.ones((12, 15), bool)  # no background: scipy's transform, h_maxima's range rule
    for h in (0.0, 1.0, 100.0):
        ref, comp = _reference_markers(full, 3, 0, 1, h)
        pix = np.flatnonzero(full)
        dist, vals = seg._edt_exact(full, pix)
        markers, _ = seg._watershed_markers(full, dist, pix, vals, comp, 1, 3, 0, h)
        np.testing.assert_array_equal(markers.reshape(full.shape), ref)
    out = seg._watershed_frame(np.zeros((6, 7), bool), None, 5, 0, 1, 1.0)
    assert out.dtype == np.int32 and not out.any()


def test_watershed_op_equals_the_reference_pipeline_on_touching_disks():
    from skimage.segmentation import watershed as sk_watershed

    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[0:200, 0:200]
    img = np.full((200, 200), 20.0)
    for cy, cx in rng.uniform(10, 190, (60, 2)):
        img[np.hypot(yy - cy, xx - cx) <= rng.uniform(6, 10)] = 100.0
    m = ndi.binary_fill_holes(img + rng.normal(0, 10, img.shape) > 60)
    for h, con in ((1.0, 1), (0.0, 2), (2.0, 1)):
        markers, _ = _reference_markers(m, 5, 0, con, h)
        ref = sk_watershed(-ndi.distance_transform_edt(m), markers, mask=m, connectivity=con)
        got = mg.run("segment.watershed", mg.from_array(m), min_distance=5, h=h,
                     connectivity=con)
        np.testing.assert_array_equal(got.data, ref)
    # counts on this image: h = 1 merges the ragged-edge splits that h = 0 makes
    n1 = mg.run("segment.watershed", mg.from_array(m), min_distance=5).data.max()
    n0 = mg.run("segment.watershed", mg.from_array(m), min_distance=5, h=0.0).data.max()
    assert n0 > n1
