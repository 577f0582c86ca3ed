"""A real (X11, not offscreen) window under Xvfb: ``micrographia --screenshot`` of example data.

The app runs in a child process under ``xvfb-run`` with Qt's ``xcb`` platform, opens the bundled
simulated HAADF series (SrTiO3 [001], lattice parameter 0.3905 nm, 0.02 nm/px) and writes a PNG
of its windows.  The picture is then checked as a user would look at it: the lattice is drawn,
the scale bar is there, and the lattice spacing measured on screen against the scale bar is the
true one — i.e. the image, its calibration and the scale bar agree on the screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "resources" / "examples" / "drift_series.hspy"

pytestmark = pytest.mark.skipif(shutil.which("xvfb-run") is None,
                                reason="xvfb-run is not installed (apt-get install xvfb xauth)")


def _scale_bar(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Find the scale bar: a white bar 2–10 px thick and ≥ 30 px long on a dark background.

    Returns ``(length, row, column, thickness)`` of the one found.
    """
    white = (rgb >= 250).all(-1)
    dark = (rgb <= 60).all(-1)
    found = []
    for r in range(1, white.shape[0] - 12):
        row = np.concatenate([[0], white[r].astype(np.int8), [0]])
        d = np.diff(row)
        for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True):
            if e - s < 30 or white[r - 1, s:e].all():
                continue
            t = 1
            while white[r + t, s:e].all():
                t += 1
            if 2 <= t <= 10 and dark[r - 1, s:e].mean() > 0.5:
                found.append((int(e - s), r, int(s), t))
    assert len(found) == 1, f"expected one scale bar, found {found}"
    return found[0]


def _period(profile: np.ndarray) -> float:
    """Dominant period (px) of a 1-D profile, from its zero-padded, windowed spectrum."""
    p = profile - profile.mean()
    n = 1 << 15
    spec = np.abs(np.fft.rfft(p * np.hanning(p.size), n)) ** 2
    spec[: n // p.size * 3] = 0  # ignore the slowest variations
    return n / float(np.argmax(spec))


def test_screenshot_of_a_real_window_under_xvfb(tmp_path):
    from scipy import ndimage as ndi

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb",
               MICROGRAPHIA_CONFIG_DIR=str(tmp_path / "cfg"),
               MICROGRAPHIA_SESSION_DIR=str(tmp_path / "sessions"))
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m",
           "micrographia.app", "--screenshot", str(out), str(EXAMPLE)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)
    if proc.returncode != 0 and "could not connect to display" in proc.stderr.lower():
        pytest.skip(f"Xvfb could not start here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file()
    assert not any(p.name.startswith(".shot.png") for p in tmp_path.iterdir())  # atomic

    from PIL import Image

    rgb = np.asarray(Image.open(out).convert("RGB")).astype(np.int16)
    # main window on top and the image window below it
    assert rgb.shape[0] > 600 and rgb.shape[1] > 500

    # the image: the largest grey, strongly textured area
    g = rgb.mean(-1)
    grey = np.ptp(rgb, axis=-1) == 0
    m = ndi.uniform_filter(g, 15)
    s = np.sqrt(np.maximum(ndi.uniform_filter(g * g, 15) - m * m, 0))
    mask = ndi.binary_opening((s > 20) & grey, iterations=8)
    lab, n = ndi.label(mask)
    assert n >= 1, "no image drawn"
    sizes = ndi.sum(mask, lab, range(1, n + 1))
    k = int(np.argmax(sizes)) + 1
    assert sizes[k - 1] > 200 * 200, "the image area is too small"
    cy, cx = (int(round(v)) for v in ndi.center_of_mass(lab == k))
    box = g[cy - 100:cy + 100, cx - 100:cx + 100]
    assert box.std() > 30  # the lattice, not a flat window

    # the scale bar (1 nm for this 5.12 nm field of view) and the lattice measured against it:
    # column projections repeat every a/2 = 0.195 nm (the Ti-O columns sit half-way)
    bar_px, *_ = _scale_bar(rgb)
    a_half = 0.3905 / 2
    for profile in (box.mean(axis=0), box.mean(axis=1)):
        period_nm = _period(profile) / bar_px * 1.0
        assert period_nm == pytest.approx(a_half, rel=0.03)
