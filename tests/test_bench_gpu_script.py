"""benchmarks/bench_gpu.py runs end to end (on the numpy stand-in for cupy: no timing meaning).

The script is what a session lent a GPU runs to report GPU/CPU ratios; this keeps it working on
machines without one. Its numbers here are meaningless (numpy on both sides) and not asserted.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench_gpu(monkeypatch):
    from _fake_cupy import install

    install(monkeypatch)
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_gpu", None)
    import bench_gpu

    yield bench_gpu
    sys.modules.pop("bench_gpu", None)


def test_bench_gpu_rows(bench_gpu, capsys):
    assert bench_gpu.main(["--size", "96", "--frames", "4", "--stack-size", "48", "-n", "1"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if re.search(r"\d+\.\d+×", ln)]
    assert any(ln.startswith("fft.power_spectrum") for ln in rows), out
    assert any(ln.startswith("filters.gaussian") for ln in rows), out
    assert "fell back" not in out and "error:" not in out, out
    for ln in rows:  # GPU and CPU results agree (relative difference printed last)
        diff = float(ln.split()[-1] if "table" not in ln else ln.split()[-3])
        assert diff < 1e-4, ln


def test_bench_gpu_without_gpu_says_why(monkeypatch, capsys):
    from micrographia import backend

    monkeypatch.setattr(backend, "_forced", {"available": False, "cupy": None,
                                             "reason": "no CUDA device"})
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_gpu", None)
    import bench_gpu

    assert bench_gpu.main([]) == 0
    assert "no usable GPU here (no CUDA device)" in capsys.readouterr().out
    sys.modules.pop("bench_gpu", None)
