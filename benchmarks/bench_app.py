"""Desktop-app timings, side by side with pyqtgraph's own ``ImageView`` doing the same work.

Run (no display needed)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_app.py [--quick] [-n N]

What is timed (best of N after one warm-up call, in one process, ours and the peer one after
the other on the same data and with the same repaint):

* **cold start**: a fresh Python process per run (with bytecode caching allowed, as for an
  installed app; an unmeasured first run of each writes the ``.pyc`` files).  Ours runs
  ``MainWindow(record=True, interactive=False)`` (temporary session/config folders), shows it
  and opens ``resources/examples/drift_series.hspy`` (24×256×256 uint16) with
  ``MainWindow.open``; the peer loads the same array with h5py and shows it in
  ``pg.ImageView``.  The clock runs from just before the process is spawned to the end of the
  first paint event of the image's graphics viewport (seen by an event filter); the table also
  gives the time measured inside the script (from its first line) and the whole process wall
  time (exit included).  Best and median of the runs.
* **image update 4096² float32**: ours ``view.set_dataset(next)`` on an ``ImageView2D`` made by
  ``make_view`` (display range fixed with ``apply_display({"clim": ...})`` so nothing is
  re-contrasted; a second row turns on auto-contrast of every new image with
  ``set_auto_contrast(True)``: percentiles saturating 0.35 %, from a strided sample of about
  10⁶ values) against
  ``ImageView.setImage(frame, autoLevels=False)`` (second row: ``autoLevels=True``), each
  followed by the same forced paint: ``app.processEvents()`` (delivers the scene's update to
  the viewport, which paints) then ``widget.repaint()``; pyqtgraph renders the image through
  the levels and LUT inside ``ImageItem.paint``, and each timed call checks that it did (the
  item's QImage, dropped by ``setImage``, exists again).  Two different frames alternate so no cache
  can help.
* **histogram of that frame**: ours ``HistogramWindow.refresh_button.click()`` followed by
  ``HistogramWindow.wait()`` (the full recomputation, which runs in a worker thread: 256-bin
  ``numpy.histogram`` of all finite pixels plus exact min, max, mean, std, median, 1 %/99 %
  percentiles, and the plot update) against ``ImageView.ui.histogram
  .imageChanged(autoLevel=False)`` (what ImageView does on every new image: pyqtgraph's
  ``ImageItem.getHistogram()``, which **subsamples** the image to about 200×200 pixels, plus the
  plot update); reference rows: pyqtgraph ``getHistogram(bins=256, step=1)`` (all pixels) and
  plain ``numpy.histogram(frame, 256)``.  A further row gives how long the click itself holds
  the GUI thread (the request; the computation goes on in the worker).
* **frame stepping 100×1024×1024 uint16**: ours ``StackView.sliders[0].setValue(i)`` (the
  slider path a user drives) against ``ImageView.setCurrentIndex(i)`` (its time slider path,
  which also re-histograms every frame), each followed by the same forced paint; ms per frame,
  stepping through 20 consecutive frames, best of N passes.  A second row steps ours with a
  ``HistogramWindow`` open on the stack (its computations run in the worker, coalesced; the
  time is what the GUI thread spends per frame).

Both widgets are shown at the same size (1000×800) on the ``offscreen`` platform.  The peer
``ImageView`` is given an ``ImageItem(axisOrder="row-major")`` so it takes the same C-ordered
arrays without a transpose.  Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "resources" / "examples" / "drift_series.hspy"
SIZE = (1000, 800)

# -- cold start ------------------------------------------------------------------------------
_PAINT_WATCH = """
import time
T_SCRIPT0 = time.perf_counter()
import sys
from PySide6 import QtCore, QtWidgets


class PaintWatch(QtCore.QObject):
    def __init__(self):
        super().__init__()
        self.painted = False

    def eventFilter(self, obj, ev):
        if ev.type() == QtCore.QEvent.Type.Paint:
            self.painted = True
        return False


def wait_painted(viewport):
    watch = PaintWatch()
    viewport.installEventFilter(watch)
    app = QtWidgets.QApplication.instance()
    while not watch.painted:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 10)
    app.processEvents()  # the paint event itself has been handled: the image is drawn
    print(f"PAINTED {time.time():.6f} {time.perf_counter() - T_SCRIPT0:.6f}", flush=True)
"""

_OURS_START = _PAINT_WATCH + """
from micrographia.app.main_window import MainWindow

app = QtWidgets.QApplication(["micrographia"])
win = MainWindow(record=True, interactive=False)
win.show()
(iw,) = win.open(sys.argv[1])
iw.resize(SIZE_W, SIZE_H)
iw.show()
wait_painted(iw.view.graphics.viewport())
assert not win.errors, win.errors
win.shutdown()
""".replace("SIZE_W, SIZE_H", "{}, {}".format(*SIZE))

_PEER_START = _PAINT_WATCH + """
import h5py
import numpy as np
import pyqtgraph as pg

app = QtWidgets.QApplication(["peer"])
with h5py.File(sys.argv[1], "r") as f:
    name = next(iter(f["Experiments"]))
    data = np.asarray(f["Experiments"][name]["data"])
imv = pg.ImageView(imageItem=pg.ImageItem(np.zeros((2, 2)), axisOrder="row-major"))
imv.setImage(data)
imv.resize(SIZE_W, SIZE_H)
imv.show()
wait_painted(imv.ui.graphicsView.viewport())
""".replace("SIZE_W, SIZE_H", "{}, {}".format(*SIZE))


def cold_start(script: str, runs: int) -> dict[str, list[float]]:
    """Run ``script`` in fresh processes; spawn→painted, in-script and total wall times (ms)."""
    out: dict[str, list[float]] = {"painted": [], "script": [], "wall": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "start.py"
        path.write_text(script)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
                   MICROGRAPHIA_CONFIG_DIR=str(Path(tmp) / "cfg"),
                   MICROGRAPHIA_SESSION_DIR=str(Path(tmp) / "sessions"))
        # an installed app has its modules' bytecode cached, as pip caches the peer's; a
        # source checkout run with PYTHONDONTWRITEBYTECODE would compile ours at every start
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for _ in range(runs + 1):  # the first run warms the OS file cache (and writes .pyc)
            t_wall0 = time.time()
            p0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(path), str(EXAMPLE)], env=env,
                                  capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - p0
            line = [x for x in proc.stdout.splitlines() if x.startswith("PAINTED")]
            if proc.returncode != 0 or not line:
                raise RuntimeError(f"cold-start script failed:\n{proc.stdout}\n{proc.stderr}")
            _, t_painted, in_script = line[0].split()
            out["painted"].append((float(t_painted) - t_wall0) * 1e3)
            out["script"].append(float(in_script) * 1e3)
            out["wall"].append(wall * 1e3)
        for v in out.values():
            del v[0]
    return out


# -- in-process timings ----------------------------------------------------------------------
def best_of(fn: Callable[[], Any], n: int) -> float:
    """Best wall time of ``n`` calls in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    """Run all cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats (3), 3 cold starts, a 30-frame stack")
    parser.add_argument("-n", type=int, default=None, help="repeats (default 7, quick 3)")
    args = parser.parse_args(argv)
    n = args.n or (3 if args.quick else 7)
    n_cold = 3 if args.quick else 7
    n_frames = 30 if args.quick else 100

    rows: list[tuple[str, float, str, float]] = []

    # cold start first, before this process holds 1 GB of arrays
    ours_c = cold_start(_OURS_START, n_cold)
    peer_c = cold_start(_PEER_START, n_cold)
    for key, what in (("painted", "spawn → first paint"), ("script", "script line 1 → paint"),
                      ("wall", "whole process (exit incl.)")):
        for agg, f in (("best", min), ("median", statistics.median)):
            rows.append((f"cold start, {what}, {agg} of {n_cold}", f(ours_c[key]),
                         "pg.ImageView + h5py", f(peer_c[key])))

    import pyqtgraph as pg
    from PySide6 import QtWidgets

    import micrographia as mg
    from micrographia.app.display_tools import HistogramWindow
    from micrographia.app.views import make_view

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench"])

    def shown(w: QtWidgets.QWidget) -> QtWidgets.QWidget:
        w.resize(*SIZE)
        w.show()
        for _ in range(5):
            app.processEvents()
        return w

    def paint(w: QtWidgets.QWidget, item: Any) -> None:
        # the scene's update reaches the viewport through posted events: deliver them, then
        # paint synchronously; ImageItem renders (LUT, levels, QImage) inside its paint()
        app.processEvents()
        w.repaint()
        if item.qimage is None:  # setImage drops the QImage; a paint makes it anew
            raise RuntimeError("the image was not painted")

    # -- 4096² float32 image update
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:4096, 0:4096].astype(np.float32)
    lattice = (np.cos(xx * 0.3) * np.cos(yy * 0.3)).astype(np.float32)
    frames = [lattice + rng.normal(0, 0.3, lattice.shape).astype(np.float32) for _ in range(2)]
    del yy, xx, lattice
    datasets = [mg.from_array(f, scale=0.05, units="nm") for f in frames]
    view = shown(make_view(datasets[0]))
    lo, hi = np.percentile(frames[0], (0.5, 99.5))
    view.apply_display({"clim": (float(lo), float(hi))})
    imv = pg.ImageView(imageItem=pg.ImageItem(np.zeros((2, 2)), axisOrder="row-major"))
    imv.setImage(frames[0], levels=(float(lo), float(hi)))
    shown(imv)
    state = {"i": 0}

    def ours_update() -> None:
        state["i"] ^= 1
        view.set_dataset(datasets[state["i"]])
        paint(view, view.image_item)

    def peer_update(auto: bool = False) -> None:
        state["i"] ^= 1
        imv.setImage(frames[state["i"]], autoLevels=auto)
        paint(imv, imv.imageItem)

    rows.append(("image update 4096² f32, fixed range", best_of(ours_update, n),
                 "ImageView.setImage(autoLevels=False)", best_of(peer_update, n)))

    # auto-contrast: every new image gets its own range (ours: 0.35 % saturated percentiles
    # of a strided sample; pyqtgraph: min and max of a subsample)
    view.set_auto_contrast(True)
    rows.append(("image update 4096² f32, auto-contrast", best_of(ours_update, n),
                 "ImageView.setImage(autoLevels=True)",
                 best_of(lambda: peer_update(True), n)))
    view.set_auto_contrast(False)
    view.apply_display({"clim": (float(lo), float(hi))})

    # -- histogram of that frame
    hw = HistogramWindow(view)
    shown(hw)
    def ours_hist() -> None:
        hw.refresh_button.click()
        hw.wait()

    def click_only() -> float:
        times = []
        for _ in range(n + 1):
            t0 = time.perf_counter()
            hw.refresh_button.click()
            times.append(time.perf_counter() - t0)
            hw.wait()
        return min(times[1:]) * 1e3

    rows.append(("histogram 4096² f32 + statistics", best_of(ours_hist, n),
                 "ImageView histogram.imageChanged (subsampled)",
                 best_of(lambda: imv.ui.histogram.imageChanged(autoLevel=False), n)))
    rows.append(("histogram 4096² f32 + statistics", rows[-1][1],
                 "pg getHistogram(bins=256, step=1)",
                 best_of(lambda: imv.imageItem.getHistogram(bins=256, step=1), n)))
    rows.append(("histogram 4096² f32 + statistics", rows[-1][1], "numpy.histogram(256)",
                 best_of(lambda: np.histogram(view.current_frame(), 256), n)))
    rows.append(("histogram 4096² f32, GUI thread held by the click", click_only(),
                 "ImageView histogram.imageChanged (subsampled)", rows[-3][3]))
    hw.close()
    hw.deleteLater()
    view.close()
    imv.close()
    view.deleteLater()
    imv.deleteLater()
    app.processEvents()
    frames.clear()
    datasets.clear()

    # -- frame stepping on a 100×1024×1024 uint16 stack
    base = rng.integers(0, 4000, size=(1024, 1024), dtype=np.uint16)
    stack = np.empty((n_frames, 1024, 1024), np.uint16)
    for k in range(n_frames):
        stack[k] = np.roll(base, k, axis=1)
    del base
    ds = mg.from_array(stack)  # copies: ours and the peer read separate, equal arrays
    sview = shown(make_view(ds))
    simv = pg.ImageView(imageItem=pg.ImageItem(np.zeros((2, 2)), axisOrder="row-major"))
    simv.setImage(stack)
    shown(simv)
    steps = min(20, n_frames - 1)
    pos = {"ours": 0, "peer": 0}

    def ours_step() -> None:
        for _ in range(steps):
            pos["ours"] = (pos["ours"] + 1) % n_frames
            sview.sliders[0].setValue(pos["ours"])
            paint(sview, sview.image_item)

    def peer_step() -> None:
        for _ in range(steps):
            pos["peer"] = (pos["peer"] + 1) % n_frames
            simv.setCurrentIndex(pos["peer"])
            paint(simv, simv.imageItem)

    label = f"frame step {n_frames}×1024² u16, per frame"
    rows.append((label, best_of(ours_step, n) / steps, "ImageView.setCurrentIndex",
                 best_of(peer_step, n) / steps))
    assert sview.current_index() == (pos["ours"],)
    assert simv.currentIndex == pos["peer"]
    shw = shown(HistogramWindow(sview))
    shw.wait()
    rows.append((f"{label}, Histogram window open", best_of(ours_step, n) / steps,
                 "ImageView.setCurrentIndex", rows[-1][3]))
    shw.wait()
    shw.close()

    print(f"# bench_app.py — best of {n} (after a warm-up); cold start: {n_cold} processes")
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}, pyqtgraph {pg.__version__}, "
          f"PySide6 {__import__('PySide6').__version__}, "
          f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}")
    w = max(len(r[0]) for r in rows)
    wp = max(len(r[2]) for r in rows)
    print(f"{'case':<{w}} {'ours ms':>9}  {'peer':<{wp}} {'peer ms':>9} {'peer/ours':>9}")
    for case, ours, peer, peer_ms in rows:
        print(f"{case:<{w}} {ours:9.1f}  {peer:<{wp}} {peer_ms:9.1f} {peer_ms / ours:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
