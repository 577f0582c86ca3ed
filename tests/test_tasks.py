"""Background tasks: progress, cancellation, errors, concurrency (no Qt)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import micrographia as mg
from micrographia.frames import map_frames
from micrographia.tasks import TaskRunner, check_cancelled, current_task, report_progress


@pytest.fixture
def runner():
    r = TaskRunner(max_workers=2)
    yield r
    r.shutdown(wait=True, cancel_pending=True)


def _slow_frames(n_frames: int, delay: float) -> np.ndarray:
    def frame(f):
        time.sleep(delay)
        return f * 2

    return map_frames(frame, np.ones((n_frames, 4, 4), np.float32), signal_ndim=2,
                      out_dtype=np.float32, message="slow")


def test_outside_a_task_progress_and_cancel_are_noops():
    report_progress(0.5, "nothing listens")
    check_cancelled()
    assert current_task() is None
    assert _slow_frames(3, 0).sum() == 3 * 16 * 2


def test_progress_callbacks_increase_to_one(runner):
    seen = []
    gate = threading.Event()

    def work():
        gate.wait(5)
        return _slow_frames(20, 0.001)

    task = runner.submit(work)
    task.add_progress_callback(lambda f, m: seen.append((f, m)))
    gate.set()
    out = task.result(timeout=30)
    assert out.shape == (20, 4, 4)
    fractions = [f for f, _ in seen]
    assert len(fractions) == 20 and fractions == sorted(fractions)
    assert fractions[0] == pytest.approx(0.05) and fractions[-1] == 1.0
    assert seen[-1][1] == "slow" and task.message == "slow"
    assert task.progress == 1.0 and task.done() and not task.cancelled()


def test_progress_never_goes_backwards(runner):
    def work():
        report_progress(0.6, "a")
        report_progress(0.2, "b")
        return current_task()

    task = runner.submit(work)
    assert task.result(timeout=10) is task
    assert task.message == "b"
    assert task._state.progress == 0.6


def test_cancel_stops_a_long_loop_quickly(runner):
    task = runner.submit(_slow_frames, 2000, 0.005)  # ~10 s if not cancelled
    deadline = time.monotonic() + 10
    while task.progress == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert task.running()
    t0 = time.monotonic()
    assert task.cancel() is True
    with pytest.raises(mg.CancelledError):
        task.result(timeout=5)
    assert time.monotonic() - t0 < 2
    assert task.cancelled() and task.cancel_requested and 0 < task.progress < 1
    assert isinstance(task.exception(), mg.CancelledError)
    assert task.cancel() is False  # already finished


def test_cancel_before_start_never_runs():
    r = TaskRunner(max_workers=1)
    gate = threading.Event()
    ran = []
    try:
        first = r.submit(gate.wait, 10)
        second = r.submit(ran.append, 1)
        assert second.cancel()
        gate.set()
        assert first.result(timeout=10) is True
        with pytest.raises(mg.CancelledError):
            second.result(timeout=10)
        assert second.cancelled() and ran == []
    finally:
        r.shutdown()


def test_exceptions_propagate_and_done_callbacks(runner):
    def fail():
        raise ValueError("bad input")

    done = []
    task = runner.submit(fail)
    task.add_done_callback(done.append)
    with pytest.raises(ValueError, match="bad input"):
        task.result(timeout=10)
    assert isinstance(task.exception(), ValueError) and not task.cancelled()
    deadline = time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        time.sleep(0.001)
    assert done == [task]
    later = []
    task.add_done_callback(later.append)  # already done: called at once
    assert later == [task]
    assert "failed" in repr(task)


def test_many_concurrent_submits_are_recorded_on_success():
    rng = np.random.default_rng(0)
    stacks = [mg.from_array(rng.poisson(5, (3, 8, 8)).astype(np.uint16)) for _ in range(40)]
    with mg.recording() as rec:
        tasks = [mg.submit("image.sum", s) for s in stacks]
        bad = mg.submit("filters.gaussian", stacks[0], sigma=-1.0)
        results = [t.result(timeout=60) for t in tasks]
        with pytest.raises(mg.ParameterError):
            bad.result(timeout=60)
    for s, r in zip(stacks, results):
        np.testing.assert_array_equal(r.data, np.asarray(s.data).sum(axis=0))
    assert rec.text.count('mg.run("image.sum"') == 40
    assert "sigma=-1" not in rec.text
    assert tasks[0].name == "image.sum"


def test_submit_an_operation_reports_progress():
    d = mg.from_array(np.ones((30, 16, 16), np.float32))
    seen = []
    gate = threading.Event()
    from micrographia import tasks

    def run_after_gate():
        gate.wait(5)
        return mg.run("fft.power_spectrum", d)

    task = tasks.default_runner().submit(run_after_gate)
    task.add_progress_callback(lambda f, m: seen.append(f))
    gate.set()
    assert task.result(timeout=60).shape == (30, 16, 16)
    assert len(seen) == 30 and seen[-1] == 1.0


def test_map_frames_kinds_and_shapes():
    import dask.array as da

    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = map_frames(lambda f: f.T * 2, a, signal_ndim=2, out_dtype=np.float64,
                     out_sig_shape=(5, 4))
    assert out.shape == (2, 3, 5, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.swapaxes(a, -1, -2) * 2)
    lazy = map_frames(lambda f: f + 1, da.from_array(a, chunks=(1, 2, 2, 3)), signal_ndim=2,
                      out_dtype=np.float32)
    assert isinstance(lazy, da.Array) and lazy.chunks[2:] == ((4,), (5,))
    np.testing.assert_array_equal(lazy.compute(), a + 1)
    single = map_frames(lambda f: f, a[0, 0], signal_ndim=2, out_dtype=np.float32)
    assert single is not a[0, 0] and single.shape == (4, 5)
    spectra = map_frames(np.cumsum, mg.from_array(a, signal_dims=1), signal_ndim=1,
                         out_dtype=np.float32)
    np.testing.assert_array_equal(spectra, np.cumsum(a, axis=-1))
    with pytest.raises(ValueError, match="signal_ndim"):
        map_frames(np.sum, a, signal_ndim=5, out_dtype=np.float32)
