import numpy as np
import pytest

import micrographia as mg
from micrographia import settings


def test_open_missing_and_folder(tmp_path):
    with pytest.raises(mg.FileReadError, match="no such file"):
        mg.open(tmp_path / "nope.dm4")
    with pytest.raises(mg.FileReadError, match="is a folder"):
        mg.open(tmp_path)


def test_open_lazily_above_threshold(tmp_path, monkeypatch):
    d = mg.from_array(np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16))
    f = mg.save(d, tmp_path / "x.hspy")
    assert not mg.open(f).is_lazy
    monkeypatch.setenv("MICROGRAPHIA_LAZY_THRESHOLD", "100")
    settings.reset_cache()
    lazy = mg.open(f)
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), d.data)
    assert mg.open(f, lazy=False).is_lazy is False


def test_open_records_absolute_path(tmp_path, monkeypatch):
    mg.save(mg.from_array(np.ones((4, 4))), tmp_path / "a.hspy")
    monkeypatch.chdir(tmp_path)
    with mg.recording() as rec:
        mg.open("a.hspy")
    assert f'd1 = mg.open("{tmp_path / "a.hspy"}")' in rec.text


def test_display_validation_and_state():
    d = mg.from_array(np.ones((4, 4)))
    mg.display(d, cmap="grey", clim=(0, 1), gamma=0.5, mapping="log", invert=True)
    assert mg.display_settings(d) == {"cmap": "grey", "clim": (0.0, 1.0), "gamma": 0.5,
                                      "mapping": "log", "invert": True}
    assert mg.display_settings(mg.from_array(np.ones(3))) == {}
    for bad in ({"clim": (2, 1)}, {"gamma": 0}, {"mapping": "cubic"}, {"zoom": 2}):
        with pytest.raises(mg.ParameterError):
            mg.display(d, **bad)


def test_settings_file_and_environment(monkeypatch):
    s = settings.get()
    assert s.device == "auto" and s.lazy_threshold == 1 << 30
    s.device = "cpu"
    path = settings.save(s)
    assert path.is_file() and settings.get().device == "cpu"
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", "gpu")
    settings.reset_cache()
    assert settings.get().device == "gpu"
    path.write_text("{not json")
    monkeypatch.delenv("MICROGRAPHIA_DEVICE")
    settings.reset_cache()
    assert settings.get().device == "auto"  # a broken settings file is ignored
    with pytest.raises(ValueError):
        settings.Settings(device="tpu").validate()


def test_run_does_not_mutate_inputs():
    a = np.random.default_rng(0).random((3, 16, 16))
    d = mg.from_array(a)
    before = d.numpy().copy()
    for op in mg.operations():
        try:
            mg.run(op.id, d)
        except mg.ParameterError:
            continue
    np.testing.assert_array_equal(d.numpy(), before)
