"""GPU and CPU paths agree, on a real CUDA GPU (skipped where there is none).

Every operation registered with ``gpu=True`` runs once with the ``device`` setting at ``gpu`` and
once at ``cpu`` on the same inputs; the GPU run must not fall back to the CPU (no note) and must
give the CPU's numbers within float tolerance. ``tests/test_backend.py`` exercises the same
branches everywhere with a numpy-backed stand-in for cupy; this module is the real check.
"""

from __future__ import annotations

import pytest
from _gpu_parity import check_gpu_equals_cpu

import micrographia as mg
from micrographia import backend

if not backend.gpu_available():
    pytest.skip(f"no usable CUDA GPU here ({backend.probe().get('reason', 'probe failed')})",
                allow_module_level=True)

GPU_OPS = sorted(op.id for op in mg.operations() if op.gpu)


@pytest.mark.parametrize("op_id", GPU_OPS)
def test_gpu_equals_cpu(op_id, monkeypatch):
    check_gpu_equals_cpu(op_id, monkeypatch)
