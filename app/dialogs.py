"""Parameter dialogs generated from an operation's signature.

:class:`OperationDialog` builds one editor per keyword option of a registered
:class:`~micrographia.registry.Operation`:

* ``float``/``int`` → spin boxes with the option's :class:`~micrographia.registry.Range`,
  :class:`~micrographia.registry.Units` (suffix) and :class:`~micrographia.registry.Step`;
* ``Literal``/``Enum`` → combo box; ``bool`` → check box; ``str`` → line edit (an editable combo
  of ``navigation``/``signal``/``all`` and the axis names for axis options such as
  ``image.sum``'s ``axes``); ``pathlib.Path`` → line edit with a file chooser;
* region options (``dict[str, tuple[float, float]]``, e.g. ``image.crop``'s ``region``) → a
  table of axis rows with start/stop prefilled from the dataset's axes (or an ROI);
* anything else → a line edit parsed with :func:`ast.literal_eval`, errors shown inline.

Extra dataset inputs (``op.inputs`` beyond the first) are chosen from the other open windows.
Last-used values are remembered per operation id by :class:`ParamMemory`.
"""

from __future__ import annotations

import ast
import html
import json
import math
import os
import pathlib
import tempfile
import typing
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from PySide6 import QtCore, QtWidgets

from micrographia import settings as mg_settings
from micrographia.dataset import Dataset, Table
from micrographia.errors import ParameterError
from micrographia.registry import Operation, Param

__all__ = ["OperationDialog", "ParamMemory", "is_region_param"]

_MISSING = Param.__dataclass_fields__["default"].default
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_FLOAT_BIG = 1e15
_AXES_WORDS = ("navigation", "signal", "all")
_ERROR_STYLE = "color: #c0392b;"


def _to_json(value: Any) -> Any:
    """Convert a parameter value into JSON-friendly data (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def is_region_param(param: Param) -> bool:
    """Tell whether an option is a region: a mapping of axis name to ``(start, stop)``.

    Parameters
    ----------
    param : Param
        The option's specification.

    Returns
    -------
    bool
        True for ``dict[str, tuple[float, float]]`` options, options named ``region`` of dict
        type and options with the ``Widget("region")`` hint.
    """
    if param.widget == "region":
        return True
    if param.type is not dict:
        return False
    if param.name == "region":
        return True
    base = param.annotation
    # strip Optional / Annotated the same way the registry does
    for _ in range(4):
        origin = typing.get_origin(base)
        if origin is typing.Annotated:
            base = get_args(base)[0]
        elif origin is typing.Union or type(base).__name__ == "UnionType":
            args = [a for a in get_args(base) if a is not type(None)]
            if len(args) != 1:
                return False
            base = args[0]
        else:
            break
    args = get_args(base)
    if len(args) == 2 and args[0] is str:
        inner = get_args(args[1])
        return typing.get_origin(args[1]) is tuple and len(inner) == 2 and all(
            a in (float, int) for a in inner)
    return False


class ParamMemory:
    """Last-used option values per operation id, persisted as JSON.

    The file is ``<config dir>/dialog_params.json`` (see
    :func:`micrographia.settings.config_dir`); it is written atomically. A missing or corrupt
    file, or remembered values that no longer validate, fall back to the defaults.

    Parameters
    ----------
    path : str or Path, optional
        File to use instead of the default.
    """

    FILENAME = "dialog_params.json"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = pathlib.Path(path) if path is not None else None
        self._data: dict[str, dict[str, Any]] | None = None

    @property
    def path(self) -> pathlib.Path:
        """The JSON file."""
        return self._path or (mg_settings.config_dir() / self.FILENAME)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._data is None:
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raw = {}
            if not isinstance(raw, dict):
                raw = {}
            self._data = {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)}
        return self._data

    def get(self, op_id: str) -> dict[str, Any]:
        """Return the raw remembered values of an operation.

        Parameters
        ----------
        op_id : str
            Operation id.

        Returns
        -------
        dict
            Option name to JSON value (empty when nothing is remembered).
        """
        return dict(self._load().get(op_id, {}))

    def restore(self, op: Operation) -> dict[str, Any]:
        """Return the remembered values of ``op`` that are still valid.

        Parameters
        ----------
        op : Operation
            The operation.

        Returns
        -------
        dict
            Option name to validated value; unknown names and invalid values are dropped.
        """
        out: dict[str, Any] = {}
        names = {p.name: p for p in op.params}
        for name, value in self.get(op.id).items():
            p = names.get(name)
            if p is None:
                continue
            try:
                out[name] = p.validate(value, op.id)
            except (ParameterError, TypeError, ValueError):
                continue
        return out

    def remember(self, op_id: str, values: Mapping[str, Any]) -> None:
        """Store the values of an operation and write the file atomically.

        Parameters
        ----------
        op_id : str
            Operation id.
        values : mapping
            Option name to value.
        """
        data = self._load()
        data[op_id] = {str(k): _to_json(v) for k, v in values.items()}
        target = self.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".dialog-params-",
                                       suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, target)
        except (OSError, TypeError, ValueError):
            # remembering is a convenience: never fail the operation because of it
            pass


# --------------------------------------------------------------------------------------------
# field editors


class _Field(QtWidgets.QWidget):
    """Editor of one option: ``value()``, ``set_value()``, ``error()`` and ``changed``."""

    changed = QtCore.Signal()

    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self._layout = QtWidgets.QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:
        """Return the edited value (may be invalid; see :meth:`error`)."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show ``value``."""
        raise NotImplementedError

    def error(self) -> str | None:
        """Return a message when the edited text cannot become a value."""
        return None


def _decimals_for(*values: float | None) -> int:
    """Enough decimals to show every given value exactly (3 to 10)."""
    dec = 3
    for v in values:
        if v is None or not math.isfinite(v) or v == 0:
            continue
        text = repr(float(v))
        if "e" in text:
            mant, exp = text.split("e")
            frac = len(mant.split(".")[1].rstrip("0")) if "." in mant else 0
            dec = max(dec, frac - int(exp))
        elif "." in text:
            dec = max(dec, len(text.split(".")[1].rstrip("0")))
    return min(dec, 10)


class _OptionalMixin:
    """A 'set' check box in front of the editor of an option that accepts None."""

    def _add_enable_box(self, field: _Field, editor: QtWidgets.QWidget) -> QtWidgets.QCheckBox:
        box = QtWidgets.QCheckBox()
        box.setToolTip("Unchecked: no value (None)")
        box.toggled.connect(editor.setEnabled)
        box.toggled.connect(field.changed)
        field._layout.addWidget(box)
        return box


class _NumberField(_Field, _OptionalMixin):
    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        is_int = param.type is int
        default = None if param.required else param.default
        rng = param.range
        if is_int:
            spin: QtWidgets.QAbstractSpinBox = QtWidgets.QSpinBox()
            lo = _INT_MIN if rng is None or rng.min is None else max(_INT_MIN, math.ceil(rng.min))
            hi = _INT_MAX if rng is None or rng.max is None else min(_INT_MAX,
                                                                      math.floor(rng.max))
            spin.setRange(lo, hi)
            spin.setSingleStep(max(1, int(param.step or 1)))
        else:
            spin = QtWidgets.QDoubleSpinBox()
            lo = -_FLOAT_BIG if rng is None or rng.min is None else float(rng.min)
            hi = _FLOAT_BIG if rng is None or rng.max is None else float(rng.max)
            spin.setDecimals(_decimals_for(default if isinstance(default, (int, float))
                                           else None, param.step))
            spin.setRange(lo, hi)
            if param.step:
                step = float(param.step)
            elif isinstance(default, (int, float)) and default and abs(default) >= 10:
                step = 1.0
            else:
                step = 0.1
            spin.setSingleStep(step)
        spin.setKeyboardTracking(False)
        spin.setAccelerated(True)
        if param.units:
            spin.setSuffix(f" {param.units}")
        if rng is not None:
            lo_t = "−∞" if rng.min is None else f"{rng.min:g}"
            hi_t = "∞" if rng.max is None else f"{rng.max:g}"
            spin.setToolTip(f"{param.help}\nRange [{lo_t}, {hi_t}]".strip())
        self.spin = spin
        self._box: QtWidgets.QCheckBox | None = None
        if param.optional or default is None:
            self._box = self._add_enable_box(self, spin)
        self._layout.addWidget(spin, 1)
        spin.valueChanged.connect(self.changed)
        self.set_value(default)

    def value(self) -> Any:
        if self._box is not None and not self._box.isChecked():
            return None
        if self.spin.hasFocus():  # take text being typed into account
            self.spin.interpretText()
        v = self.spin.value()
        return int(v) if self.param.type is int else float(v)

    def set_value(self, value: Any) -> None:
        if value is None:
            if self._box is not None:
                self._box.setChecked(False)
                self.spin.setEnabled(False)
            return
        if self._box is not None:
            self._box.setChecked(True)
            self.spin.setEnabled(True)
        self.spin.setValue(int(value) if self.param.type is int else float(value))


class _BoolField(_Field):
    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.check = QtWidgets.QCheckBox()
        self._layout.addWidget(self.check)
        self._layout.addStretch(1)
        self.check.toggled.connect(self.changed)
        self.set_value(False if param.required else param.default)

    def value(self) -> Any:
        return self.check.isChecked()

    def set_value(self, value: Any) -> None:
        self.check.setChecked(bool(value))


class _ChoiceField(_Field):
    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.combo = QtWidgets.QComboBox()
        if param.optional:
            self.combo.addItem("(none)", None)
        for c in param.choices or ():
            self.combo.addItem(str(c), c)
        self._layout.addWidget(self.combo, 1)
        self.combo.currentIndexChanged.connect(self.changed)
        self.set_value(None if param.required else param.default)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        for i in range(self.combo.count()):
            if self.combo.itemData(i) == value:
                self.combo.setCurrentIndex(i)
                return


class _TextField(_Field):
    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.edit = QtWidgets.QLineEdit()
        self._layout.addWidget(self.edit, 1)
        self.edit.textChanged.connect(self.changed)
        self.set_value(None if param.required else param.default)

    def value(self) -> Any:
        text = self.edit.text()
        if text == "" and (self.param.optional or (not self.param.required
                                                   and self.param.default is None)):
            return None
        return text

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))

    def error(self) -> str | None:
        if self.param.required and self.edit.text() == "":
            return "required"
        return None


class _AxesField(_Field):
    """Editable combo for axis specifications (``navigation``, ``signal``, ``all``, names)."""

    def __init__(self, param: Param, dataset: Dataset,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.names = [a.name for a in dataset.axes]
        self.combo = QtWidgets.QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(list(_AXES_WORDS) + self.names)
        self._layout.addWidget(self.combo, 1)
        self.combo.editTextChanged.connect(self.changed)
        self.set_value(None if param.required else param.default)

    def value(self) -> Any:
        return self.combo.currentText().strip()

    def set_value(self, value: Any) -> None:
        self.combo.setEditText("" if value is None else str(value))

    def error(self) -> str | None:
        text = self.value()
        if text in _AXES_WORDS:
            return None
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            return "give navigation, signal, all or axis names such as " + ",".join(
                self.names[-2:])
        unknown = [n for n in names if n not in self.names]
        if unknown:
            return f"no axis named {', '.join(unknown)}; axes are {', '.join(self.names)}"
        if len(set(names)) != len(names):
            return "an axis is named twice"
        return None


class _PathField(_Field):
    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.edit = QtWidgets.QLineEdit()
        self.button = QtWidgets.QPushButton("Browse…")
        self._layout.addWidget(self.edit, 1)
        self._layout.addWidget(self.button)
        self.button.clicked.connect(self._browse)
        self.edit.textChanged.connect(self.changed)
        self.set_value(None if param.required else param.default)

    def _browse(self) -> None:
        start = self.edit.text()
        if self.param.widget in ("file_save", "save"):
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, self.param.name, start)
        elif self.param.widget in ("directory", "folder"):
            path = QtWidgets.QFileDialog.getExistingDirectory(self, self.param.name, start)
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, self.param.name, start)
        if path:
            self.edit.setText(path)

    def value(self) -> Any:
        text = self.edit.text().strip()
        return None if text == "" else text

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))

    def error(self) -> str | None:
        if self.value() is None and not (self.param.optional or self.param.default is None):
            return "choose a file"
        return None


class _LiteralField(_Field):
    """Fallback: a Python literal typed as text (tuples, lists, dicts, numbers...)."""

    def __init__(self, param: Param, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.edit = QtWidgets.QLineEdit()
        self.edit.setPlaceholderText("Python literal, e.g. (1, 2) or {'x': (0, 10)}")
        self._layout.addWidget(self.edit, 1)
        self.edit.textChanged.connect(self.changed)
        self.set_value(None if param.required else param.default)

    def _parse(self) -> tuple[Any, str | None]:
        text = self.edit.text().strip()
        if text == "":
            if self.param.required:
                return None, "required"
            return None, None
        try:
            return ast.literal_eval(text), None
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            return None, f"not a Python literal ({type(exc).__name__})"

    def value(self) -> Any:
        return self._parse()[0]

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else repr(value))

    def error(self) -> str | None:
        return self._parse()[1]


class _RegionField(_Field):
    """Axis rows (use, start, stop) for a region ``{axis name: (start, stop)}``.

    The values are calibrated coordinates, or pixel indices when the dialog's ``calibrated``
    option (if any) is off; toggling it converts the rows. Values set programmatically (from
    an ROI) are kept exactly, even where the spin boxes show them rounded; a value the user
    edits is taken as shown.
    """

    def __init__(self, param: Param, dataset: Dataset,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.axes = list(dataset.axes)
        self.calibrated = True
        self._setting = False
        self._exact: dict[tuple[str, int], float] = {}
        grid_host = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        for col, text in enumerate(("axis", "start", "stop")):
            grid.addWidget(QtWidgets.QLabel(f"<i>{text}</i>"), 0, col)
        self.rows: dict[str, tuple[QtWidgets.QCheckBox, QtWidgets.QDoubleSpinBox,
                                   QtWidgets.QDoubleSpinBox]] = {}
        for r, ax in enumerate(self.axes, start=1):
            box = QtWidgets.QCheckBox(ax.name)
            box.setToolTip(f"crop along {ax.name} ({ax.size} samples); the samples kept are "
                           "those with start <= coordinate < stop")
            start = QtWidgets.QDoubleSpinBox()
            stop = QtWidgets.QDoubleSpinBox()
            for j, sp in enumerate((start, stop)):
                sp.setKeyboardTracking(False)
                sp.setEnabled(False)
                sp.valueChanged.connect(
                    lambda _v, key=(ax.name, j): self._edited(key))
            box.toggled.connect(start.setEnabled)
            box.toggled.connect(stop.setEnabled)
            box.toggled.connect(self.changed)
            grid.addWidget(box, r, 0)
            grid.addWidget(start, r, 1)
            grid.addWidget(stop, r, 2)
            self.rows[ax.name] = (box, start, stop)
        self._layout.addWidget(grid_host, 1)
        self._configure()
        self.set_value(None if param.required else param.default)

    def _edited(self, key: tuple[str, int]) -> None:
        if not self._setting:
            self._exact.pop(key, None)
        self.changed.emit()

    def _configure(self) -> None:
        for ax in self.axes:
            _, start, stop = self.rows[ax.name]
            lo, hi = self.full_range(ax.name)
            if self.calibrated:
                dec = min(10, max(0, math.ceil(-math.log10(abs(ax.scale)))) + 3)
                suffix = f" {ax.units}" if ax.units else ""
            else:
                dec, suffix = 0, " px"
            for sp in (start, stop):
                sp.blockSignals(True)
                sp.setDecimals(dec)
                # widen by half a display step so the rounded ends still hold the extent
                pad = 0.5 * 10.0 ** -dec
                sp.setRange(lo - pad, hi + pad)
                sp.setSingleStep(abs(ax.scale) if self.calibrated else 1.0)
                sp.setSuffix(suffix)
                sp.blockSignals(False)

    def full_range(self, name: str) -> tuple[float, float]:
        """Return the whole extent of axis ``name`` in the current units.

        Parameters
        ----------
        name : str
            Axis name.

        Returns
        -------
        tuple of float
            ``(start, stop)`` covering every sample (stop is one step past the last one).
        """
        ax = next(a for a in self.axes if a.name == name)
        if not self.calibrated:
            return 0.0, float(ax.size)
        if ax.scale > 0:
            return ax.offset, ax.offset + ax.scale * ax.size
        return ax.offset + ax.scale * ax.size, ax.offset

    def _get(self, name: str) -> tuple[float, float]:
        _, start, stop = self.rows[name]
        a = self._exact.get((name, 0), float(start.value()))
        b = self._exact.get((name, 1), float(stop.value()))
        return a, b

    def _put(self, name: str, a: float, b: float) -> None:
        _, start, stop = self.rows[name]
        self._setting = True
        try:
            start.setValue(a)
            stop.setValue(b)
        finally:
            self._setting = False
        self._exact[(name, 0)] = float(a)
        self._exact[(name, 1)] = float(b)

    def set_calibrated(self, calibrated: bool) -> None:
        """Switch between calibrated coordinates and pixel indices, converting the rows.

        Parameters
        ----------
        calibrated : bool
            True for calibrated units.
        """
        calibrated = bool(calibrated)
        if calibrated == self.calibrated:
            return
        old = {ax.name: self._get(ax.name) for ax in self.axes}
        self.calibrated = calibrated
        self._configure()
        for ax in self.axes:
            a, b = old[ax.name]
            if calibrated:  # indices -> coordinates
                ca, cb = ax.offset + ax.scale * a, ax.offset + ax.scale * b
            else:  # coordinates -> indices
                ca, cb = float(round(ax.index(a))), float(round(ax.index(b)))
            self._put(ax.name, min(ca, cb), max(ca, cb))
        self.changed.emit()

    def value(self) -> Any:
        out: dict[str, tuple[float, float]] = {}
        for name, (box, _, _) in self.rows.items():
            if box.isChecked():
                a, b = self._get(name)
                out[name] = (a, b) if self.calibrated else (float(round(a)), float(round(b)))
        return out or None

    def set_value(self, value: Any) -> None:
        value = dict(value or {})
        for name, (box, _, _) in self.rows.items():
            full = self.full_range(name)
            if name in value:
                a, b = value[name]
                self._put(name, full[0] if a is None else float(a),
                          full[1] if b is None else float(b))
                box.setChecked(True)
            else:
                box.setChecked(False)
                self._put(name, *full)
        self.changed.emit()

    def error(self) -> str | None:
        bad = []
        for name, (box, _, _) in self.rows.items():
            if box.isChecked():
                a, b = self._get(name)
                if not a < b:
                    bad.append(name)
        if bad:
            return f"start must be smaller than stop on {', '.join(bad)}"
        if self.value() is None:
            # an empty region selects nothing (image.crop would fail at run time): say so here
            return ("no region: check at least one axis, or draw a rectangle ROI on the image "
                    "before opening the dialog")
        return None


def _make_field(param: Param, dataset: Dataset | Table) -> _Field:
    """Choose the editor of one option."""
    if param.choices is not None:
        return _ChoiceField(param)
    t = param.type
    if t is bool:
        return _BoolField(param)
    if t in (int, float):
        return _NumberField(param)
    has_axes = bool(getattr(dataset, "axes", ()))  # a Table input has none
    if is_region_param(param) and has_axes:
        return _RegionField(param, dataset)
    if t is str and (param.widget == "axis" or param.name == "axes") and has_axes:
        return _AxesField(param, dataset)
    if t is str:
        return _TextField(param)
    if t is pathlib.Path or param.widget in ("file", "file_open", "file_save", "directory"):
        return _PathField(param)
    return _LiteralField(param)


# --------------------------------------------------------------------------------------------
# the dialog


class OperationDialog(QtWidgets.QDialog):
    """Dialog of one operation's options, generated from its signature.

    Parameters
    ----------
    op : Operation
        The registered operation.
    dataset : Dataset or Table
        The primary input (the active window's dataset).
    others : sequence of (str, Dataset)
        Other open windows (title, dataset) offered for extra dataset inputs.
    parent : QWidget, optional
        Parent widget.
    memory : ParamMemory, optional
        Where last-used values are remembered; a default :class:`ParamMemory` when omitted.

    Notes
    -----
    ``previewRequested(dict)`` is emitted about 150 ms after the last change while the
    Preview check box (present only for cheap operations) is on and every value is valid;
    ``previewCleared()`` when the box is turned off or the dialog is cancelled while it was
    on (the preview should then be removed). ``validityChanged(bool)`` follows the OK button.
    """

    previewRequested = QtCore.Signal(object)
    previewCleared = QtCore.Signal()
    validityChanged = QtCore.Signal(bool)

    PREVIEW_DELAY_MS = 150

    def __init__(self, op: Operation, dataset: Dataset | Table, *,
                 others: Sequence[tuple[str, Dataset | Table]] = (),
                 parent: QtWidgets.QWidget | None = None,
                 memory: ParamMemory | None = None) -> None:
        super().__init__(parent)
        self.op = op
        self.dataset = dataset
        self.memory = memory if memory is not None else ParamMemory()
        self._others = list(others)
        self.setWindowTitle(op.title + (f" — {dataset.title}" if dataset.title else ""))
        self.fields: dict[str, _Field] = {}
        self._errors: dict[str, QtWidgets.QLabel] = {}
        self.input_combos: list[QtWidgets.QComboBox] = []
        self._valid = True

        outer = QtWidgets.QVBoxLayout(self)
        if op.summary:
            summary = QtWidgets.QLabel(op.summary)
            summary.setWordWrap(True)
            outer.addWidget(summary)
        form = QtWidgets.QFormLayout()
        outer.addLayout(form)
        self.form = form

        # extra dataset inputs
        for spec in op.inputs[1:]:
            combo = QtWidgets.QComboBox()
            if spec.optional:
                combo.addItem("(none)", None)
            for title, ds in self._others:
                if isinstance(ds, spec.kind):
                    combo.addItem(title, ds)
            combo.setToolTip(spec.help)
            combo.currentIndexChanged.connect(self._on_changed)
            self.input_combos.append(combo)
            err = self._error_label()
            self._errors[f"<input {spec.name}>"] = err
            form.addRow(self._label(spec.name.replace("_", " "), spec.help),
                        self._with_error(combo, err))

        # options
        remembered = self.memory.restore(op)
        for p in op.params:
            field = _make_field(p, dataset)
            if p.help:
                field.setToolTip(p.help.replace("``", ""))
            if p.name in remembered and not (isinstance(field, _RegionField) and not set(
                    remembered[p.name] or {}) <= set(field.rows)):
                field.set_value(remembered[p.name])
            field.changed.connect(self._on_changed)
            self.fields[p.name] = field
            err = self._error_label()
            self._errors[p.name] = err
            form.addRow(self._label(p.name.replace("_", " "), p.help, p.units),
                        self._with_error(field, err))
        region = self._region_field()
        cal = self.fields.get("calibrated")
        if region is not None and isinstance(cal, _BoolField):
            region.set_calibrated(cal.value())
            cal.check.toggled.connect(region.set_calibrated)

        # preview
        self.preview_check: QtWidgets.QCheckBox | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._emit_preview)
        if op.cheap:
            self.preview_check = QtWidgets.QCheckBox("Preview")
            self.preview_check.setToolTip("Show the result on the image while editing")
            self.preview_check.toggled.connect(self._on_preview_toggled)
            outer.addWidget(self.preview_check)

        # help pane
        self.help_browser = QtWidgets.QTextBrowser()
        self.help_browser.setHtml(self.help_html())
        self.help_browser.setVisible(False)
        self.help_browser.setMinimumHeight(160)
        outer.addWidget(self.help_browser, 1)

        B = QtWidgets.QDialogButtonBox.StandardButton
        self.buttons = QtWidgets.QDialogButtonBox(B.Ok | B.Cancel | B.Reset | B.Help)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(B.Reset).clicked.connect(self.reset)
        self.buttons.helpRequested.connect(self.toggle_help)
        outer.addWidget(self.buttons)
        self._validate()

    # ---- layout helpers
    @staticmethod
    def _label(text: str, help_text: str, units: str = "") -> QtWidgets.QLabel:
        lab = QtWidgets.QLabel(text + (f" ({units})" if units else "") + ":")
        if help_text:
            lab.setToolTip(help_text)
        return lab

    @staticmethod
    def _error_label() -> QtWidgets.QLabel:
        err = QtWidgets.QLabel()
        err.setStyleSheet(_ERROR_STYLE)
        err.setWordWrap(True)
        err.setVisible(False)
        return err

    @staticmethod
    def _with_error(editor: QtWidgets.QWidget, err: QtWidgets.QLabel) -> QtWidgets.QWidget:
        host = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(editor)
        lay.addWidget(err)
        return host

    def _region_field(self) -> _RegionField | None:
        return next((f for f in self.fields.values() if isinstance(f, _RegionField)), None)

    # ---- public API
    def ok_button(self) -> QtWidgets.QPushButton:
        """Return the OK button (disabled while a value is invalid).

        Returns
        -------
        QPushButton
            The button.
        """
        return self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)

    def errors(self) -> dict[str, str]:
        """Return the current problems, by option name (empty when every value is valid).

        Returns
        -------
        dict
            Option (or ``<input name>``) to message.
        """
        out: dict[str, str] = {}
        for spec, combo in zip(self.op.inputs[1:], self.input_combos):
            if combo.currentData() is None and not spec.optional:
                out[f"<input {spec.name}>"] = "no open window holds a suitable dataset"
        for name, field in self.fields.items():
            msg = field.error()
            if msg is None:
                try:
                    self.op.param(name).validate(field.value(), "")
                except ParameterError as exc:
                    msg = str(exc)
                    prefix = f"{name} "
                    if msg.startswith(prefix):
                        msg = msg[len(prefix):]
            if msg:
                out[name] = msg
        return out

    def is_valid(self) -> bool:
        """Tell whether every value is valid (OK is enabled).

        Returns
        -------
        bool
            True when :meth:`values` and :meth:`inputs` can be used.
        """
        return not self.errors()

    def values(self) -> dict[str, Any]:
        """Return the options for :func:`micrographia.run`.

        Returns
        -------
        dict
            Every option, validated and normalised.

        Raises
        ------
        ParameterError
            If a value is invalid.
        """
        errors = self.errors()
        bad = {k: v for k, v in errors.items() if not k.startswith("<input")}
        if bad:
            raise ParameterError(f"{self.op.id}: " + "; ".join(
                f"{k}: {v}" for k, v in bad.items()))
        return {name: self.op.param(name).validate(field.value(), self.op.id)
                for name, field in self.fields.items()}

    def inputs(self) -> tuple[Dataset, ...]:
        """Return the primary dataset followed by the chosen extra inputs.

        Returns
        -------
        tuple of Dataset
            Positional inputs for :func:`micrographia.run` (trailing optional inputs left
            unset are omitted).
        """
        chosen = [combo.currentData() for combo in self.input_combos]
        while chosen and chosen[-1] is None:
            chosen.pop()
        return (self.dataset, *chosen)

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show the given option values (unknown names are ignored).

        Parameters
        ----------
        values : mapping
            Option name to value.
        """
        for name, v in values.items():
            if name in self.fields:
                self.fields[name].set_value(v)
        self._validate()

    def set_region(self, region: Mapping[str, tuple[float | None, float | None]] | None) -> None:
        """Prefill the region option from an ROI ``{axis name: (start, stop)}``.

        The region is in calibrated units (as :meth:`DatasetView.roi_region` gives it); when
        the dialog is in pixel mode it is converted.

        Parameters
        ----------
        region : mapping or None
            Axis name to (start, stop); axes not named are left unchecked.
        """
        field = self._region_field()
        if field is None:
            return
        if region and not field.calibrated:
            conv = {}
            for name, (a, b) in region.items():
                ax = next((x for x in field.axes if x.name == name), None)
                if ax is None:
                    continue
                ia = None if a is None else round(ax.index(float(a)))
                ib = None if b is None else round(ax.index(float(b)))
                if ia is not None and ib is not None and ia > ib:
                    ia, ib = ib, ia
                conv[name] = (ia, ib)
            region = conv
        field.set_value({k: v for k, v in (region or {}).items() if k in field.rows})
        self._validate()

    def preview_enabled(self) -> bool:
        """Tell whether live preview is on.

        Returns
        -------
        bool
            True when the operation is cheap and the Preview box is checked.
        """
        return self.preview_check is not None and self.preview_check.isChecked()

    def reset(self) -> None:
        """Restore every option to the operation's default."""
        for p in self.op.params:
            self.fields[p.name].set_value(None if p.required else p.default)
        self._validate()

    def toggle_help(self) -> None:
        """Show or hide the help pane."""
        self.help_browser.setVisible(not self.help_browser.isVisible())

    def help_html(self) -> str:
        """Return the help text: summary and per-option help from ``op.describe()``.

        Returns
        -------
        str
            HTML.
        """
        d = self.op.describe()
        parts = [f"<h3>{html.escape(d['title'])} <small>({html.escape(d['id'])})</small></h3>"]
        if d["summary"]:
            parts.append(f"<p>{html.escape(d['summary'].replace('``', ''))}</p>")
        if d["params"]:
            parts.append("<dl>")
            for p in d["params"]:
                bits = [html.escape(str(p["type"]))]
                if p["choices"] is not None:
                    bits.append("one of " + ", ".join(html.escape(repr(c))
                                                      for c in p["choices"]))
                if p["range"] is not None:
                    lo, hi = p["range"]
                    bits.append(f"range [{'−∞' if lo is None else lo}, "
                                f"{'∞' if hi is None else hi}]")
                if p["units"]:
                    bits.append(html.escape(p["units"]))
                bits.append("required" if p["required"] else
                            f"default {html.escape(repr(p['default']))}")
                parts.append(f"<dt><b>{html.escape(p['name'])}</b> — {'; '.join(bits)}</dt>")
                if p["help"]:
                    parts.append(f"<dd>{html.escape(p['help'].replace('``', ''))}</dd>")
            parts.append("</dl>")
        if self.op.plugin:
            parts.append(f"<p><i>Plugin: {html.escape(self.op.plugin)}</i></p>")
        return "\n".join(parts)

    def accept(self) -> None:
        """Remember the values and close with OK (ignored while a value is invalid)."""
        if not self.is_valid():
            return
        self.memory.remember(self.op.id, self.values())
        super().accept()

    def reject(self) -> None:
        """Close with Cancel; a shown preview is cleared."""
        self._timer.stop()
        if self.preview_enabled():
            self.previewCleared.emit()
        super().reject()

    # ---- internals
    def _validate(self) -> bool:
        errors = self.errors()
        for name, label in self._errors.items():
            msg = errors.get(name)
            label.setText(msg or "")
            label.setVisible(bool(msg))
        valid = not errors
        self.ok_button().setEnabled(valid)
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)
        return valid

    def _on_changed(self, *_: Any) -> None:
        valid = self._validate()
        if self.preview_enabled() and valid:
            self._timer.start()

    def _on_preview_toggled(self, on: bool) -> None:
        if on and self._validate():
            self._timer.start()
        elif not on:
            self._timer.stop()
            self.previewCleared.emit()

    def _emit_preview(self) -> None:
        if self.preview_enabled() and self.is_valid():
            self.previewRequested.emit(self.values())
