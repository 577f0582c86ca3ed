"""GPU and CPU paths agree, on a real CUDA GPU (skipped where there is none).

Every operation registered with ``gpu=True`` runs once with the ``device`` setting at ``gpu`` and
once at ``cpu`` on the same inputs; the GPU run must not fall back to the CPU (no note) and must
give the CPU's numbers within float tolerance. ``tests/test_backend.py`` exercises the same
branches everywhere with a numpy-backed stand-in for cupy; this module is the real check.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia import backend, settings
from micrographia.compute import execute

if not backend.gpu_available():
    pytest.skip(f"no usable CUDA GPU here ({backend.probe().get('reason', 'probe failed')})",
                allow_module_level=True)

GPU_OPS = sorted(op.id for op in mg.operations() if op.gpu)


def _set_device(monkeypatch, device):
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", device)
    settings.reset_cache()


def _samples():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:256, 0:256]
    lattice = 50 + 20 * np.cos(2 * np.pi * xx / 8.0) * np.cos(2 * np.pi * yy / 8.0)
    image = (lattice + rng.normal(0, 3, lattice.shape)).astype(np.float32)
    stack = rng.poisson(40, (4, 128, 96)).astype(np.uint16)
    return [mg.from_array(image, scale=0.05, units="nm", title="image"),
            mg.from_array(stack, scale=0.2, units="nm", title="stack")]


@pytest.mark.parametrize("op_id", GPU_OPS)
def test_gpu_equals_cpu(op_id, monkeypatch):
    op = mg.operation(op_id)
    ran = 0
    for ds in _samples():
        if not op.accepts(ds):
            continue
        params = {}
        if "region" in {p.name for p in op.params}:
            ax = ds.axes[-1]
            params["region"] = {ax.name: (ax.offset, ax.offset + ax.scale * (ax.size // 2))}
        try:
            bound = op.bind((ds,), params)
        except mg.ParameterError:
            continue
        _set_device(monkeypatch, "gpu")
        gpu_result, notes = execute(op, (ds,), bound)
        assert notes == [], notes  # really ran on the GPU
        _set_device(monkeypatch, "cpu")
        cpu_result, _ = execute(op, (ds,), bound)
        gpu_items = gpu_result if isinstance(gpu_result, tuple) else (gpu_result,)
        cpu_items = cpu_result if isinstance(cpu_result, tuple) else (cpu_result,)
        for g, c in zip(gpu_items, cpu_items, strict=True):
            if isinstance(c, mg.Dataset):
                assert g.axes == c.axes and g.dtype == c.dtype
                scale = float(np.max(np.abs(c.numpy()))) or 1.0
                np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=1e-4, atol=1e-5 * scale)
            else:
                for name in c.columns:
                    np.testing.assert_allclose(g[name], c[name], rtol=1e-4, atol=1e-6)
        ran += 1
    assert ran, f"{op_id}: no sample accepted"
