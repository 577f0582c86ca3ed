"""Background running: the TaskWatcher relays outcomes to the GUI thread; previews don't record."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import micrographia as mg
from micrographia.app.runner import BackgroundRunner, preview
from micrographia.tasks import check_cancelled, report_progress


@pytest.fixture
def runner(qtbot):
    r = BackgroundRunner()
    yield r
    r.shutdown()


def test_finished_delivers_result_in_gui_thread(qtbot, runner):
    seen = {}

    def on_finished(result):
        seen["result"] = result
        seen["thread"] = threading.current_thread()

    w = runner.submit(lambda a: a * 2, 21, name="double")
    w.finished.connect(on_finished)
    with qtbot.waitSignal(w.done, timeout=10000):
        pass
    assert seen["result"] == 42
    assert seen["thread"] is threading.main_thread()
    assert w.outcome == "finished" and w.result == 42
    assert runner.running() == []


def test_failed_gives_message_and_traceback(qtbot, runner):
    def boom():
        raise ValueError("no good value")

    w = runner.submit(boom)
    with qtbot.waitSignal(w.failed, timeout=10000) as blocker:
        pass
    msg, details = blocker.args
    assert msg == "no good value"
    assert "ValueError" in details and "boom" in details
    assert w.outcome == "failed"


def test_progress_and_cancel(qtbot, runner):
    started = threading.Event()

    def slow():
        for i in range(2000):
            report_progress(i / 2000, f"step {i}")
            started.set()
            check_cancelled()
            time.sleep(0.005)
        return "finished anyway"

    w = runner.submit(slow)
    progress = []
    w.progress.connect(lambda f, m: progress.append((f, m)))
    qtbot.waitUntil(lambda: len(progress) > 0, timeout=10000)
    assert 0.0 <= progress[-1][0] < 1.0 and progress[-1][1].startswith("step ")
    results = []
    w.finished.connect(results.append)
    with qtbot.waitSignal(w.cancelled, timeout=10000):
        w.cancel()
    assert w.outcome == "cancelled" and results == []


def test_run_records_and_preview_does_not(qtbot, runner):
    d = mg.from_array(np.arange(64.0).reshape(8, 8))
    with mg.recording() as rec:
        w = runner.run("filters.gaussian", [d], {"sigma": 1.5})
        with qtbot.waitSignal(w.done, timeout=10000):
            pass
        n = len(rec.lines)
        p = preview("filters.gaussian", [d], {"sigma": 1.5})
        assert len(rec.lines) == n  # nothing recorded by the preview
    assert any('mg.run("filters.gaussian"' in ln for ln in rec.lines)
    np.testing.assert_array_equal(p.numpy(), w.result.numpy())
    assert p.provenance is None or p.provenance is not w.result.provenance
