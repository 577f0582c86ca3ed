import numpy as np
import pytest

import micrographia as mg
from micrographia.dataset import default_axes


def test_axes_and_roles():
    d = mg.from_array(np.zeros((4, 5, 6, 7), np.float32), scale=0.25, units="1/nm")
    assert d.kind == "4d"
    assert [a.name for a in d.axes] == ["scan_y", "scan_x", "ky", "kx"]
    assert d.nav_shape == (4, 5) and d.sig_shape == (6, 7)
    assert d.axes[-1].scale == 0.25 and d.axes[-1].units == "1/nm"
    assert d.axes[0].units == "px" and d.axes[0].navigate


@pytest.mark.parametrize("shape,sd,kind", [((8, 9), 2, "image"), ((3, 8, 9), 2, "stack"),
                                           ((100,), 1, "spectrum"),
                                           ((4, 5, 100), 1, "spectrum_image"),
                                           ((3, 100), 1, "signal1d_stack")])
def test_kinds(shape, sd, kind):
    assert mg.from_array(np.zeros(shape), signal_dims=sd).kind == kind


def test_immutable_and_copy_on_wrap():
    a = np.arange(12.0).reshape(3, 4)
    d = mg.from_array(a)
    a[0, 0] = 99  # the caller's array is not the dataset's
    assert d.data[0, 0] == 0
    with pytest.raises(ValueError):
        d.data[0, 0] = 5
    with pytest.raises(AttributeError):
        d.axes = ()
    with pytest.raises(TypeError):
        d.metadata["x"] = 1


def test_axis_validation():
    with pytest.raises(mg.ParameterError, match="size"):
        mg.Dataset(np.zeros((3, 4)), [mg.Axis("y", 3), mg.Axis("x", 5)])
    with pytest.raises(mg.ParameterError, match="navigation axes must come before"):
        mg.Dataset(np.zeros((3, 4)), [mg.Axis("y", 3), mg.Axis("t", 4, navigate=True)])
    with pytest.raises(mg.ParameterError, match="scale"):
        mg.Axis("x", 3, scale=0.0)


def test_axis_coords_and_index():
    ax = mg.Axis("E", 5, scale=10.0, offset=-20.0, units="eV")
    np.testing.assert_allclose(ax.coords, [-20, -10, 0, 10, 20])
    assert ax.index(5.0) == 2.5


def test_replace_keeps_original():
    d = mg.from_array(np.ones((2, 3)), title="a", metadata={"General": {"title": "a"}})
    e = d.replace(title="b")
    assert d.title == "a" and e.title == "b" and e.data is d.data
    assert e.metadata["General"]["title"] == "a"


def test_table_contract():
    t = mg.Table({"area": [1.0, 2.5], "label": [1, 2]}, units={"area": "nm^2"})
    assert t.columns == ("area", "label")
    np.testing.assert_array_equal(t["area"], [1.0, 2.5])
    assert t.units["area"] == "nm^2" and len(t) == 2
    assert list(t.rows()) == [(1.0, 1), (2.5, 2)]
    with pytest.raises(KeyError, match="columns are area, label"):
        t["nope"]
    with pytest.raises(mg.ParameterError):
        mg.Table({"a": [1, 2], "b": [1]})


def test_default_axes_names():
    assert [a.name for a in default_axes((5, 6, 7), 1)] == ["y", "x", "E"]
    assert [a.name for a in default_axes((5, 6, 7), 2)] == ["t", "y", "x"]
    with pytest.raises(mg.ParameterError):
        default_axes((5,), 2)


def test_lazy_dataset_stays_lazy():
    da = pytest.importorskip("dask.array")
    d = mg.from_array(da.zeros((10, 32, 32), chunks=(1, 32, 32)))
    assert d.is_lazy and d.nbytes == 10 * 32 * 32 * 8
    assert isinstance(d.compute().data, np.ndarray)
