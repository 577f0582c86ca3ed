"""The operation registry: typed functions described once, used by menus, dialogs, logs and scripts.

An operation is a pure function ``f(dataset, [more datasets], *, param=default, ...)``. Its
signature and docstring describe it completely:

* positional parameters annotated :class:`~micrographia.Dataset` (or ``Dataset | None``) or
  :class:`~micrographia.Table` are inputs;
* keyword-only parameters are options; ``Annotated[float, Range(0, 10), Units("px")]`` gives a
  range and units, ``Literal["a", "b"]`` or an :class:`enum.Enum` gives choices;
* the numpydoc ``Parameters`` section gives each option's help text.

Plugins add operations with :meth:`Registry.add` from their ``micrographia_register`` hook.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import pathlib
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from .dataset import Dataset, Table
from .errors import ParameterError, UnknownOperationError

__all__ = ["Range", "Units", "Step", "Widget", "Param", "Input", "Operation", "Registry",
           "ID_PATTERN"]

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed closed interval of a numeric option (``None`` for an open end).

    Parameters
    ----------
    min : float or None
        Smallest allowed value.
    max : float or None
        Largest allowed value.
    """

    min: float | None = None
    max: float | None = None


@dataclasses.dataclass(frozen=True)
class Units:
    """Units of a numeric option, shown next to its field.

    Parameters
    ----------
    units : str
        Units text, e.g. ``"px"`` or ``"nm"``.
    """

    units: str


@dataclasses.dataclass(frozen=True)
class Step:
    """Suggested increment of a numeric option in dialogs.

    Parameters
    ----------
    step : float
        Increment.
    """

    step: float


@dataclasses.dataclass(frozen=True)
class Widget:
    """Hint for the dialog generator (e.g. ``"slider"``, ``"axis"``, ``"file_save"``).

    Parameters
    ----------
    kind : str
        Widget kind.
    """

    kind: str


_MISSING = inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class Param:
    """Specification of one keyword option of an operation.

    Parameters
    ----------
    name : str
        Keyword name.
    type : type
        Base type (``float``, ``int``, ``bool``, ``str``, ``pathlib.Path``, ``tuple``, ``dict``
        ...), with ``Annotated`` and ``Optional`` stripped.
    default : Any
        Default value, or ``inspect.Parameter.empty`` when required.
    choices : tuple or None
        Allowed values for ``Literal``/``Enum`` options.
    range : Range or None
        Allowed interval for numbers.
    units : str
        Units shown next to the field.
    step : float or None
        Suggested increment.
    optional : bool
        Whether ``None`` is accepted.
    help : str
        Help text from the docstring.
    widget : str or None
        Dialog hint.
    annotation : Any
        The full annotation.
    """

    name: str
    type: Any
    default: Any = _MISSING
    choices: tuple[Any, ...] | None = None
    range: Range | None = None
    units: str = ""
    step: float | None = None
    optional: bool = False
    help: str = ""
    widget: str | None = None
    annotation: Any = None

    @property
    def required(self) -> bool:
        """Whether the option has no default."""
        return self.default is _MISSING

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description (for ``micrographia operations --json``).

        Returns
        -------
        dict
            name, type, default, choices, range, units, optional, help.
        """
        return {
            "name": self.name,
            "type": getattr(self.type, "__name__", str(self.type)),
            "default": None if self.required else _jsonable(self.default),
            "required": self.required,
            "choices": None if self.choices is None else [_jsonable(c) for c in self.choices],
            "range": None if self.range is None else [self.range.min, self.range.max],
            "units": self.units,
            "optional": self.optional,
            "help": self.help,
        }

    def validate(self, value: Any, op_id: str = "") -> Any:
        """Check and normalise a value for this option.

        Parameters
        ----------
        value : Any
            Value given by the caller.
        op_id : str
            Operation id, for the error message.

        Returns
        -------
        Any
            The value, converted where unambiguous (int to float, str to Path, Enum to value).

        Raises
        ------
        ParameterError
            If the value has the wrong type, is out of range or not one of the choices.
        """
        where = f"{op_id}: {self.name}" if op_id else self.name
        if value is None:
            if self.optional or (not self.required and self.default is None):
                return None
            raise ParameterError(f"{where} may not be None")
        if isinstance(value, enum.Enum):
            value = value.value
        if self.choices is not None:
            if value not in self.choices:
                raise ParameterError(
                    f"{where} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
            return value
        t = self.type
        if t is bool:
            if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
                return bool(value)
            raise ParameterError(f"{where} must be True or False; got {value!r}")
        if t in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(
                    value, "__index__") and not hasattr(value, "__float__"):
                raise ParameterError(f"{where} must be a number; got {value!r}")
            if t is int:
                if isinstance(value, float) or type(value).__name__.startswith("float"):
                    if not float(value).is_integer():
                        raise ParameterError(f"{where} must be an integer; got {value!r}")
                value = int(value)
            else:
                value = float(value)
                if not math.isfinite(value):
                    raise ParameterError(f"{where} must be finite; got {value!r}")
            r = self.range
            if r is not None:
                if r.min is not None and value < r.min or r.max is not None and value > r.max:
                    lo = "-inf" if r.min is None else r.min
                    hi = "inf" if r.max is None else r.max
                    raise ParameterError(f"{where} must be in [{lo}, {hi}]; got {value!r}")
            return value
        if t is str:
            if not isinstance(value, str):
                raise ParameterError(f"{where} must be text; got {value!r}")
            return value
        if t is pathlib.Path:
            if not isinstance(value, (str, pathlib.PurePath)):
                raise ParameterError(f"{where} must be a file path; got {value!r}")
            return str(value)
        if t in (tuple, list):
            if not isinstance(value, (tuple, list)):
                raise ParameterError(f"{where} must be a sequence; got {value!r}")
            return tuple(_plain(v) for v in value)
        if t is dict:
            if not isinstance(value, Mapping):
                raise ParameterError(f"{where} must be a mapping; got {value!r}")
            return {str(k): _plain(v) for k, v in value.items()}
        return value


def _plain(v: Any) -> Any:
    """Convert numpy scalars and nested sequences into plain Python literals."""
    if hasattr(v, "item") and getattr(v, "ndim", None) == 0:
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


@dataclasses.dataclass(frozen=True)
class Input:
    """Specification of one positional input of an operation.

    Parameters
    ----------
    name : str
        Parameter name.
    kind : type
        :class:`Dataset` or :class:`Table`.
    optional : bool
        Whether ``None`` may be passed.
    help : str
        Help text from the docstring.
    """

    name: str
    kind: type
    optional: bool = False
    help: str = ""


def _docstring_sections(doc: str) -> tuple[str, dict[str, str]]:
    """Split a numpydoc docstring into its summary and per-parameter help."""
    doc = inspect.cleandoc(doc or "")
    lines = doc.splitlines()
    summary = []
    for line in lines:
        if not line.strip():
            break
        summary.append(line.strip())
    helps: dict[str, str] = {}
    in_params = False
    current = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt and set(nxt) == {"-"} and stripped:
            in_params = stripped.lower() in ("parameters", "other parameters")
            current = None
            continue
        if set(stripped) == {"-"}:
            continue
        if not in_params:
            continue
        if line and not line.startswith((" ", "\t")):
            names = stripped.split(":")[0]
            current = [n.strip().lstrip("*") for n in names.split(",")]
            for n in current:
                helps.setdefault(n, "")
        elif current and stripped:
            for n in current:
                helps[n] = (helps[n] + " " + stripped).strip()
    return " ".join(summary), helps


def _strip(annotation: Any) -> tuple[Any, list[Any], bool]:
    """Return (base type, Annotated extras, optional) of an annotation."""
    extras: list[Any] = []
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation, extras = args[0], extras + list(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) < len(get_args(annotation)):
                optional = True
            if len(args) == 1:
                annotation = args[0]
                continue
        break
    return annotation, extras, optional


def _param_spec(p: inspect.Parameter, annotation: Any, help_text: str) -> Param:
    base, extras, optional = _strip(annotation)
    choices = None
    origin = get_origin(base)
    if origin is Literal:
        choices = tuple(get_args(base))
        base_type: Any = type(choices[0]) if choices else str
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        choices = tuple(m.value for m in base)
        base_type = type(choices[0]) if choices else str
    elif origin in (tuple, list):
        base_type = tuple
    elif origin in (dict, Mapping) or base is Mapping:
        base_type = dict
    elif isinstance(base, type) and issubclass(base, pathlib.PurePath):
        base_type = pathlib.Path
    else:
        base_type = base
    rng = next((e for e in extras if isinstance(e, Range)), None)
    units = next((e.units for e in extras if isinstance(e, Units)), "")
    step = next((e.step for e in extras if isinstance(e, Step)), None)
    widget = next((e.kind for e in extras if isinstance(e, Widget)), None)
    default = p.default
    if isinstance(default, enum.Enum):
        default = default.value
    return Param(name=p.name, type=base_type, default=default, choices=choices, range=rng,
                 units=units, step=step, optional=optional, help=help_text, widget=widget,
                 annotation=annotation)


@dataclasses.dataclass(frozen=True, eq=False)
class Operation:
    """A registered operation.

    Parameters
    ----------
    id : str
        Stable id ``group.name`` (the public contract written to logs).
    func : callable
        The function.
    title : str
        Menu text.
    menu : str
        Menu path, e.g. ``"Process/Filters"``.
    inputs : tuple of Input
        Positional inputs.
    params : tuple of Param
        Keyword options.
    summary : str
        First docstring paragraph.
    doc : str
        Whole docstring.
    cheap : bool
        Fast enough for a live preview.
    gpu : bool
        Accepts cupy arrays (runs on the GPU when the device setting allows).
    plugin : str
        Name of the plugin that registered it.
    kinds : tuple of str
        Dataset kinds the first input may have (:attr:`Dataset.kind` values, or
        ``"signal2d"`` / ``"signal1d"`` for any dataset with two / one signal axes); empty
        accepts any.
    dtypes : str
        numpy dtype kind characters the first input's data may have (``"b"`` for masks,
        ``"iub"`` for label images, ``"f"`` ...); empty accepts any.
    """

    id: str
    func: Callable[..., Any]
    title: str
    menu: str
    inputs: tuple[Input, ...]
    params: tuple[Param, ...]
    summary: str = ""
    doc: str = ""
    cheap: bool = False
    gpu: bool = False
    plugin: str = ""
    kinds: tuple[str, ...] = ()
    dtypes: str = ""

    def input_problem(self, obj: Any) -> str:
        """Say why ``obj`` cannot be this operation's first input ("" when it can).

        The app enables menu entries with it; :meth:`bind` raises it as a ParameterError.

        Parameters
        ----------
        obj : Dataset or Table
            Candidate first input.

        Returns
        -------
        str
            The reason, or ``""``.
        """
        if not self.inputs:
            return f"{self.id} takes no input"
        if not isinstance(obj, self.inputs[0].kind):
            return (f"{self.id}: input {self.inputs[0].name!r} must be a "
                    f"{self.inputs[0].kind.__name__}, got {type(obj).__name__}")
        if self.kinds and isinstance(obj, Dataset):
            dims = {"signal2d": 2, "signal1d": 1}
            ok = any(obj.kind == k or dims.get(k) == obj.signal_dims for k in self.kinds)
            if not ok:
                words = {"signal2d": "images (two signal axes)",
                         "signal1d": "spectra (one signal axis)"}
                want = " or ".join(words.get(k, f"{k} data") for k in self.kinds)
                return f"{self.id} works on {want}, not on {obj.kind} data"
        if self.dtypes and isinstance(obj, Dataset) and obj.dtype.kind not in self.dtypes:
            names = {"b": "boolean (a mask)", "i": "signed integer", "u": "unsigned integer",
                     "f": "floating point", "c": "complex"}
            want = " or ".join(dict.fromkeys(names.get(c, c) for c in self.dtypes))
            return f"{self.id} needs {want} data, got {obj.dtype}"
        return ""

    def accepts(self, obj: Any) -> bool:
        """Whether ``obj`` can be this operation's first input.

        Parameters
        ----------
        obj : Dataset or Table
            Candidate first input.

        Returns
        -------
        bool
            True when :meth:`input_problem` finds nothing.
        """
        return not self.input_problem(obj)

    def param(self, name: str) -> Param:
        """Return the spec of option ``name``.

        Parameters
        ----------
        name : str
            Option name.

        Returns
        -------
        Param
            Its specification.
        """
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(f"{self.id} has no option {name!r}")

    def bind(self, inputs: tuple[Any, ...], params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate inputs and options; return the full, normalised keyword options.

        Parameters
        ----------
        inputs : tuple
            Positional inputs (datasets or tables).
        params : mapping
            Keyword options given by the caller.

        Returns
        -------
        dict
            Every option, defaults filled in, values normalised.

        Raises
        ------
        ParameterError
            On a missing, extra or invalid input or option.
        """
        required = [i for i in self.inputs if not i.optional]
        if not len(required) <= len(inputs) <= len(self.inputs):
            n = (str(len(self.inputs)) if len(required) == len(self.inputs)
                 else f"{len(required)} to {len(self.inputs)}")
            raise ParameterError(f"{self.id} takes {n} input(s), got {len(inputs)}")
        if inputs and inputs[0] is not None:
            problem = self.input_problem(inputs[0])
            if problem:
                raise ParameterError(problem)
        for spec, value in zip(self.inputs, inputs):
            if value is None and spec.optional:
                continue
            if not isinstance(value, spec.kind):
                raise ParameterError(
                    f"{self.id}: input {spec.name!r} must be a {spec.kind.__name__}, "
                    f"got {type(value).__name__}")
        names = {p.name for p in self.params}
        extra = set(params) - names
        if extra:
            raise ParameterError(
                f"{self.id} has no option(s) {', '.join(sorted(extra))}; options are "
                f"{', '.join(p.name for p in self.params) or 'none'}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in params:
                out[p.name] = p.validate(params[p.name], self.id)
            elif p.required:
                raise ParameterError(f"{self.id}: option {p.name!r} is required")
            else:
                out[p.name] = p.default
        return out

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description.

        Returns
        -------
        dict
            id, title, menu, summary, inputs, params, cheap, gpu, plugin.
        """
        return {
            "id": self.id, "title": self.title, "menu": self.menu, "summary": self.summary,
            "inputs": [{"name": i.name, "kind": i.kind.__name__, "optional": i.optional}
                       for i in self.inputs],
            "params": [p.describe() for p in self.params],
            "cheap": self.cheap, "gpu": self.gpu, "plugin": self.plugin,
            "kinds": list(self.kinds), "dtypes": self.dtypes,
        }


def make_operation(func: Callable[..., Any], *, id: str, title: str | None = None,
                   menu: str = "", cheap: bool = False, gpu: bool = False,
                   plugin: str = "", kinds: tuple[str, ...] | list[str] = (),
                   dtypes: str = "") -> Operation:
    """Build an :class:`Operation` from a function's signature and docstring.

    Parameters
    ----------
    func : callable
        The operation function.
    id : str
        Stable id ``group.name``.
    title : str, optional
        Menu text; default from the id.
    menu : str
        Menu path.
    cheap : bool
        Fast enough for a live preview.
    gpu : bool
        Accepts cupy arrays.
    plugin : str
        Registering plugin's name.
    kinds : sequence of str
        Accepted kinds of the first input (see :class:`Operation`).
    dtypes : str
        Accepted dtype kind characters of the first input (see :class:`Operation`).

    Returns
    -------
    Operation
        The description.
    """
    if not ID_PATTERN.match(id):
        raise ParameterError(
            f"operation id {id!r} must look like 'group.name' (lower case, digits, underscores)")
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # unresolvable annotations are a plugin bug: say which
        raise ParameterError(f"{id}: cannot resolve the annotations of {func!r}: {exc}") from exc
    sig = inspect.signature(func)
    summary, helps = _docstring_sections(func.__doc__ or "")
    inputs: list[Input] = []
    params: list[Param] = []
    for p in sig.parameters.values():
        ann = hints.get(p.name, Any)
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            base, _, optional = _strip(ann)
            if not (isinstance(base, type) and issubclass(base, (Dataset, Table))):
                raise ParameterError(
                    f"{id}: positional parameter {p.name!r} must be annotated Dataset or Table;"
                    " make options keyword-only (after '*')")
            inputs.append(Input(p.name, base, optional or p.default is None,
                                helps.get(p.name, "")))
        elif p.kind == p.KEYWORD_ONLY:
            params.append(_param_spec(p, ann, helps.get(p.name, "")))
        else:
            raise ParameterError(f"{id}: *args/**kwargs are not allowed in operations")
    if not inputs:
        raise ParameterError(f"{id}: an operation needs at least one Dataset or Table input")
    if title is None:
        title = id.split(".")[-1].replace("_", " ").capitalize()
    return Operation(id=id, func=func, title=title, menu=menu, inputs=tuple(inputs),
                     params=tuple(params), summary=summary,
                     doc=inspect.cleandoc(func.__doc__ or ""),
                     cheap=cheap, gpu=gpu, plugin=plugin, kinds=tuple(kinds),
                     dtypes=str(dtypes))


class Registry:
    """The set of registered operations, keyed by id."""

    def __init__(self) -> None:
        self._ops: dict[str, Operation] = {}

    def add(self, func: Callable[..., Any], *, id: str, title: str | None = None,
            menu: str = "", cheap: bool = False, gpu: bool = False,
            plugin: str = "", kinds: tuple[str, ...] | list[str] = (),
            dtypes: str = "") -> Operation:
        """Register ``func`` as operation ``id``.

        Parameters
        ----------
        func : callable
            The operation function (see the module docstring for its shape).
        id : str
            Stable id ``group.name``; never reuse an id for a different meaning.
        title : str, optional
            Menu text.
        menu : str
            Menu path such as ``"Process/Filters"``.
        cheap : bool
            Fast enough for a live preview.
        gpu : bool
            The function accepts cupy arrays.
        plugin : str
            Name of the registering plugin (filled in by the plugin manager).
        kinds : sequence of str
            Accepted kinds of the first input, e.g. ``("image", "stack")`` or
            ``("signal2d",)``; empty accepts any.
        dtypes : str
            Accepted dtype kind characters of the first input, e.g. ``"b"`` for a mask.

        Returns
        -------
        Operation
            The registered description.

        Raises
        ------
        ParameterError
            If the id is malformed or already taken, or the signature is not an operation's.
        """
        op = make_operation(func, id=id, title=title, menu=menu, cheap=cheap, gpu=gpu,
                            plugin=plugin, kinds=kinds, dtypes=dtypes)
        if id in self._ops:
            other = self._ops[id].plugin or "another plugin"
            raise ParameterError(f"operation id {id!r} is already registered by {other}")
        self._ops[id] = op
        return op

    def remove(self, op_id: str) -> None:
        """Unregister an operation (used when a plugin fails half-way).

        Parameters
        ----------
        op_id : str
            The id.
        """
        self._ops.pop(op_id, None)

    def get(self, op_id: str) -> Operation:
        """Return operation ``op_id``.

        Parameters
        ----------
        op_id : str
            The id.

        Returns
        -------
        Operation
            Its description.

        Raises
        ------
        UnknownOperationError
            If no operation has that id (the message suggests close ids).
        """
        try:
            return self._ops[op_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(op_id, self._ops, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownOperationError(f"no operation {op_id!r} is registered{hint}") from None

    def __contains__(self, op_id: object) -> bool:
        return op_id in self._ops

    def __iter__(self) -> Iterator[Operation]:
        return iter(sorted(self._ops.values(), key=lambda o: o.id))

    def __len__(self) -> int:
        return len(self._ops)

    def ids(self) -> list[str]:
        """Return the registered ids, sorted.

        Returns
        -------
        list of str
            Ids.
        """
        return sorted(self._ops)
