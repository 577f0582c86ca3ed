import ast

import numpy as np
import pytest

import micrographia as mg
from micrographia.recorder import Recorder, format_value


@pytest.mark.parametrize("value", [1, -2, 1.5, 0.1 + 0.2, 1e-300, True, None, "a'b", 'q"', "µm",
                                   (1, 2.5), (3,), [1, "x"], {"x": (0, 10)}, ()])
def test_format_value_round_trips(value):
    assert ast.literal_eval(format_value(value)) == value


def test_format_value_numpy_and_errors():
    assert format_value(np.float32(0.5)) == "0.5"
    assert format_value(np.int64(3)) == "3"
    with pytest.raises(ValueError):
        format_value(float("inf"))
    with pytest.raises(ValueError):
        format_value(object())


def test_log_lines_are_written_and_flushed_as_they_happen(tmp_path):
    path = tmp_path / "session.py"
    d = mg.from_array(np.ones((8, 8)))
    with mg.recording(path) as rec:
        g = mg.run("filters.gaussian", d, sigma=1.5)
        # flushed before the block ends: a crash now would lose nothing that completed
        text = path.read_text()
        assert 'd2 = mg.run("filters.gaussian", d1, sigma=1.5, units="px")' in text
        mg.display(g, cmap="grey", clim=(0, 2))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# Micrographia ")
    assert lines[1] == "import micrographia as mg"
    assert lines[-1] == 'mg.display(d2, cmap="grey", clim=(0.0, 2.0))'
    assert rec.text == path.read_text()
    ast.parse(rec.text)  # valid Python


def test_nothing_recorded_outside_or_after_failure():
    d = mg.from_array(np.ones((8, 8)))
    mg.run("filters.gaussian", d)
    with mg.recording() as rec:
        with pytest.raises(mg.ParameterError):
            mg.run("filters.gaussian", d, sigma=-1)
    assert "filters.gaussian" not in rec.text
    with pytest.raises(mg.ParameterError, match="unknown display setting"):
        mg.display(d, colour="red")


def test_tuple_results_and_list_references():
    from micrographia.provenance import OpenNode, Ref, RunNode

    rec = Recorder(None, header="# test")
    node = OpenNode("/data/multi.emd")
    sigs = [mg.from_array(np.zeros((4, 4))).replace(provenance=Ref(node, i)) for i in range(3)]
    rec.record_open(sigs, node)
    run = RunNode("x.split", (sigs[2].provenance,), (("n", 2),))
    a = mg.from_array(np.zeros(2)).replace(provenance=Ref(run, 0))
    t = mg.Table({"v": [1]}, provenance=Ref(run, 1))
    rec.record_run((a, t), run, (sigs[2],))
    rec.record_save(t, "t.csv")
    assert rec.lines[2:] == ['f1 = mg.open("/data/multi.emd")',
                             'd1, t1 = mg.run("x.split", f1[2], n=2)',
                             'mg.save(t1, "t.csv")']


def test_unknown_dataset_is_written_from_its_provenance():
    """A dataset made before recording started is introduced by its provenance lines."""
    from micrographia.provenance import OpenNode, Ref

    node = OpenNode("/data/a.dm4")
    d = mg.from_array(np.ones((6, 6))).replace(provenance=Ref(node))
    g = mg.run("filters.gaussian", d, sigma=1.0)  # not recorded
    with mg.recording() as rec:
        mg.run("filters.gaussian", g, sigma=2.0)
    assert rec.lines[2:] == [
        'd1 = mg.open("/data/a.dm4")',
        'd2 = mg.run("filters.gaussian", d1, sigma=1.0, units="px")',
        'd3 = mg.run("filters.gaussian", d2, sigma=2.0, units="px")',
    ]


def test_in_memory_data_is_flagged_not_reproducible():
    with mg.recording() as rec:
        mg.run("filters.gaussian", mg.from_array(np.ones((3, 3))))
    assert "made in memory: not reproducible" in rec.text
