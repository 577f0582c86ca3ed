"""Helpers shared by the replay tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import micrographia as mg


def make_input(path: Path, seed: int = 0, shape=(24, 32), scale: float = 0.25) -> Path:
    """Write a small calibrated random image as .hspy and return its path."""
    rng = np.random.default_rng(seed)
    d = mg.from_array(rng.normal(100, 10, shape).astype(np.float32), scale=scale, units="nm",
                      title=f"sample {seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(mg.save(d, path))


def assert_same(a, b, where: str = "") -> None:
    """Datasets (or tables) hold equal arrays, dtypes and axes."""
    if isinstance(a, mg.Table):
        assert isinstance(b, mg.Table), where
        assert a.columns == b.columns, where
        for c in a.columns:
            np.testing.assert_array_equal(a[c], b[c], err_msg=f"{where}: column {c}")
        return
    assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != {b.dtype}"
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
    assert a.axes == b.axes, f"{where}: axes differ\n{a.axes}\n{b.axes}"
