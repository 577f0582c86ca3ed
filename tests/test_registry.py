from typing import Annotated, Literal

import numpy as np
import pytest

import micrographia as mg
from micrographia.registry import Registry


def op_example(dataset: mg.Dataset, other: mg.Dataset | None = None, *,
               sigma: Annotated[float, mg.Range(0, 10), mg.Units("px")] = 1.0,
               count: int = 3, mode: Literal["a", "b"] = "a", flag: bool = False,
               name: str = "x") -> mg.Dataset:
    """Do an example thing.

    Second paragraph.

    Parameters
    ----------
    dataset : Dataset
        The input.
    other : Dataset, optional
        Another.
    sigma : float
        Width of the thing.
    count : int
        How many.
    mode : {"a", "b"}
        Which mode,
        over two lines.
    flag : bool
        A switch.
    name : str
        A name.

    Returns
    -------
    Dataset
        Output.
    """
    return dataset


def test_spec_from_signature_and_docstring():
    reg = Registry()
    op = reg.add(op_example, id="test.example", menu="Process/Test")
    assert [i.name for i in op.inputs] == ["dataset", "other"]
    assert op.inputs[1].optional and not op.inputs[0].optional
    s = op.param("sigma")
    assert s.type is float and s.range == mg.Range(0, 10) and s.units == "px"
    assert s.help == "Width of the thing."
    assert op.param("mode").choices == ("a", "b")
    assert op.param("mode").help == "Which mode, over two lines."
    assert op.summary == "Do an example thing."
    assert op.title == "Example"


def test_bind_validates():
    op = Registry().add(op_example, id="test.example")
    d = mg.from_array(np.zeros((4, 4)))
    assert op.bind((d,), {"sigma": 2}) == {"sigma": 2.0, "count": 3, "mode": "a",
                                           "flag": False, "name": "x"}
    with pytest.raises(mg.ParameterError, match=r"sigma must be in \[0, 10\]"):
        op.bind((d,), {"sigma": 11})
    with pytest.raises(mg.ParameterError, match="one of 'a', 'b'"):
        op.bind((d,), {"mode": "c"})
    with pytest.raises(mg.ParameterError, match="integer"):
        op.bind((d,), {"count": 2.5})
    with pytest.raises(mg.ParameterError, match="no option"):
        op.bind((d,), {"sigmaa": 1})
    with pytest.raises(mg.ParameterError, match="input"):
        op.bind((), {})
    with pytest.raises(mg.ParameterError, match="must be a Dataset"):
        op.bind(("not a dataset",), {})
    with pytest.raises(mg.ParameterError, match="True or False"):
        op.bind((d,), {"flag": "yes"})
    with pytest.raises(mg.ParameterError, match="finite"):
        op.bind((d,), {"sigma": float("nan")})


def test_bad_registrations():
    reg = Registry()
    with pytest.raises(mg.ParameterError, match="group.name"):
        reg.add(op_example, id="NoDots")

    def positional_option(d: mg.Dataset, sigma: float = 1.0) -> mg.Dataset:
        """X."""
        return d

    with pytest.raises(mg.ParameterError, match="keyword-only"):
        reg.add(positional_option, id="test.bad")
    reg.add(op_example, id="test.example", plugin="one")
    with pytest.raises(mg.ParameterError, match="already registered by one"):
        reg.add(op_example, id="test.example", plugin="two")


def test_unknown_operation_suggests():
    with pytest.raises(mg.UnknownOperationError, match="did you mean filters.gaussian"):
        mg.run("filters.gausian", mg.from_array(np.zeros((3, 3))))


def test_builtin_operations_are_listed():
    ids = {o.id for o in mg.operations()}
    assert {"filters.gaussian", "fft.power_spectrum", "image.crop", "image.bin", "image.sum",
            "image.convert_dtype"} <= ids
    for o in mg.operations():
        assert o.menu, f"{o.id} has no menu path"
        assert o.summary, f"{o.id} has no docstring summary"
        for p in o.params:
            assert p.help, f"{o.id}: option {p.name} is undocumented"


def test_accepted_kinds_and_dtypes_gate_the_first_input():
    from micrographia.registry import Registry

    def label(mask: mg.Dataset) -> mg.Dataset:
        """Label a mask.

        Parameters
        ----------
        mask : Dataset
            A boolean image.

        Returns
        -------
        Dataset
            Labels.
        """
        return mask

    reg = Registry()
    op = reg.add(label, id="t.label", kinds=("signal2d",), dtypes="b")
    mask = mg.from_array(np.zeros((4, 5), bool))
    assert op.accepts(mask) and op.input_problem(mask) == ""
    grey = mg.from_array(np.zeros((4, 5), np.float32))
    assert "boolean (a mask)" in op.input_problem(grey)
    spectrum = mg.from_array(np.zeros(8, bool), signal_dims=1)
    assert "two signal axes" in op.input_problem(spectrum)
    with pytest.raises(mg.ParameterError, match="needs boolean"):
        op.bind((grey,), {})
    assert op.describe()["kinds"] == ["signal2d"] and op.describe()["dtypes"] == "b"
