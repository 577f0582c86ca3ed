import json

import numpy as np

import micrographia as mg
from micrographia.cli import main


def test_operations_json(capsys):
    assert main(["operations", "--json"]) == 0
    ops = {o["id"]: o for o in json.loads(capsys.readouterr().out)}
    g = ops["filters.gaussian"]
    assert g["menu"] == "Process/Filters"
    sigma = next(p for p in g["params"] if p["name"] == "sigma")
    assert sigma["type"] == "float" and sigma["default"] == 1.0


def test_operations_text(capsys):
    assert main(["operations"]) == 0
    lines = capsys.readouterr().out.splitlines()
    gauss = [ln for ln in lines if ln.startswith("filters.gaussian ")]
    assert len(gauss) == 1 and " CPU+GPU " in gauss[0]  # where it can run
    (water,) = [ln for ln in lines if ln.startswith("segment.watershed ")]
    assert " CPU " in water and "GPU" not in water


def test_info_on_saved_file(tmp_path, capsys):
    d = mg.from_array(np.zeros((3, 16, 20), np.float32), scale=0.5, units="nm", title="stack")
    f = mg.save(d, tmp_path / "s.hspy")
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    for word in ("stack", "(3, 16, 20)", "float32", "nm", "0.5"):
        assert word in out


def test_info_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "broken.dm3"
    bad.write_bytes(b"\x00\x01garbage" * 10)
    assert main(["info", str(bad), str(tmp_path / "missing.tif")]) == 1
    err = capsys.readouterr().err
    assert "broken.dm3" in err and "missing.tif" in err
    assert "Traceback" not in err


def test_formats(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    for ext in (".dm3", ".emd", ".bcf", ".mrc", ".hspy", ".tif"):
        assert ext in out


def test_no_arguments_without_app_explains(capsys):
    import importlib.util

    if importlib.util.find_spec("micrographia.app") is not None:
        return  # the app exists: no-argument start opens it (tested with the app)
    assert main([]) == 2
    assert "micrographia demo" in capsys.readouterr().err


def test_demo_replays_bundled_example(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "demo") in out
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert "drift_series_sum.hspy" in written and "drift_series_fft.png" in written
    s = mg.open(tmp_path / "demo" / "drift_series_sum.hspy")
    assert s.kind == "image" and s.axes[-1].units == "nm"


def test_device_report(capsys):
    assert main(["device"]) == 0
    out = capsys.readouterr().out
    assert "selected" in out and ("cpu" in out or "gpu" in out)
