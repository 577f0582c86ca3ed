"""Tests of stack registration and drift correction (plugins/alignment.py).

Synthetic frames: a band-limited random texture (Gaussian spectrum, correlation length 4 px) is
drawn on a canvas larger than the frame and shifted by the Fourier shift theorem, then the
central 256² window is cut out. Because the texture is a trigonometric polynomial on the big
canvas, its Fourier shift is *exact* for any sub-pixel amount, and cutting the window out of
the larger canvas gives frames with real borders (new content enters, old content leaves) —
not the periodic wrap-around that would make the task easy for FFT-based estimators. Poisson
noise at ~40 counts per pixel (contrast ±50 %) makes them low-dose frames.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg


def _texture_stack(n: int = 50, size: int = 256, max_shift: float = 20.0, counts: float = 40.0,
                   seed: int = 0, invert_every: int = 0, noise: bool = True):
    import scipy.fft as sf

    rng = np.random.default_rng(seed)
    big = size + 2 * int(max_shift) + 32
    fy = np.fft.fftfreq(big)[:, None]
    fx = np.fft.rfftfreq(big)[None, :]
    spec = sf.rfft2(rng.normal(size=(big, big))) * np.exp(
        -2 * np.pi ** 2 * 4.0 ** 2 * (fy ** 2 + fx ** 2))
    shifts = rng.uniform(-max_shift, max_shift, (n, 2))  # (dx, dy) of each frame's content
    shifts[0] = 0.0
    phase = np.exp(-2j * np.pi * (fx[None] * shifts[:, 0, None, None]
                                  + fy[None] * shifts[:, 1, None, None]))
    frames = sf.irfft2(spec[None] * phase, s=(big, big))
    frames /= frames.std()
    c0 = (big - size) // 2
    frames = frames[:, c0:c0 + size, c0:c0 + size]
    sign = np.ones(n)
    if invert_every:
        sign[np.arange(n) % invert_every == 1] = -1.0  # a third of the frames inverted
    lam = counts * np.clip(1 + 0.5 * sign[:, None, None] * frames, 0.05, None)
    data = rng.poisson(lam).astype(np.uint16) if noise else lam.astype(np.float32)
    return data, shifts


def _rms(table: mg.Table, shifts: np.ndarray) -> float:
    err = np.c_[table["dx"] - shifts[:, 0], table["dy"] - shifts[:, 1]]
    return float(np.sqrt((err ** 2).mean()))


@pytest.fixture(scope="module")
def stack():
    data, shifts = _texture_stack()
    return mg.from_array(data, scale=0.05, units="nm", title="drift"), shifts


@pytest.fixture(scope="module")
def ref_table(stack):
    d, _ = stack
    return mg.run("alignment.register_stack", d, apply=False)


def test_reference_recovers_subpixel_shifts_at_low_dose(stack, ref_table):
    d, shifts = stack
    t = ref_table
    assert t.columns == ("frame", "dx", "dy", "dx_cal", "dy_cal", "quality")
    assert _rms(t, shifts) <= 0.05
    np.testing.assert_array_equal(t["frame"], np.arange(50))
    np.testing.assert_allclose(t["dx_cal"], t["dx"] * 0.05)
    np.testing.assert_allclose(t["dy_cal"], t["dy"] * 0.05)
    assert dict(t.units) == {"dx": "px", "dy": "px", "dx_cal": "nm", "dy_cal": "nm"}
    assert t["dx"][0] == 0.0 and t["dy"][0] == 0.0
    assert np.all((t["quality"] > 0.3) & (t["quality"] <= 1.0 + 1e-6))


def test_reference_variants(stack):
    d, shifts = stack
    for ref in ("mean", "running"):
        t = mg.run("alignment.register_stack", d, apply=False, reference=ref)
        err = np.c_[t["dx"] - shifts[:, 0], t["dy"] - shifts[:, 1]]
        if ref == "mean":  # relative to the aligned mean: compare up to a common offset
            err -= err.mean(axis=0)
        assert np.sqrt((err ** 2).mean()) <= 0.05, ref
    t = mg.run("alignment.register_stack", d, apply=False, reference="frame",
               reference_frame=7)
    assert t["dx"][7] == 0.0
    rel = shifts - shifts[7]
    assert np.sqrt(np.mean((t["dx"] - rel[:, 0]) ** 2 + (t["dy"] - rel[:, 1]) ** 2) / 2) <= 0.05


def test_all_pairs_at_least_as_accurate(stack, ref_table):
    d, shifts = stack
    t = mg.run("alignment.register_stack", d, apply=False, method="all_pairs")
    assert "residual" in t.columns and t.units["residual"] == "px"
    assert _rms(t, shifts) <= _rms(ref_table, shifts)
    assert t.metadata["pairs"] == 50 * 49 // 2


def test_all_pairs_survives_contrast_inversion():
    data, shifts = _texture_stack(seed=1, invert_every=3)
    d = mg.from_array(data)
    t = mg.run("alignment.register_stack", d, apply=False, method="all_pairs")
    assert _rms(t, shifts) <= 0.1
    # without the edge filter a plain correlation of inverted frames fails (negative peak)
    t_raw = mg.run("alignment.register_stack", d, apply=False, method="reference",
                   prefilter="gaussian")
    assert _rms(t_raw, shifts) > 1.0


def _lattice_stack(n: int = 20, size: int = 128, period: float = 12.0, seed: int = 0):
    """A square lattice (period 12 px; its Sobel magnitude repeats every 6 px) with six
    defects, drifting 0.8, -0.5 px per frame (16 px in all) plus jitter, Poisson noise."""
    import scipy.fft as sf

    rng = np.random.default_rng(seed)
    shifts = np.arange(n)[:, None] * np.array([0.8, -0.5]) + rng.normal(0, 0.2, (n, 2))
    shifts -= shifts[0]
    big = size + 64
    yy, xx = np.mgrid[0:big, 0:big].astype(float)
    base = np.cos(2 * np.pi * xx / period) + np.cos(2 * np.pi * yy / period)
    for cy, cx in rng.uniform(20, big - 20, (6, 2)):
        base -= 1.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0 ** 2))
    fy = np.fft.fftfreq(big)[:, None]
    fx = np.fft.rfftfreq(big)[None, :]
    spec = sf.rfft2(base)
    frames = [sf.irfft2(spec * np.exp(-2j * np.pi * (fx * dx + fy * dy)), s=(big, big))
              [32:32 + size, 32:32 + size] for dx, dy in shifts]
    lam = 40 * np.clip(1 + 0.3 * np.asarray(frames), 0.05, None)
    return rng.poisson(lam).astype(np.uint16), shifts


def test_tracking_resolves_periodic_ambiguity():
    data, shifts = _lattice_stack()
    d = mg.from_array(data)
    for method in ("reference", "all_pairs"):
        t = mg.run("alignment.register_stack", d, apply=False, method=method)
        assert np.abs(t["dx"] - shifts[:, 0]).max() < 0.1, method
        assert np.abs(t["dy"] - shifts[:, 1]).max() < 0.1, method
    # without tracking the drift beyond half a period is mistaken for a lattice translation
    t = mg.run("alignment.register_stack", d, apply=False, track=False)
    assert np.abs(t["dx"] - shifts[:, 0]).max() > 3.0


def test_window_pyramid_roi_and_max_shift(stack):
    d, shifts = stack
    sub = mg.from_array(d.numpy()[:20], scale=0.05, units="nm")
    s20 = shifts[:20]
    t = mg.run("alignment.register_stack", sub, apply=False, method="all_pairs", window=4)
    assert t.metadata["pairs"] == sum(20 - k for k in range(1, 5))
    assert _rms(t, s20) <= 0.06
    t = mg.run("alignment.register_stack", sub, apply=False, pyramid=2)
    assert _rms(t, s20) <= 0.05
    # region of interest in calibrated units (nm): the central 160 × 160 px
    t = mg.run("alignment.register_stack", sub, apply=False,
               roi={"x": (2.4, 10.4), "y": (2.4, 10.4)})
    assert _rms(t, s20) <= 0.08
    t = mg.run("alignment.register_stack", sub, apply=False, max_shift=3.0)
    assert np.abs(t["dx"]).max() <= 3.0 + 1e-6 and np.abs(t["dy"]).max() <= 3.0 + 1e-6


def test_lazy_stack_gives_the_same_shifts(stack, ref_table):
    da = pytest.importorskip("dask.array")
    d, _ = stack
    lazy = d.replace(data=da.from_array(d.numpy(), chunks=(7, 256, 256)))
    assert lazy.is_lazy
    t = mg.run("alignment.register_stack", lazy, apply=False)
    for c in ("dx", "dy", "quality"):
        np.testing.assert_allclose(t[c], ref_table[c], atol=1e-9, err_msg=c)


def test_bundled_drift_series_ground_truth():
    from importlib import resources

    path = resources.files("micrographia.resources") / "examples" / "drift_series.hspy"
    d = mg.open(str(path))
    gt = d.metadata["Micrographia"]["ground_truth"]
    aligned, t = mg.run("alignment.register_stack", d)
    assert np.abs(t["dx"] - np.asarray(gt["shift_x_px"])).max() < 0.08
    assert np.abs(t["dy"] - np.asarray(gt["shift_y_px"])).max() < 0.08
    # cropped to the common area: x loses the span of the x shifts (0 … 10.6 px)
    span_x = np.ptp(gt["shift_x_px"])
    assert 256 - np.ceil(span_x) - 1 <= aligned.shape[-1] <= 256 - np.floor(span_x)
    assert aligned.axes[0] == d.axes[0] and aligned.dtype == np.float32


def test_apply_shifts_round_trip_and_crop():
    data, shifts = _texture_stack(n=6, size=96, max_shift=6.0, noise=False, seed=3)
    d = mg.from_array(data, scale=0.5, units="nm")
    table = mg.Table({"dx": shifts[:, 0], "dy": shifts[:, 1]})
    # Fourier shift: there and back again is the identity up to the Nyquist components of
    # these even-sized frames (a real signal cannot hold them shifted by a fraction of a pixel;
    # the frames' wrap-around edges put a little energy there): < 0.5 % of the maximum
    there = mg.run("alignment.apply_shifts", d, table, border="keep")
    back = mg.run("alignment.apply_shifts", there, table, border="keep", invert=True)
    np.testing.assert_allclose(back.numpy(), data, atol=0.005 * data.max())
    assert np.sqrt(np.mean((back.numpy() - data) ** 2)) < 1e-3 * data.max()
    m = 10
    # cubic spline: identical in the area away from the borders the shifts touched
    there = mg.run("alignment.apply_shifts", d, table, interpolation="spline", border="keep")
    back = mg.run("alignment.apply_shifts", there, table, interpolation="spline",
                  border="keep", invert=True)
    np.testing.assert_allclose(back.numpy()[:, m:-m, m:-m], data[:, m:-m, m:-m],
                               atol=0.02 * data.max())
    # aligning the shifted frames: every frame shows frame 0's content in the common area
    aligned = mg.run("alignment.apply_shifts", d, table, interpolation="spline")
    a = aligned.numpy()
    x0 = int(np.ceil(np.max(-shifts[:, 0])))
    y0 = int(np.ceil(np.max(-shifts[:, 1])))
    assert aligned.axes[-1].offset == pytest.approx(0.5 * x0)
    assert aligned.axes[-2].offset == pytest.approx(0.5 * y0)
    ref = data[0, y0:y0 + a.shape[1], x0:x0 + a.shape[2]]
    np.testing.assert_allclose(a[:, 2:-2, 2:-2], np.broadcast_to(ref, a.shape)[:, 2:-2, 2:-2],
                               atol=0.03 * data.max())
    padded = mg.run("alignment.apply_shifts", d, table, border="pad", fill=-1.0)
    assert padded.shape == d.shape
    k = int(np.argmax(shifts[:, 0]))  # content moved right the most: its right edge is empty
    assert np.all(padded.numpy()[k, :, -1] == -1.0)


def test_apply_to_another_channel_and_several_navigation_axes(stack, ref_table):
    d, _ = stack
    sub = mg.from_array(d.numpy()[:6], scale=0.05, units="nm")
    t6 = mg.Table({c: ref_table[c][:6] for c in ("frame", "dx", "dy")})
    other = sub.replace(data=2.0 * sub.numpy().astype(np.float32) + 5.0)
    a = mg.run("alignment.apply_shifts", sub, t6).numpy()
    b = mg.run("alignment.apply_shifts", other, t6).numpy()
    np.testing.assert_allclose(b, 2.0 * a + 5.0, rtol=1e-4, atol=1e-2)
    grid = mg.from_array(sub.numpy().reshape(2, 3, 256, 256), scale=0.05, units="nm")
    tg = mg.run("alignment.register_stack", grid, apply=False)
    assert len(tg) == 6
    np.testing.assert_allclose(tg["dx"], ref_table["dx"][:6], atol=1e-4)
    out = mg.run("alignment.apply_shifts", grid, tg)
    assert out.shape[:2] == (2, 3)


def test_bad_input_is_refused_clearly(stack):
    d, _ = stack
    with pytest.raises(mg.ParameterError, match="at least 2 frames"):
        mg.run("alignment.register_stack", mg.from_array(np.ones((1, 32, 32))))
    with pytest.raises(mg.ParameterError, match="reference_frame"):
        mg.run("alignment.register_stack", d, reference="frame", reference_frame=99)
    with pytest.raises(mg.ParameterError, match="no axis|names axis"):
        mg.run("alignment.register_stack", d, roi={"z": (0.0, 1.0)})
    with pytest.raises(mg.ParameterError, match="rows"):
        mg.run("alignment.apply_shifts", d, mg.Table({"dx": [0.0], "dy": [0.0]}))
    with pytest.raises(mg.ParameterError, match="'dy'"):
        mg.run("alignment.apply_shifts", d, mg.Table({"dx": np.zeros(50)}))
    with pytest.raises(mg.ParameterError, match="method"):
        mg.run("alignment.register_stack", d, method="bogus")


def test_recorded_log_replays_identical_shifts(tmp_path):
    from micrographia import replay
    from micrographia.io import read_table

    data, _ = _texture_stack(n=8, size=96, max_shift=6.0, seed=5)
    src = mg.save(mg.from_array(data, scale=0.1, units="nm", title="s"), tmp_path / "s.hspy")
    rec = tmp_path / "rec"
    rec.mkdir()
    log = rec / "log.py"
    with mg.recording(log):
        d = mg.open(src)
        aligned, t = mg.run("alignment.register_stack", d, method="all_pairs")
        again = mg.run("alignment.apply_shifts", d, t)
        mg.save(t, rec / "shifts.csv")
        mg.save(again, rec / "again.hspy")
    text = log.read_text()
    assert 'mg.run("alignment.apply_shifts", d1, t1' in text
    out = tmp_path / "replayed"
    replay.run_program(replay.parse(text, str(log)), out=out)
    t2 = read_table(out / "shifts.csv")
    for c in ("dx", "dy", "quality"):
        np.testing.assert_array_equal(t2[c], read_table(rec / "shifts.csv")[c])
        np.testing.assert_array_equal(t2[c], t[c])
    np.testing.assert_array_equal(mg.open(out / "again.hspy").numpy(), aligned.numpy())
