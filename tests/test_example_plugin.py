"""The example third-party plugin in examples/ is found through its entry point, like any other."""

import numpy as np
import pytest

import micrographia as mg


@pytest.fixture
def example_plugin():
    info = {p.name: p for p in mg.plugin_report()}.get("example")
    if info is None:
        pytest.skip("examples/micrographia-example-plugin is not installed (make test installs it)")
    return info


def test_example_plugin_is_discovered(example_plugin):
    assert example_plugin.loaded, example_plugin.error
    assert example_plugin.distribution == "micrographia-example-plugin"
    assert example_plugin.operations == ["example.invert"]
    op = mg.operation("example.invert")
    assert op.menu == "Plugins/Example" and op.param("about").choices == ("range", "zero")


def test_example_plugin_runs_and_records(example_plugin):
    d = mg.from_array(np.array([[0, 1], [2, 10]], dtype=np.uint16))
    with mg.recording() as rec:
        r = mg.run("example.invert", d)
    np.testing.assert_array_equal(r.data, [[10, 9], [8, 0]])
    assert r.dtype == np.float32
    assert 'mg.run("example.invert", d1, about="range")' in rec.text
