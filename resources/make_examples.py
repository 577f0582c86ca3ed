"""Make the bundled example datasets (deterministic; run from the repository root).

    python resources/make_examples.py

* ``examples/drift_series.hspy``: a simulated HAADF-STEM series of SrTiO3 [001] (a = 0.3905 nm),
  24 frames of 256 x 256 at 0.02 nm/px, drifting by a known linear drift plus jitter, with
  Poisson noise (about 40 counts on a Sr column). The true shift of every frame's content (x right,
  y down, in pixels) is in ``metadata.Micrographia.ground_truth``.
* ``examples/eds_si.hspy``: a synthetic EDS spectrum image, 40 x 40 pixels x 1024 channels of
  10 eV, of three phases (Fe oxide matrix, TiO2 particles, a SiO2 band) with Kramers background
  and Poisson counts (about 60 counts per pixel). The true abundance maps and pure spectra are in
  ``metadata.Micrographia.ground_truth``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import micrographia as mg

HERE = Path(__file__).resolve().parent / "examples"


def drift_series(n_frames: int = 24, size: int = 256, px: float = 0.02, seed: int = 7):
    rng = np.random.default_rng(seed)
    a = 0.3905  # nm
    sigma = 0.045  # nm, probe-broadened column width
    drift = np.array([0.45, -0.3])  # px/frame (x, y)
    jitter = rng.normal(0, 0.25, (n_frames, 2))
    shifts = np.arange(n_frames)[:, None] * drift + jitter
    shifts -= shifts[0]
    # columns in the unit cell: (fractional x, y, relative intensity ~ Z^1.7)
    basis = [(0.0, 0.0, 38 ** 1.7), (0.5, 0.5, (22 + 8) ** 1.7), (0.5, 0.0, 8 ** 1.7),
             (0.0, 0.5, 8 ** 1.7)]
    basis = [(fx, fy, w / 38 ** 1.7) for fx, fy, w in basis]
    yy, xx = np.mgrid[0:size, 0:size] * px
    n_cells = int(size * px / a) + 4
    vacancies = {(3, 4), (9, 6), (6, 10)}  # missing Sr columns (cell indices)
    thickness = 0.8 + 0.4 * (xx + 0.5 * yy) / (size * px)  # slow thickness gradient
    frames = []
    for sx, sy in shifts:
        img = np.zeros((size, size))
        for i in range(-2, n_cells):
            for j in range(-2, n_cells):
                for k, (fx, fy, w) in enumerate(basis):
                    if k == 0 and (i, j) in vacancies:
                        continue
                    cx = (i + fx) * a + sx * px
                    cy = (j + fy) * a + sy * px
                    if not (-0.3 < cx < size * px + 0.3 and -0.3 < cy < size * px + 0.3):
                        continue
                    x0, x1 = max(0, int((cx - 5 * sigma) / px)), int((cx + 5 * sigma) / px) + 2
                    y0, y1 = max(0, int((cy - 5 * sigma) / px)), int((cy + 5 * sigma) / px) + 2
                    sl = (slice(y0, y1), slice(x0, x1))
                    img[sl] += w * np.exp(-((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2)
                                          / (2 * sigma ** 2))
        expected = 2.0 + 40.0 * img * thickness
        frames.append(rng.poisson(expected))
    data = np.asarray(frames, dtype=np.uint16)
    axes = [mg.Axis("t", n_frames, 0.5, 0.0, "s", navigate=True),
            mg.Axis("y", size, px, 0.0, "nm"), mg.Axis("x", size, px, 0.0, "nm")]
    meta = {
        "General": {"title": "Simulated HAADF drift series, SrTiO3 [001]"},
        "Signal": {"signal_type": "", "quantity": "Intensity (counts)"},
        "Acquisition_instrument": {"TEM": {
            "beam_energy": 200.0, "microscope": "Micrographia simulation",
            "Detector": {"detector_type": "HAADF (simulated)"}}},
        "Micrographia": {"ground_truth": {
            "description": "true shift of each frame's content in px (x right, y down), "
                           "relative to frame 0",
            "shift_x_px": shifts[:, 0].tolist(), "shift_y_px": shifts[:, 1].tolist(),
            "lattice_parameter_nm": a}},
    }
    return mg.Dataset(data, axes, title="drift_series", metadata=meta)


def _line(energies, centre_kev, width_ev):
    sigma = width_ev / 2.3548 / 1000.0
    return np.exp(-0.5 * ((energies - centre_kev) / sigma) ** 2)


def eds_si(ny: int = 40, nx: int = 40, n_ch: int = 1024, seed: int = 11):
    rng = np.random.default_rng(seed)
    e = (np.arange(n_ch) + 0.5) * 0.01  # keV, channel centres
    e0 = 20.0
    brems = np.clip((e0 - e) / e, 0, None) * (1 - np.exp(-((e / 1.2) ** 3)))
    brems /= brems.sum()

    def fwhm(kev):  # detector resolution, eV
        return np.sqrt(2.5 * 3.8 * kev * 1000 + 60.0 ** 2)

    def lines(spec):
        s = np.zeros(n_ch)
        for centre, weight in spec:
            s += weight * _line(e, centre, fwhm(centre))
        return s / s.sum()

    pure = {
        "Fe oxide": lines([(6.404, 1.0), (7.058, 0.13), (0.705, 0.35), (0.525, 0.45)]),
        "TiO2": lines([(4.511, 1.0), (4.932, 0.14), (0.452, 0.2), (0.525, 0.6)]),
        "SiO2": lines([(1.740, 1.0), (0.525, 0.7)]),
    }
    yy, xx = np.mgrid[0:ny, 0:nx]
    ti = np.zeros((ny, nx))
    for cy, cx, r in [(10, 12, 5.5), (28, 30, 7.0), (30, 9, 4.0)]:
        ti = np.maximum(ti, 1 / (1 + np.exp((np.hypot(yy - cy, xx - cx) - r) / 0.8)))
    si = 1 / (1 + np.exp((np.abs(xx - 0.6 * yy - 14) - 3.0) / 0.8)) * (1 - ti)
    fe = np.clip(1 - ti - si, 0, 1)
    maps = np.stack([fe, ti, si])
    spectra = np.stack(list(pure.values()))
    counts_per_px = 60.0
    expected = counts_per_px * (0.75 * np.einsum("kyx,kc->yxc", maps, spectra) + 0.25 * brems)
    expected += counts_per_px * 0.01 * lines([(8.048, 1.0), (8.905, 0.13)])  # Cu grid
    data = rng.poisson(expected).astype(np.uint16)
    axes = [mg.Axis("y", ny, 0.5, 0.0, "µm", navigate=True),
            mg.Axis("x", nx, 0.5, 0.0, "µm", navigate=True),
            mg.Axis("Energy", n_ch, 0.01, 0.0, "keV")]
    meta = {
        "General": {"title": "Synthetic EDS spectrum image: Fe oxide, TiO2, SiO2"},
        "Signal": {"signal_type": "EDS_SEM", "quantity": "X-rays (counts)"},
        "Sample": {"elements": ["Fe", "O", "Si", "Ti"]},
        "Acquisition_instrument": {"SEM": {"beam_energy": e0, "microscope":
                                           "Micrographia simulation"}},
        "Micrographia": {"ground_truth": {
            "phases": list(pure), "abundance_maps": maps.astype(np.float32),
            "pure_spectra": spectra.astype(np.float32),
            "description": "expected counts = 60*(0.75*sum_k map_k*spectrum_k + 0.25*brems)"
                           " + 0.6*Cu lines; spectra normalised to unit sum"}},
    }
    return mg.Dataset(data, axes, title="eds_si", metadata=meta)


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, d in [("drift_series", drift_series()), ("eds_si", eds_si())]:
        path = mg.save(d, HERE / f"{name}.hspy")
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
