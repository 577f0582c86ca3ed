"""Every CPU benchmark script runs end to end in its quickest mode (timings not asserted).

The scripts check that ours and the peer give the same numbers before timing them, so a run
also catches an operation whose result drifted from its peer's, or a script left behind by a
change of an operation's outputs. Each runs in a fresh process, as a user runs it. The app's
benchmark (``bench_app.py``, Qt) and the GPU one (``tests/test_bench_gpu_script.py``) are
covered elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

QUICKEST = {
    "bench_core_ops.py": ["--quick", "-n", "1"],
    "bench_filters.py": ["--smoke"],
    "bench_denoise.py": ["--quick", "-n", "1"],
    "bench_segment_peaks.py": ["--quick", "-n", "1"],
    "bench_alignment.py": ["--quick", "-n", "1"],
    "bench_alignment_pair.py": ["--quick"],
}


def test_every_cpu_benchmark_script_is_listed():
    scripts = {p.name for p in BENCH.glob("bench_*.py")}
    assert scripts - {"bench_app.py", "bench_gpu.py"} == set(QUICKEST)


@pytest.mark.parametrize("script", sorted(QUICKEST))
def test_benchmark_script_runs(script):
    env = dict(os.environ, MICROGRAPHIA_THREADS="2")
    proc = subprocess.run([sys.executable, str(BENCH / script), *QUICKEST[script]],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=BENCH.parent)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    # results (a markdown table, or peer/ours lines), and the load average it ran under, last
    assert "\n|---" in proc.stdout or "peer/ours" in proc.stdout, proc.stdout[-2000:]
    assert "load average" in proc.stdout.strip().splitlines()[-1], proc.stdout[-2000:]
