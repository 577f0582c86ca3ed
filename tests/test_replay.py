"""Replaying recorded logs headlessly: outputs, input swaps, paths, errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _replay_helpers import assert_same, make_input

import micrographia as mg
from micrographia import replay
from micrographia.cli import main


@pytest.fixture
def data(tmp_path) -> dict[str, Path]:
    return {"a": make_input(tmp_path / "data" / "a.hspy", seed=1),
            "b": make_input(tmp_path / "data" / "b.hspy", seed=2, shape=(20, 28), scale=0.5)}


def _table_op_id(d) -> str | None:
    """An operation that returns a Table on an image, if one is registered."""
    for op in mg.operations():
        try:
            r = mg.run(op.id, d)
        except Exception:
            continue
        if isinstance(r, mg.Table):
            return op.id
    return None


@pytest.fixture
def recorded(data, tmp_path, monkeypatch):
    """A recorded session: open, gaussian twice, display, save (absolute + relative)."""
    rec = tmp_path / "recording"
    rec.mkdir()
    monkeypatch.chdir(rec)
    table_op = _table_op_id(mg.open(data["a"]))
    with mg.recording(rec / "log.py"):
        d = mg.open(data["a"])
        g1 = mg.run("filters.gaussian", d, sigma=1.0)
        g2 = mg.run("filters.gaussian", g1, sigma=0.5, units="calibrated")
        mg.display(g2, cmap="viridis", clim=(0.0, 1.0))
        mg.save(g2, rec / "smooth.hspy")  # absolute path
        mg.save(g1, "first.hspy")  # relative path
        saves = ["smooth.hspy", "first.hspy"]
        if table_op:
            mg.save(mg.run(table_op, g2), "table.csv")
            saves.append("table.csv")
    monkeypatch.chdir(tmp_path)
    return {"log": rec / "log.py", "dir": rec, "saves": saves}


def _load(path: Path):
    if path.suffix == ".csv":
        from micrographia.io import read_table

        return read_table(path)
    return mg.open(path)


def _expected(path: Path) -> dict[str, mg.Dataset]:
    d = mg.open(path)
    g1 = mg.run("filters.gaussian", d, sigma=1.0)
    g2 = mg.run("filters.gaussian", g1, sigma=0.5, units="calibrated")
    return {"smooth.hspy": g2, "first.hspy": g1}


def test_log_has_the_recorded_forms(recorded):
    text = recorded["log"].read_text()
    assert 'd2 = mg.run("filters.gaussian", d1, sigma=1.0, units="px")' in text
    assert 'mg.display(d3, cmap="viridis", clim=(0.0, 1.0))' in text
    assert f'mg.save(d3, "{recorded["dir"] / "smooth.hspy"}")' in text
    assert 'mg.save(d2, "first.hspy")' in text


def test_run_program_reproduces_the_session(recorded, data, tmp_path):
    log = recorded["log"]
    program = replay.parse(log.read_text(), str(log))
    out = tmp_path / "out"
    seen = []
    result = replay.run_program(program, out=out,
                                progress=lambda k, n, step: seen.append((k, n, step.lineno)))
    assert result.outputs == [out / s for s in recorded["saves"]]
    assert seen[-1][0] == seen[-1][1] == len(program.steps)
    for name in recorded["saves"]:
        assert_same(_load(recorded["dir"] / name), _load(out / name), name)
    for name, direct in _expected(data["a"]).items():
        assert_same(direct, _load(out / name), name)
    assert mg.display_settings(result.variables["d3"]) == {"cmap": "viridis",
                                                             "clim": (0.0, 1.0)}
    assert_same(result.variables["d3"], _expected(data["a"])["smooth.hspy"])


def test_absolute_save_goes_to_out_not_to_its_folder(recorded, tmp_path):
    original = recorded["dir"] / "smooth.hspy"
    keep = tmp_path / "kept.hspy"
    shutil.move(original, keep)
    out = tmp_path / "out"
    assert main(["replay", str(recorded["log"]), "--out", str(out), "-q"]) == 0
    assert not original.exists()  # the recording folder is untouched
    assert_same(mg.open(keep), mg.open(out / "smooth.hspy"))


def test_cli_replays_and_reports_outputs(recorded, tmp_path, capsys):
    out = tmp_path / "cli_out"
    assert main(["replay", str(recorded["log"]), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    for name in recorded["saves"]:
        assert str(out / name) in stdout
        assert_same(_load(recorded["dir"] / name), _load(out / name), name)


def test_cli_default_out_is_the_current_folder(recorded, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert replay.cli([str(recorded["log"]), "-q"]) == 0
    assert sorted(p.name for p in here.iterdir()) == sorted(recorded["saves"])


@pytest.mark.parametrize("key", ["d1", "a.hspy"])
def test_input_swap(recorded, data, tmp_path, key):
    out = tmp_path / "swapped"
    assert replay.cli([str(recorded["log"]), "--input", f"{key}={data['b']}", "--out", str(out),
                       "-q"]) == 0
    for name, direct in _expected(data["b"]).items():
        replayed = mg.open(out / name)
        assert replayed.shape == (20, 28)
        assert_same(direct, replayed, name)
    program = replay.parse(recorded["log"].read_text(), str(recorded["log"]))
    result = replay.run_program(program, inputs={key: data["b"]}, out=tmp_path / "api")
    assert_same(_expected(data["b"])["smooth.hspy"], result.variables["d3"])


def test_unknown_input_name(recorded, data, tmp_path, capsys):
    program = replay.parse(recorded["log"].read_text(), str(recorded["log"]))
    with pytest.raises(mg.ReplayError, match="d7"):
        replay.run_program(program, inputs={"d7": data["b"]}, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
    assert replay.cli([str(recorded["log"]), "--input", f"d7={data['b']}"]) == 2
    assert replay.cli([str(recorded["log"]), "--input", "no-equals-sign"]) == 2
    err = capsys.readouterr().err
    assert "d7" in err and "d1 (a.hspy)" in err


def test_missing_input_file_fails_with_one_line(recorded, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "zzz_missing.hspy"
    out = tmp_path / "out"
    assert replay.cli([str(recorded["log"]), "--input", f"d1={missing}", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "zzz_missing.hspy" in err and "line 3" in err
    assert not out.exists()  # failed at the open, before any save


def test_relative_opens_resolve_against_the_log_folder(data, tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "raw").mkdir(parents=True)
    shutil.copy(data["a"], folder / "raw" / "a.hspy")
    log = folder / "log.py"
    log.write_text('import micrographia as mg\nd1 = mg.open("raw/a.hspy")\n'
                   'd2 = mg.run("filters.gaussian", d1, sigma=1.0)\n'
                   'mg.save(d2, "sub/first.hspy")\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "out"
    assert replay.cli([str(log), "--out", str(out), "-q"]) == 0
    assert_same(_expected(data["a"])["first.hspy"], mg.open(out / "sub" / "first.hspy"))
    # base= overrides the log's folder
    shutil.copytree(folder / "raw", elsewhere / "raw")
    shutil.copy(data["b"], elsewhere / "raw" / "a.hspy")
    result = replay.run_program(replay.parse(log.read_text(), str(log)), out=out / "2",
                                base=elsewhere)
    assert result.variables["d1"].shape == (20, 28)
    # with no log path, relative opens resolve against the current folder
    result = replay.run_program(replay.parse(log.read_text()), out=out / "3")
    assert result.variables["d1"].shape == (20, 28)


def test_failing_operation_names_its_line(data, tmp_path, capsys):
    log = tmp_path / "bad.py"
    log.write_text(f'import micrographia as mg\n# a comment\nd1 = mg.open("{data["a"]}")\n'
                   'd2 = mg.run("filters.gaussian", d1, sigma=1.0)\n'
                   'd3 = mg.run("no_such.operation", d2)\nmg.save(d3, "never.hspy")\n')
    program = replay.parse(log.read_text(), str(log))
    with pytest.raises(mg.ReplayError, match=r"^line 5: .*no_such\.operation") as info:
        replay.run_program(program, out=tmp_path / "out")
    assert isinstance(info.value.__cause__, mg.UnknownOperationError)
    assert not (tmp_path / "out" / "never.hspy").exists()
    log.write_text(log.read_text().replace('"no_such.operation", d2', '"filters.gaussian", d2, '
                                                                         "sigma=-3.0"))
    with pytest.raises(mg.ReplayError, match=r"^line 5: .*sigma") as info:
        replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "out")
    assert isinstance(info.value.__cause__, mg.ParameterError)
    assert replay.cli([str(log), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{log}: line 5: ") and err.count("\n") == 1


def test_save_paths_are_confined_to_out(data, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "link")
    log = tmp_path / "log.py"
    log.write_text(f'import micrographia as mg\nd1 = mg.open("{data["a"]}")\n'
                   'mg.save(d1, "ok/inner/../x.hspy")\nmg.save(d1, "~/home_x.hspy")\n'
                   'mg.save(d1, "link/escaped.hspy")\n')
    program = replay.parse(log.read_text(), str(log))
    with pytest.raises(mg.ReplayError, match="line 5: .*leaves the output folder"):
        replay.run_program(program, out=out)
    assert (out / "ok" / "x.hspy").is_file()
    assert (out / "home_x.hspy").is_file()
    assert not list(outside.iterdir())
    (outside / "victim.hspy").write_bytes(b"keep")
    os.symlink(outside / "victim.hspy", out / "victim.hspy")
    log.write_text(f'import micrographia as mg\nd1 = mg.open("{data["a"]}")\n'
                   'mg.save(d1, "victim.hspy")\n')
    with pytest.raises(mg.ReplayError, match="line 3: .*leaves the output folder"):
        replay.run_program(replay.parse(log.read_text(), str(log)), out=out)
    assert (outside / "victim.hspy").read_bytes() == b"keep"


def test_multi_signal_references(data, tmp_path, monkeypatch):
    """``f1[0]``-style references pick signals of a multi-signal file.

    The writers available make single-signal files only, so ``mg.open`` is replaced for the one
    multi-signal path by a stand-in returning two datasets (each from a real file).
    """
    from micrographia import api

    real_open = api.open
    calls = []

    def fake_open(path, **kwargs):
        calls.append((Path(path).name, kwargs))
        if Path(path).name == "multi.emd":
            sigs = [real_open(data["a"]), real_open(data["b"])]
            if kwargs.get("signal") is not None:
                return sigs[kwargs["signal"]]
            return sigs
        return real_open(path, **kwargs)

    monkeypatch.setattr(api, "open", fake_open)
    log = tmp_path / "multi.py"
    log.write_text('import micrographia as mg\nf1 = mg.open("multi.emd")\n'
                   'd2 = mg.run("filters.gaussian", f1[1], sigma=1.0)\n'
                   'd3 = mg.run("filters.gaussian", f1[-2], sigma=1.0)\n'
                   'd4 = mg.open("multi.emd", signal=1, lazy=False)\n'
                   'mg.save(d2, "second.hspy")\nmg.save(f1[0], "first_raw.hspy")\n')
    result = replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "out")
    assert calls[-1] == ("multi.emd", {"signal": 1, "lazy": False})
    assert_same(_expected(data["b"])["first.hspy"], mg.open(tmp_path / "out" / "second.hspy"))
    assert_same(_expected(data["a"])["first.hspy"], result.variables["d3"])
    assert_same(mg.open(data["a"]), mg.open(tmp_path / "out" / "first_raw.hspy"))
    for bad, why in (("f1[2]", "out of range"), ("d2[0]", "not a list")):
        log.write_text(f'import micrographia as mg\nf1 = mg.open("multi.emd")\n'
                       'd2 = mg.run("filters.gaussian", f1[1], sigma=1.0)\n'
                       f'd3 = mg.run("filters.gaussian", {bad})\n')
        with pytest.raises(mg.ReplayError, match=f"line 4: .*{why}"):
            replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "o")


@pytest.fixture
def split_op():
    """A test operation returning a tuple (dataset, table)."""
    from micrographia.plugin_manager import get_host

    def split(dataset: mg.Dataset, *, factor: float = 2.0) -> tuple[mg.Dataset, mg.Table]:
        """Scale and measure.

        Parameters
        ----------
        dataset : Dataset
            Input.
        factor : float
            Scale factor.

        Returns
        -------
        tuple
            Scaled dataset and a one-row table.
        """
        scaled = dataset.replace(data=np.asarray(dataset.numpy()) * factor)
        return scaled, mg.Table({"mean": np.array([float(np.mean(dataset.numpy()))])})

    reg = get_host().registry
    reg.add(split, id="testreplay.split")
    yield "testreplay.split"
    reg.remove("testreplay.split")


def test_tuple_results_unpack(split_op, data, tmp_path):
    log = tmp_path / "t.py"
    log.write_text(f'import micrographia as mg\nd1 = mg.open("{data["a"]}")\n'
                   f'd2, t1 = mg.run("{split_op}", d1, factor=3.0)\n'
                   'd3 = mg.run("filters.gaussian", d2)\n'
                   f'd4, t2, x9 = mg.run("{split_op}", d1)\n')
    with pytest.raises(mg.ReplayError, match="line 5: .*returned 2 results, the log expects 3"):
        replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "o")
    lines = log.read_text().splitlines()[:-1]
    log.write_text("\n".join(lines) + "\n")
    r = replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "o")
    a = mg.open(data["a"]).numpy()
    np.testing.assert_allclose(r.variables["d2"].numpy(), a * 3.0)
    assert isinstance(r.variables["t1"], mg.Table)
    assert r.variables["t1"]["mean"][0] == pytest.approx(float(np.mean(a)))


def test_demo_log_replays(tmp_path, capsys):
    """The bundled example log replays on freshly generated example data in a copy folder."""
    import importlib.util

    examples = Path(__file__).resolve().parents[1] / "resources"
    log = examples / "examples" / "demo_drift_series.py"
    program = replay.parse(log.read_text(), str(log))
    assert [s.path for s in program.opens] == ["drift_series.hspy", "eds_si.hspy"]
    missing = {s.op for s in program.steps if isinstance(s, replay.RunStep)} - {
        o.id for o in mg.operations()}
    if missing:
        pytest.skip(f"operations not registered yet: {sorted(missing)}")
    spec = importlib.util.spec_from_file_location("_make_examples", examples / "make_examples.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    folder = tmp_path / "examples"
    folder.mkdir()
    mg.save(make.drift_series(), folder / "drift_series.hspy")
    mg.save(make.eds_si(), folder / "eds_si.hspy")
    shutil.copy(log, folder / log.name)
    out = tmp_path / "demo"
    assert replay.cli([str(folder / log.name), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {s.path for s in program.saves})
    s = mg.open(out / "drift_series_sum.hspy")
    assert s.kind == "image" and s.axes[-1].units == "nm"


def test_help_and_usage_errors(tmp_path, capsys):
    assert replay.cli(["--help"]) == 0
    assert "micrographia replay" in capsys.readouterr().out
    assert replay.cli([]) == 2
    assert replay.cli([str(tmp_path / "missing.py")]) == 2
    log = tmp_path / "l.py"
    log.write_text("import micrographia as mg\n")
    assert replay.cli([str(log), "--workers", "2"]) == 2  # a batch needs --over
    assert replay.cli([str(log), "--over", "x=*.hspy"]) == 2  # nothing opened / unknown name
    assert replay.cli([str(log), "--trust", "--input", "d1=x"]) == 2
    err = capsys.readouterr().err
    assert "--over" in err and "--trust" in err


def test_importing_replay_stays_cheap():
    import subprocess
    import sys

    code = ("import sys, micrographia.replay; "
            "heavy = [m for m in ('dask', 'distributed', 'scipy') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_input_path_relative_to_the_current_folder(recorded, data, tmp_path, monkeypatch):
    monkeypatch.chdir(data["b"].parent)
    out = tmp_path / "rel"
    assert replay.cli([str(recorded["log"]), "--input", "d1=b.hspy", "--out", str(out),
                       "-q"]) == 0
    assert_same(_expected(data["b"])["smooth.hspy"], mg.open(out / "smooth.hspy"))


def test_lazy_open_replays_like_eager(data, tmp_path):
    log = tmp_path / "lazy.py"
    log.write_text(f'import micrographia as mg\nd1 = mg.open("{data["a"]}", lazy=True)\n'
                   'd2 = mg.run("filters.gaussian", d1, sigma=1.0)\nmg.save(d2, "g.hspy")\n')
    result = replay.run_program(replay.parse(log.read_text(), str(log)), out=tmp_path / "o")
    assert result.variables["d1"].is_lazy
    assert_same(_expected(data["a"])["first.hspy"], mg.open(tmp_path / "o" / "g.hspy"))
