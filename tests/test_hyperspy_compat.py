"""Files Micrographia writes open in HyperSpy itself with the same data and axes."""

import numpy as np
import pytest

import micrographia as mg

hs = pytest.importorskip("hyperspy.api",
                        reason="HyperSpy is not installed (pip install -e .[test])")


@pytest.mark.parametrize("kind", ["image", "stack", "si"])
def test_hspy_opens_in_hyperspy(tmp_path, kind):
    rng = np.random.default_rng(1)
    if kind == "image":
        d = mg.from_array(rng.random((20, 30)).astype(np.float32), scale=0.25, units="nm")
        cls = "Signal2D"
    elif kind == "stack":
        d = mg.Dataset(rng.integers(0, 500, (4, 20, 30), dtype=np.uint16),
                       [mg.Axis("t", 4, 0.5, 0.0, "s", navigate=True),
                        mg.Axis("y", 20, 0.1, 1.0, "nm"), mg.Axis("x", 30, 0.1, -2.0, "nm")])
        cls = "Signal2D"
    else:
        d = mg.from_array(rng.integers(0, 9, (5, 6, 64), dtype=np.uint16), signal_dims=1,
                          scale=10.0, units="eV")
        cls = "Signal1D"
    d = d.replace(title=f"my {kind}")
    f = mg.save(d, tmp_path / f"{kind}.hspy")
    s = hs.load(str(f))
    assert type(s).__name__ == cls or cls in [c.__name__ for c in type(s).__mro__]
    np.testing.assert_array_equal(s.data, d.data)
    assert s.metadata.General.title == f"my {kind}"
    hs_axes = s.axes_manager._axes  # array order, like ours
    assert len(hs_axes) == d.ndim
    for ours, theirs in zip(d.axes, hs_axes):
        assert theirs.size == ours.size
        assert theirs.scale == pytest.approx(ours.scale)
        assert theirs.offset == pytest.approx(ours.offset)
        assert theirs.navigate == ours.navigate
        if ours.units not in ("px", ""):
            assert theirs.units == ours.units
