"""Saved files carry the slice of the log they depend on; replaying it reproduces them."""

import numpy as np
import pytest

import micrographia as mg
from micrographia.cli import main


@pytest.fixture
def input_file(tmp_path):
    rng = np.random.default_rng(3)
    d = mg.from_array(rng.poisson(30, (4, 40, 48)).astype(np.uint16), scale=0.1, units="nm")
    return mg.save(d, tmp_path / "inputs" / "series.hspy")


def test_provenance_is_the_minimal_slice(input_file, tmp_path):
    out = tmp_path / "session"
    with mg.recording(out / "log.py"):
        d1 = mg.open(input_file)
        g = mg.run("filters.gaussian", d1, sigma=1.0)
        mg.run("filters.gaussian", d1, sigma=3.0)  # a branch the result does not depend on
        s = mg.run("filters.gaussian", g, sigma=0.5, units="calibrated")
        mg.save(s, out / "result.hspy")
    log = mg.io.read_provenance(out / "result.hspy")
    lines = [ln for ln in log.splitlines() if not ln.startswith("#")]
    assert lines == [
        "import micrographia as mg",
        f'd1 = mg.open("{input_file}")',
        'd2 = mg.run("filters.gaussian", d1, sigma=1.0, units="px")',
        'd3 = mg.run("filters.gaussian", d2, sigma=0.5, units="calibrated")',
        'mg.save(d3, "result.hspy")',
    ]
    sha = mg.provenance.file_sha256(input_file)
    assert f"# input {input_file}: sha256 {sha}" in log
    assert "sigma=3.0" not in log
    assert log.startswith(f"# Micrographia {mg.__version__} provenance")


def test_provenance_replay_reproduces_file_bit_for_bit(input_file, tmp_path, capsys):
    first = tmp_path / "first"
    d = mg.open(input_file)
    r = mg.run("filters.gaussian", mg.run("filters.gaussian", d, sigma=2.0), sigma=1.0)
    saved = mg.save(r, first / "OUT.hspy")
    assert main(["provenance", str(saved), "-o", str(tmp_path / "prov.py")]) == 0
    again = tmp_path / "again"
    assert main(["replay", str(tmp_path / "prov.py"), "--out", str(again)]) == 0
    assert (again / "OUT.hspy").read_bytes() == saved.read_bytes()
    capsys.readouterr()
    assert main(["provenance", str(saved)]) == 0
    assert 'mg.save(d3, "OUT.hspy")' in capsys.readouterr().out


def test_file_without_provenance(tmp_path, capsys):
    import h5py

    f = tmp_path / "plain.hspy"
    with h5py.File(f, "w") as h:
        h.attrs["file_format"] = "HyperSpy"
    assert main(["provenance", str(f)]) == 1


def test_changed_input_is_flagged(input_file, tmp_path):
    d = mg.open(input_file)
    g = mg.run("filters.gaussian", d)
    input_file.write_bytes(input_file.read_bytes() + b"\0")  # the file changed after opening
    log = mg.provenance.log_for(g)
    assert "sha256 unknown (file changed or missing)" in log
