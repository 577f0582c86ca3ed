"""Replaying one log over many files (``--over``), in process and on a dask LocalCluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _replay_helpers import assert_same, make_input

import micrographia as mg
from micrographia import replay

SAVES = ("smooth.hspy", "first.hspy")


@pytest.fixture
def batch(tmp_path, monkeypatch):
    rec = tmp_path / "recording"
    source = make_input(rec / "source.hspy", seed=0)
    monkeypatch.chdir(rec)
    with mg.recording(rec / "log.py"):
        d = mg.open(source)
        g1 = mg.run("filters.gaussian", d, sigma=1.0)
        g2 = mg.run("filters.gaussian", g1, sigma=2.0)
        mg.save(g2, "smooth.hspy")
        mg.save(g1, rec / "first.hspy")
    monkeypatch.chdir(tmp_path)
    files = [make_input(tmp_path / "inputs" / f"in{i}.hspy", seed=10 + i, shape=(20 + i, 24))
             for i in range(3)]
    return {"log": rec / "log.py", "files": files, "dir": tmp_path}


def _single(log: Path, file: Path, out: Path) -> dict[str, mg.Dataset]:
    assert replay.cli([str(log), "--input", f"d1={file}", "--out", str(out), "-q"]) == 0
    return {name: mg.open(out / name) for name in SAVES}


def _check_outputs(batch, out: Path) -> None:
    for f in batch["files"]:
        single = _single(batch["log"], f, batch["dir"] / "single" / f.stem)
        for name in SAVES:
            got = mg.open(out / f"{f.stem}_{name}")
            assert got.shape == (20 + int(f.stem[-1]), 24)
            assert_same(single[name], got, f"{f.stem} {name}")


def _corrupt(batch) -> Path:
    bad = batch["dir"] / "inputs" / "garbage.hspy"
    bad.write_bytes(b"this is not an HDF5 file\0\1\2" * 10)
    return bad


def _children() -> list:
    """Live child processes, other than multiprocessing's resource tracker (which lives as long
    as this process, by design)."""
    import psutil

    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE or "resource_tracker" in " ".join(p.cmdline()):
                continue
        except psutil.NoSuchProcess:
            continue
        alive.append(p)
    return alive


@pytest.mark.timeout(300)
def test_batch_on_local_cluster(batch, tmp_path, capsys):
    out = tmp_path / "out"
    glob = str(tmp_path / "inputs" / "*.hspy")
    assert replay.cli([str(batch["log"]), "--over", glob, "--workers", "2", "--out",
                       str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "on 2 local workers" in stdout
    for k in (1, 2, 3):
        assert f"[{k}/3] " in stdout
    assert stdout.count(": ok (2 outputs)") == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{f.stem}_{n}" for f in batch["files"] for n in SAVES)
    _check_outputs(batch, out)

    bad = _corrupt(batch)
    out2 = tmp_path / "out2"
    assert replay.cli([str(batch["log"]), "--over", glob, "--workers", "2", "--out", str(out2),
                       "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "FAILED" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out2.iterdir()) == sorted(
        f"{f.stem}_{n}" for f in batch["files"] for n in SAVES)
    deadline = time.monotonic() + 10
    while _children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children(), "the local cluster left processes behind"


def test_sequential_batch(batch, tmp_path, capsys):
    bad = _corrupt(batch)
    out = tmp_path / "out"
    glob = str(tmp_path / "inputs" / "*.hspy")
    assert replay.cli([str(batch["log"]), "--over", glob, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "in this process" in captured.out
    assert "[4/4] " in captured.out and "garbage.hspy: FAILED: line 3: " in captured.out
    assert captured.err.count("\n") == 1 and str(bad) in captured.err
    _check_outputs(batch, out)
    assert not list(out.glob("garbage_*"))


def test_replay_batch_api(batch, tmp_path):
    program = replay.parse(batch["log"].read_text(), str(batch["log"]))
    lines: list[str] = []
    files = [*batch["files"], tmp_path / "missing.hspy"]
    results = replay.replay_batch(program, files, out=tmp_path / "o", progress=lines.append)
    assert [r.input for r in results] == files
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[0].message == "ok (2 outputs)"
    assert results[0].outputs == [tmp_path / "o" / f"in0_{n}" for n in SAVES]
    assert "missing.hspy" in results[3].message and results[3].outputs == []
    assert len(lines) == 4 and lines[-1].startswith("[4/4] missing.hspy: FAILED: line 3:")
    with pytest.raises(mg.ReplayError, match="same names"):
        replay.replay_batch(program, [batch["files"][0], batch["files"][0]], out=tmp_path / "o")
    with pytest.raises(mg.ReplayError, match="d9"):
        replay.replay_batch(program, batch["files"], name="d9", out=tmp_path / "o")


def test_over_named_input(batch, tmp_path):
    """``--over NAME=GLOB`` replaces another opened file; ``--input`` fixes the others."""
    ref = make_input(tmp_path / "ref" / "reference.hspy", seed=99, shape=(20, 24))
    other_ref = make_input(tmp_path / "ref2" / "reference.hspy", seed=98, shape=(20, 24))
    log = tmp_path / "two.py"
    log.write_text(f'import micrographia as mg\nd1 = mg.open("{ref}")\n'
                   f'd2 = mg.open("{batch["files"][0]}")\n'
                   'd3 = mg.run("filters.gaussian", d2, sigma=1.0)\n'
                   'mg.save(d3, "g.hspy")\nmg.save(d1, "ref.hspy")\n')
    out = tmp_path / "out"
    glob = str(tmp_path / "inputs" / "in*.hspy")
    assert replay.cli([str(log), "--over", f"in0.hspy={glob}", "--input",
                       f"reference.hspy={other_ref}", "--out", str(out), "-q"]) == 0
    for f in batch["files"]:
        expected = mg.run("filters.gaussian", mg.open(f), sigma=1.0)
        assert_same(expected, mg.open(out / f"{f.stem}_g.hspy"))
        assert_same(mg.open(other_ref), mg.open(out / f"{f.stem}_ref.hspy"))
    assert replay.cli([str(log), "--over", f"d2={glob}", "--out", str(tmp_path / "o2"),
                       "-q"]) == 0
    assert (tmp_path / "o2" / "in2_g.hspy").is_file()
    # the same name by --input and --over is ambiguous
    assert replay.cli([str(log), "--over", f"d2={glob}", "--input", f"d2={ref}"]) == 2


def test_over_without_matches(batch, tmp_path, capsys):
    assert replay.cli([str(batch["log"]), "--over", str(tmp_path / "none" / "*.dm4")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert replay.cli([str(batch["log"]), "--over", f"d7={tmp_path / 'inputs' / '*.hspy'}"]) == 2
    assert "d7" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_batch_on_a_scheduler_address(batch, tmp_path, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        out = tmp_path / "out"
        assert replay.cli([str(batch["log"]), "--over", str(tmp_path / "inputs" / "*.hspy"),
                           "--scheduler", cluster.scheduler_address, "--out", str(out)]) == 0
    assert f"on {cluster.scheduler_address}" in capsys.readouterr().out
    _check_outputs(batch, out)
