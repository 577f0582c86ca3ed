"""GPU-versus-CPU parity check shared by tests/test_gpu_real.py (a real GPU) and
tests/test_backend.py (the numpy-backed stand-in of tests/_fake_cupy.py)."""

from __future__ import annotations

import numpy as np

import micrographia as mg
from micrographia import settings
from micrographia.compute import execute

# Options that make an op's GPU and CPU results comparable to float tolerance. With the default
# upsample=20 the last sub-pixel refinement of register_stack is single precision: its shifts
# move by ~1e-4 px with how pairs are batched (threads on the CPU, one batch on the GPU), which
# on pure-noise frames exceeds the tolerance on the aligned pixels; from upsample 50 on they
# agree to ~1e-12 px.
PARITY_PARAMS = {"alignment.register_stack": {"upsample": 100}}


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


def _mask_samples():
    rng = np.random.default_rng(6)
    mask = rng.random((3, 64, 80)) < 0.4
    return [mg.from_array(mask[0], scale=0.05, units="nm", title="mask"),
            mg.from_array(mask, scale=0.2, units="nm", title="mask stack")]


def check_gpu_equals_cpu(op_id, monkeypatch, samples=None):
    """Run ``op_id`` on the GPU and on the CPU; assert equal results and no CPU fallback."""
    op = mg.operation(op_id)
    if samples is None:
        samples = _samples()
        if not any(op.accepts(ds) for ds in samples):  # mask-only ops (segment.morphology ...)
            samples = _mask_samples()
    ran = 0
    for ds in samples:
        if not op.accepts(ds):
            continue
        params = dict(PARITY_PARAMS.get(op_id, {}))
        if "region" in {p.name for p in op.params}:
            ax = ds.axes[-1]
            params["region"] = {ax.name: (ax.offset, ax.offset + ax.scale * (ax.size // 2))}
        try:
            bound = op.bind((ds,), params)
        except mg.ParameterError:  # pragma: no cover - depends on the op
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
