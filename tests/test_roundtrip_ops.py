"""For every registered operation: a direct call, a recorded log replayed headlessly and the same
log run as ``python log.py`` give identical arrays and axes.

Parametrized over the registry, so operations added by new plugins are covered automatically.
An operation whose options have no defaults needs an entry in ``EXAMPLE_OPTIONS``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import micrographia as mg

# Options for operations whose defaults cannot run on the samples, or to exercise more code.
EXAMPLE_OPTIONS: dict[str, dict] = {
    "image.crop": {"region": {"x": (4.0, 20.0)}},
    "fft.bandpass": {"low": 0.5, "high": 5.0},
    "segment.pixel_classifier": {"n_estimators": 10, "strokes": (
        {"label": 1, "radius": 2.0, "points": ((5.0, 5.0), (10.0, 20.0))},
        {"label": 2, "radius": 2.0, "points": ((30.0, 40.0), (40.0, 50.0))})},
}


def _samples() -> dict[str, mg.Dataset]:
    rng = np.random.default_rng(42)
    image = mg.from_array(rng.normal(100, 10, (48, 64)).astype(np.float32), scale=0.05,
                          units="nm", title="image")
    stack = mg.from_array(rng.poisson(40, (5, 32, 40)).astype(np.uint16), scale=0.2,
                          units="nm", title="stack")
    si = mg.from_array(rng.poisson(3, (6, 5, 128)).astype(np.uint16), signal_dims=1,
                       scale=10.0, units="eV", title="spectrum image")
    yy, xx = np.mgrid[0:48, 0:64]
    mask = mg.from_array((np.hypot(yy - 20, xx - 20) < 9) | (np.hypot(yy - 30, xx - 45) < 7),
                         scale=0.05, units="nm", title="mask")
    labels = mg.from_array(np.where(np.hypot(yy - 20, xx - 20) < 9, 1, 0).astype(np.int32)
                           + np.where(np.hypot(yy - 30, xx - 45) < 7, 2, 0).astype(np.int32),
                           scale=0.05, units="nm", title="labels")
    # operations pick the first sample they accept (Operation.accepts: kind and dtype)
    return {"image": image, "stack": stack, "si": si, "mask": mask, "labels": labels}


def _ops() -> list[str]:
    return sorted(o.id for o in mg.operations())


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("samples")
    files = {}
    for name, d in _samples().items():
        files[name] = mg.save(d, folder / f"{name}.hspy")
    return files


def _first_runnable(op_id: str, files: dict[str, Path]):
    errors = []
    op = mg.operation(op_id)
    for name, path in files.items():
        d = mg.open(path)
        if not op.accepts(d):
            errors.append(f"{name}: {op.input_problem(d)}")
            continue
        try:
            return name, d, mg.run(op_id, d, **EXAMPLE_OPTIONS.get(op_id, {}))
        except mg.ParameterError as exc:
            errors.append(f"{name}: {exc}")
    pytest.fail(f"{op_id} runs on none of the samples with its default options; add an entry "
                f"to EXAMPLE_OPTIONS. Errors: {errors}")


def _outputs(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


def _save_name(i: int, obj) -> str:
    return f"out{i}.csv" if isinstance(obj, mg.Table) else f"out{i}.hspy"


def _assert_same(a, b, where: str) -> None:
    if isinstance(a, mg.Table):
        assert isinstance(b, mg.Table), where
        assert a.columns == b.columns, where
        for c in a.columns:
            np.testing.assert_array_equal(a[c], b[c], err_msg=f"{where}: column {c}")
        assert dict(a.units) == dict(b.units), where
        return
    assert b.dtype == a.dtype, f"{where}: dtype {b.dtype} != {a.dtype}"
    np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=where)
    assert b.axes == a.axes, f"{where}: axes differ\n{b.axes}\n{a.axes}"


def _load(path: Path):
    if path.suffix == ".csv":
        from micrographia.io import read_table

        return read_table(path)
    return mg.open(path)


def _record(op_id, sample_path, log_path) -> list:
    with mg.recording(log_path):
        d = mg.open(sample_path)
        result = mg.run(op_id, d, **EXAMPLE_OPTIONS.get(op_id, {}))
        outs = _outputs(result)
        for i, o in enumerate(outs):
            mg.save(o, log_path.parent / _save_name(i, o))
    return outs


@pytest.mark.parametrize("op_id", _ops())
def test_direct_recorded_and_replayed_agree(op_id, sample_files, tmp_path):
    from micrographia import replay

    name, d, direct = _first_runnable(op_id, sample_files)
    rec_dir = tmp_path / "recorded"
    rec_dir.mkdir()
    recorded = _record(op_id, sample_files[name], rec_dir / "log.py")
    for i, (a, b) in enumerate(zip(_outputs(direct), recorded)):
        _assert_same(a, b, f"{op_id} direct vs recorded output {i}")
    text = (rec_dir / "log.py").read_text()
    assert f'mg.run("{op_id}", d1' in text
    program = replay.parse(text, str(rec_dir / "log.py"))
    out = tmp_path / "replayed"
    replay.run_program(program, out=out)
    for i, a in enumerate(_outputs(direct)):
        saved_direct = _load(rec_dir / _save_name(i, a))
        replayed = _load(out / _save_name(i, a))
        _assert_same(saved_direct, replayed, f"{op_id} saved vs replayed output {i}")
        _assert_same(a, replayed, f"{op_id} direct vs replayed output {i}")


def test_python_log_py_runs_every_operation(sample_files, tmp_path, monkeypatch):
    """One log calling every operation, run by plain Python, equals the headless replay."""
    from micrographia import replay

    log = tmp_path / "all_ops.py"
    expected = {}
    work = tmp_path / "recording"
    work.mkdir()
    monkeypatch.chdir(work)  # relative saves resolve against the working directory
    with mg.recording(log):
        opened = {n: mg.open(p) for n, p in sample_files.items()}
        for k, op_id in enumerate(_ops()):
            for d in opened.values():
                if not mg.operation(op_id).accepts(d):
                    continue
                try:
                    result = mg.run(op_id, d, **EXAMPLE_OPTIONS.get(op_id, {}))
                except mg.ParameterError:
                    continue
                for i, o in enumerate(_outputs(result)):
                    fname = f"op{k}_{_save_name(i, o)}"
                    mg.save(o, fname)
                    expected[fname] = o
                break
    py_out = tmp_path / "python"
    py_out.mkdir()
    r = subprocess.run([sys.executable, str(log)], cwd=py_out, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rp_out = tmp_path / "replay"
    replay.run_program(replay.parse(log.read_text(), str(log)), out=rp_out)
    assert len(expected) >= len(_ops())
    for fname, a in expected.items():
        _assert_same(a, _load(work / fname), f"recorded {fname}")
        _assert_same(a, _load(py_out / fname), f"python log.py {fname}")
        _assert_same(a, _load(rp_out / fname), f"replay {fname}")
