"""Tests of the generated operation dialogs (app/dialogs.py)."""

from __future__ import annotations

import enum
import json
import pathlib
import re
from typing import Annotated, Literal

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import micrographia as mg  # noqa: E402
from micrographia.app.dialogs import OperationDialog, ParamMemory, is_region_param  # noqa: E402
from micrographia.app.main_window import OPERATION_TOOLS  # noqa: E402
from micrographia.dataset import Dataset, Table  # noqa: E402
from micrographia.errors import ParameterError  # noqa: E402
from micrographia.registry import Range, Step, Units, make_operation  # noqa: E402

OP_IDS = [op.id for op in mg.operations()]


def _samples() -> dict[str, Dataset]:
    rng = np.random.default_rng(0)
    return {
        "image": mg.from_array(rng.random((24, 32)).astype(np.float32), scale=0.5, units="nm",
                               title="img"),
        "stack": mg.from_array(rng.random((3, 16, 20)).astype(np.float32), title="stack"),
        "spectrum_image": mg.from_array(rng.random((5, 6, 40)).astype(np.float32),
                                        signal_dims=1, scale=2.0, units="eV", title="si"),
        "mask": mg.from_array(rng.random((24, 32)) > 0.6, scale=0.5, units="nm", title="mask"),
        "labels": mg.from_array((rng.random((24, 32)) > 0.6).astype(np.int32)
                                * rng.integers(1, 5, (24, 32)).astype(np.int32),
                                scale=0.5, units="nm", title="labels"),
    }


SAMPLES = _samples()


def _region_params(op) -> set[str]:
    return {p.name for p in op.params if is_region_param(p)}


@pytest.mark.parametrize("kind", list(SAMPLES))
@pytest.mark.parametrize("op_id", OP_IDS)
def test_every_operation_builds_with_defaults_and_runs(qtbot, op_id, kind):
    op = mg.operation(op_id)
    ds = SAMPLES[kind]
    dlg = OperationDialog(op, ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert set(dlg.fields) == {p.name for p in op.params}
    if not op.accepts(ds):
        # the menu entry is disabled for this kind (MainWindow.op_enabled); bind says why
        with pytest.raises(ParameterError, match=re.escape(op.input_problem(ds))):
            op.bind((ds,), {})
        return
    if _region_params(op):
        # an empty region is refused inline (OK disabled) instead of failing at run time
        assert not dlg.ok_button().isEnabled()
        assert set(dlg.errors()) == _region_params(op)
        assert "no region" in dlg._errors[next(iter(_region_params(op)))].text()
        # region-like options need explicit values: take the first half of the first axis
        ax = ds.axes[0]
        dlg.set_region({ax.name: (ax.offset, ax.offset + ax.scale * (ax.size // 2))})
        assert dlg.is_valid() and dlg.ok_button().isEnabled()
    values = dlg.values()
    defaults = op.bind((ds,), {})
    for name in _region_params(op):
        assert values.pop(name) == {ax.name: (ax.offset, ax.offset + ax.scale * (ax.size // 2))}
        defaults.pop(name)
    assert values == defaults
    assert dlg.inputs() == (ds,)
    op.bind(dlg.inputs(), dlg.values())  # the dialog's values always validate
    try:
        out = mg.run(op.id, *dlg.inputs(), **dlg.values())
    except ParameterError as exc:
        if op_id in OPERATION_TOOLS:
            # the app opens this operation's own tool instead of the dialog (its options, e.g.
            # painted strokes, come from there; tests/app/test_*_tool.py runs it)
            assert op_id in str(exc)
            return
        if len(op.inputs) > 1 and "second" in str(exc):
            # an operation on two datasets (e.g. register_pair on a single image) asks for
            # the second one, which its dialog offers
            assert dlg.inputs()[1:] == (None,) * (len(op.inputs) - 1) or dlg.inputs() == (ds,)
            return
        # image-only operations refuse a spectrum image with a clear message
        assert kind == "spectrum_image" and "signal" in str(exc)
        return
    assert out is not None
    if op_id == "image.crop":
        assert out.shape[0] == ds.shape[0] // 2
        assert out.shape[1:] == ds.shape[1:]


def test_widgets_change_values(qtbot):
    ds = SAMPLES["image"]
    dlg = OperationDialog(mg.operation("filters.gaussian"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    spin = dlg.fields["sigma"].spin
    assert spin.suffix() == " px"
    spin.setValue(2.5)
    dlg.fields["units"].combo.setCurrentText("calibrated")
    assert dlg.values() == {"sigma": 2.5, "units": "calibrated"}

    dlg = OperationDialog(mg.operation("fft.power_spectrum"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    dlg.fields["log"].check.setChecked(False)
    dlg.fields["window"].combo.setCurrentText("none")
    assert dlg.values() == {"window": "none", "log": False, "subtract_mean": True}

    dlg = OperationDialog(mg.operation("image.bin"), SAMPLES["stack"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    dlg.fields["factor"].spin.setValue(4)
    dlg.fields["reduce"].combo.setCurrentText("mean")
    vals = dlg.values()
    assert vals == {"factor": 4, "axes": "signal", "reduce": "mean"}
    out = mg.run("image.bin", *dlg.inputs(), **vals)
    assert out.shape == (3, 4, 5)
    np.testing.assert_allclose(out.numpy()[0, 0, 0],
                               SAMPLES["stack"].numpy()[0, :4, :4].mean(), rtol=1e-6)


def test_ranges_are_enforced(qtbot):
    dlg = OperationDialog(mg.operation("filters.gaussian"), SAMPLES["image"],
                          memory=ParamMemory())
    qtbot.addWidget(dlg)
    spin = dlg.fields["sigma"].spin
    assert (spin.minimum(), spin.maximum()) == (0.0, 1000.0)
    spin.setValue(5000.0)
    assert dlg.values()["sigma"] == 1000.0
    spin.setValue(-3.0)
    assert dlg.values()["sigma"] == 0.0

    dlg = OperationDialog(mg.operation("image.bin"), SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    spin = dlg.fields["factor"].spin
    spin.setValue(0)
    assert dlg.values()["factor"] == 1
    spin.setValue(10_000)
    assert dlg.values()["factor"] == 1024
    assert spin.singleStep() == 1


def test_sum_axes_editable_combo(qtbot):
    ds = SAMPLES["spectrum_image"]
    dlg = OperationDialog(mg.operation("image.sum"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    combo = dlg.fields["axes"].combo
    assert combo.isEditable()
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == ["navigation", "signal", "all", "y", "x", "E"]
    combo.setEditText("E")
    assert dlg.values()["axes"] == "E"
    out = mg.run("image.sum", *dlg.inputs(), **dlg.values())
    np.testing.assert_allclose(out.numpy(), ds.numpy().sum(axis=2), rtol=1e-5)
    combo.setEditText("x, y")
    assert dlg.is_valid()
    combo.setEditText("x,q")
    assert not dlg.is_valid()
    assert "q" in dlg.errors()["axes"]
    assert not dlg.ok_button().isEnabled()
    assert dlg._errors["axes"].isVisibleTo(dlg)
    with pytest.raises(ParameterError):
        dlg.values()
    combo.setEditText("all")
    assert dlg.ok_button().isEnabled()


def test_crop_region_editor_prefilled_and_roi(qtbot):
    ds = SAMPLES["image"]  # y: 24 px of 0.5 nm, x: 32 px of 0.5 nm
    dlg = OperationDialog(mg.operation("image.crop"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    field = dlg.fields["region"]
    box, start, stop = field.rows["x"]
    assert not box.isChecked()
    assert (start.value(), stop.value()) == (0.0, 16.0)
    assert start.suffix() == " nm"
    assert field.rows["y"][2].value() == 12.0
    box.setChecked(True)
    start.setValue(2.0)
    stop.setValue(6.0)
    assert dlg.values() == {"region": {"x": (2.0, 6.0)}, "calibrated": True}
    assert mg.run("image.crop", *dlg.inputs(), **dlg.values()).shape == (24, 8)
    # start >= stop is an inline error
    start.setValue(7.0)
    assert not dlg.ok_button().isEnabled()
    assert "x" in dlg.errors()["region"]
    # an ROI from the view fills the rows
    dlg.set_region({"x": (1.0, 5.0), "y": (0.5, 3.0)})
    assert dlg.values()["region"] == {"y": (0.5, 3.0), "x": (1.0, 5.0)}
    assert dlg.ok_button().isEnabled()
    assert mg.run("image.crop", *dlg.inputs(), **dlg.values()).shape == (5, 8)
    # switching to pixels converts the rows
    dlg.fields["calibrated"].check.setChecked(False)
    assert dlg.values() == {"region": {"y": (1.0, 6.0), "x": (2.0, 10.0)}, "calibrated": False}
    assert field.rows["x"][1].suffix() == " px"
    assert mg.run("image.crop", *dlg.inputs(), **dlg.values()).shape == (5, 8)


def test_crop_on_real_image(qtbot, shared_data):
    ds = mg.open(shared_data / "dm3" / "test_STEM_image.dm3")
    dlg = OperationDialog(mg.operation("image.crop"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    x = ds.axis("x")
    lo, hi = dlg.fields["region"].full_range("x")
    assert lo == pytest.approx(x.offset) and hi == pytest.approx(x.offset + 68 * x.scale)
    dlg.set_region({"x": (x.offset + 10 * x.scale, x.offset + 30 * x.scale)})
    out = mg.run("image.crop", *dlg.inputs(), **dlg.values())
    assert out.shape == (68, 20)
    np.testing.assert_array_equal(out.numpy(), ds.numpy()[:, 10:30])


def test_param_memory_persists_and_restores(qtbot, tmp_path):
    op = mg.operation("filters.gaussian")
    mem = ParamMemory()
    dlg = OperationDialog(op, SAMPLES["image"], memory=mem)
    qtbot.addWidget(dlg)
    dlg.fields["sigma"].spin.setValue(3.25)
    dlg.fields["units"].combo.setCurrentText("calibrated")
    dlg.accept()
    assert mem.path.is_file()
    assert mem.path.parent == mg.settings.config_dir()
    assert json.loads(mem.path.read_text())["filters.gaussian"] == {
        "sigma": 3.25, "units": "calibrated"}
    # a new memory object (as after a restart) restores the values
    dlg2 = OperationDialog(op, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg2)
    assert dlg2.values() == {"sigma": 3.25, "units": "calibrated"}
    # Reset gives the defaults back
    dlg2.reset()
    assert dlg2.values() == {"sigma": 1.0, "units": "px"}
    # remembered regions come back on datasets that have the axes
    crop = mg.operation("image.crop")
    d3 = OperationDialog(crop, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(d3)
    d3.set_region({"x": (1.0, 4.0)})
    d3.accept()
    d4 = OperationDialog(crop, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(d4)
    assert d4.values()["region"] == {"x": (1.0, 4.0)}
    d5 = OperationDialog(crop, SAMPLES["spectrum_image"], memory=ParamMemory())
    qtbot.addWidget(d5)
    # remembered axes the spectrum image lacks are dropped: the region is empty, OK disabled
    assert set(d5.fields["region"].rows) == {a.name for a in SAMPLES["spectrum_image"].axes}
    if d5.fields["region"].value() is None:
        assert not d5.ok_button().isEnabled()
    else:
        assert set(d5.values()["region"]) <= {a.name for a in SAMPLES["spectrum_image"].axes}


def test_param_memory_ignores_corrupt_and_invalid(qtbot):
    op = mg.operation("filters.gaussian")
    path = mg.settings.config_dir() / ParamMemory.FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    dlg = OperationDialog(op, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert dlg.values() == {"sigma": 1.0, "units": "px"}
    path.write_text(json.dumps({"filters.gaussian": {"sigma": -4, "units": "furlongs",
                                                     "gone": 1}}), encoding="utf-8")
    dlg = OperationDialog(op, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert dlg.values() == {"sigma": 1.0, "units": "px"}
    path.write_text(json.dumps(["a", "list"]), encoding="utf-8")
    assert ParamMemory().restore(op) == {}
    path.write_text(json.dumps({"filters.gaussian": {"sigma": 7.5}}), encoding="utf-8")
    assert ParamMemory().restore(op) == {"sigma": 7.5}


def test_preview_only_for_cheap_ops_and_only_when_on(qtbot):
    cheap = mg.operation("filters.gaussian")
    assert cheap.cheap
    dlg = OperationDialog(cheap, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert dlg.preview_check is not None and not dlg.preview_enabled()
    with qtbot.assertNotEmitted(dlg.previewRequested, wait=400):
        dlg.fields["sigma"].spin.setValue(2.0)
    with qtbot.waitSignal(dlg.previewRequested, timeout=3000) as blocker:
        dlg.preview_check.setChecked(True)
    assert blocker.args == [{"sigma": 2.0, "units": "px"}]
    assert dlg.preview_enabled()
    # several quick changes are debounced into one request with the last values
    received = []
    dlg.previewRequested.connect(received.append)
    with qtbot.waitSignal(dlg.previewRequested, timeout=3000):
        dlg.fields["sigma"].spin.setValue(3.0)
        dlg.fields["sigma"].spin.setValue(4.0)
    qtbot.wait(300)
    assert received == [{"sigma": 4.0, "units": "px"}]
    with qtbot.waitSignal(dlg.previewCleared, timeout=1000):
        dlg.preview_check.setChecked(False)
    with qtbot.assertNotEmitted(dlg.previewRequested, wait=400):
        dlg.fields["sigma"].spin.setValue(5.0)
    # cancelling with the preview on clears it
    dlg.preview_check.setChecked(True)
    with qtbot.waitSignal(dlg.previewCleared, timeout=1000):
        dlg.reject()

    expensive = mg.operation("image.sum")
    assert not expensive.cheap
    dlg2 = OperationDialog(expensive, SAMPLES["stack"], memory=ParamMemory())
    qtbot.addWidget(dlg2)
    assert dlg2.preview_check is None and not dlg2.preview_enabled()
    with qtbot.assertNotEmitted(dlg2.previewRequested, wait=400):
        dlg2.fields["reduce"].combo.setCurrentText("mean")


def test_help_pane_and_tooltips(qtbot):
    op = mg.operation("filters.gaussian")
    dlg = OperationDialog(op, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    text = dlg.help_browser.toPlainText()
    assert op.summary.split()[0] in text
    assert op.param("sigma").help[:30] in " ".join(text.split())
    assert "range [0.0, 1000.0]" in text
    assert dlg.fields["sigma"].toolTip() == op.param("sigma").help
    assert not dlg.help_browser.isVisibleTo(dlg)
    dlg.toggle_help()
    assert dlg.help_browser.isVisibleTo(dlg)


class _Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


def _plugin_like(a: Dataset, b: Dataset, c: Dataset | None = None, *,
                 shift: tuple[float, float] = (0.0, 0.0),
                 weights: dict[str, float] | None = None,
                 path: pathlib.Path | None = None,
                 mode: _Mode = _Mode.FAST,
                 limit: Annotated[float, Range(0.0, None), Units("nm"), Step(0.5)] | None = None,
                 count: Annotated[int, Range(1, 9)] = 3,
                 label: str = "hello",
                 kind: Literal[1, 2, 3] = 2) -> Dataset:
    """Combine datasets (a test operation with every kind of option).

    Parameters
    ----------
    a, b, c : Dataset
        Inputs.
    shift : tuple
        Shift in pixels.
    weights : dict
        Weights per axis.
    path : Path
        A file.
    mode : _Mode
        Speed.
    limit : float
        Upper limit.
    count : int
        Repeats.
    label : str
        Text.
    kind : {1, 2, 3}
        Kind.
    """
    return a


def test_generic_fallbacks_for_plugin_options(qtbot, tmp_path):
    op = make_operation(_plugin_like, id="test.plugin_like", cheap=False)
    img, other, third = SAMPLES["image"], SAMPLES["stack"], SAMPLES["spectrum_image"]
    dlg = OperationDialog(op, img, others=[("stack window", other), ("si window", third)],
                          memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert dlg.values() == op.bind((img, other), {})
    assert dlg.inputs() == (img, other)
    # optional third input: "(none)" first, then the windows
    c_combo = dlg.input_combos[1]
    assert [c_combo.itemText(i) for i in range(c_combo.count())] == [
        "(none)", "stack window", "si window"]
    c_combo.setCurrentIndex(2)
    dlg.input_combos[0].setCurrentIndex(1)
    assert dlg.inputs() == (img, third, third)
    # tuple option: literal line edit with inline errors
    shift = dlg.fields["shift"].edit
    shift.setText("(1.5, -2)")
    assert dlg.values()["shift"] == (1.5, -2)
    shift.setText("(1.5, ")
    assert "shift" in dlg.errors() and not dlg.ok_button().isEnabled()
    assert dlg._errors["shift"].text()
    shift.setText("[3, 4]")
    assert dlg.values()["shift"] == (3, 4)
    # dict option that is not a region: literal too
    dlg.fields["weights"].edit.setText("{'x': 0.5}")
    assert dlg.values()["weights"] == {"x": 0.5}
    dlg.fields["weights"].edit.setText("5")
    assert "weights" in dlg.errors()
    dlg.fields["weights"].edit.setText("")
    # path: line edit + chooser
    f = tmp_path / "a.txt"
    dlg.fields["path"].edit.setText(str(f))
    assert dlg.values()["path"] == str(f)
    # enum -> combo of the values
    combo = dlg.fields["mode"].combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["fast", "slow"]
    combo.setCurrentIndex(1)
    # optional float with range/units/step: unchecked is None
    limit = dlg.fields["limit"]
    assert dlg.values()["limit"] is None and not limit.spin.isEnabled()
    limit._box.setChecked(True)
    limit.spin.setValue(2.5)
    assert limit.spin.suffix() == " nm" and limit.spin.singleStep() == 0.5
    assert limit.spin.minimum() == 0.0
    # int literal choices keep their type
    dlg.fields["kind"].combo.setCurrentIndex(2)
    dlg.fields["label"].edit.setText("world")
    dlg.fields["count"].spin.setValue(12)
    assert dlg.values() == {"shift": (3, 4), "weights": None, "path": str(f), "mode": "slow",
                            "limit": 2.5, "count": 9, "label": "world", "kind": 3}
    assert op.bind(dlg.inputs(), dlg.values())["mode"] == "slow"


def test_required_extra_input_without_candidates_disables_ok(qtbot):
    op = make_operation(_plugin_like, id="test.plugin_like")
    dlg = OperationDialog(op, SAMPLES["image"], memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert not dlg.ok_button().isEnabled()
    assert "<input b>" in dlg.errors()


def test_crop_from_real_view_roi(qtbot, shared_data):
    from micrographia.app.views import make_view

    ds = mg.open(shared_data / "tia" / "03_Scanning Preview.emi")  # (5 | 128, 128) stack
    view = make_view(ds)
    qtbot.addWidget(view)
    y, x = ds.axis("y"), ds.axis("x")
    view.set_roi_region({"y": (y.offset + 10 * y.scale, y.offset + 50 * y.scale),
                         "x": (x.offset + 20 * x.scale, x.offset + 84 * x.scale)})
    dlg = OperationDialog(mg.operation("image.crop"), view.dataset, memory=ParamMemory())
    qtbot.addWidget(dlg)
    dlg.set_region(view.roi_region())
    assert dlg.ok_button().isEnabled()
    out = mg.run("image.crop", *dlg.inputs(), **dlg.values())
    assert out.shape == (5, 40, 64)
    np.testing.assert_array_equal(out.numpy(), ds.numpy()[:, 10:50, 20:84])


def test_region_keeps_exact_roi_values_despite_display_rounding(qtbot):
    scale = 0.017751578241586685  # multi_signal.dm3's nm/px: not representable in 5 decimals
    ds = mg.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), scale=scale,
                       units="nm")
    dlg = OperationDialog(mg.operation("image.crop"), ds, memory=ParamMemory())
    qtbot.addWidget(dlg)
    dlg.set_region({"x": (10 * scale, 30 * scale)})
    _, start, stop = dlg.fields["region"].rows["x"]
    assert start.decimals() == 5
    assert dlg.values()["region"] == {"x": (10 * scale, 30 * scale)}
    out = mg.run("image.crop", *dlg.inputs(), **dlg.values())
    np.testing.assert_array_equal(out.numpy(), ds.numpy()[:, 10:30])
    # a value the user types is taken as shown
    stop.setValue(0.5)
    assert dlg.values()["region"] == {"x": (10 * scale, 0.5)}


def _table_op(table: Table, *, axes: str = "all",
              region: dict[str, tuple[float, float]] | None = None) -> Table:
    """Pass a table through.

    Parameters
    ----------
    table : Table
        Input.
    axes : str
        Columns.
    region : dict
        Rows.
    """
    return table


def test_table_input_uses_plain_fields(qtbot):
    op = make_operation(_table_op, id="test.table_op")
    table = Table({"a": np.array([1.0, 2.0, 3.0])})
    dlg = OperationDialog(op, table, memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert type(dlg.fields["axes"]).__name__ == "_TextField"
    assert type(dlg.fields["region"]).__name__ == "_LiteralField"
    dlg.fields["region"].edit.setText("{'a': (0, 2)}")
    assert dlg.values() == {"axes": "all", "region": {"a": (0, 2)}}
    assert op.bind(dlg.inputs(), dlg.values())["region"] == {"a": (0, 2)}
