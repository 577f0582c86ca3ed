"""Headless replay of recorded session logs (``micrographia replay LOG.py``).

A log is plain Python (ARCHITECTURE §5), but replay does not run it as Python: :func:`parse`
reads it with :mod:`ast` and accepts only the forms the recorder writes::

    import micrographia as mg
    d1 = mg.open("grain.dm4", signal=0, lazy=False)
    d2 = mg.run("filters.gaussian", d1, sigma=1.5, units="px")
    d3, t1 = mg.run("some.op", d2, f1[0])
    mg.display(d2, cmap="viridis", clim=(0.0, 1.0))
    mg.save(d3, "out.hspy")

with literal arguments and earlier variables only. Anything else is refused, with its line
number and the reason, before anything runs; :func:`run_program` then calls
:mod:`micrographia.api` directly (nothing is ``exec``'d). ``--trust`` runs a log as plain Python
instead (:func:`run_trusted`).

Saved outputs are confined to an output folder; :func:`replay_batch` replays one log over many
input files, in this process or on a dask distributed cluster.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import glob
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ReplayError, ReplayRefused

__all__ = [
    "Program", "OpenStep", "RunStep", "SaveStep", "DisplayStep", "Ref", "ReplayResult",
    "BatchResult", "parse", "run_program", "run_trusted", "replay_batch", "cli",
]

#: The ``mg`` functions a log may call.
ALLOWED_CALLS = ("open", "run", "save", "display")
MAX_SOURCE_CHARS = 5_000_000
MAX_STRING_CHARS = 10_000
MAX_NESTING = 16
MAX_ELEMENTS = 100_000
MAX_INT_BITS = 128
_OP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_IN_MEMORY = re.compile(r"^#\s*([A-Za-z]\w*): (.{0,200}?), made in memory", re.MULTILINE)


# -- the parsed program --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Ref:
    """A reference to an earlier result: ``name`` or ``name[index]``.

    Parameters
    ----------
    name : str
        Variable name.
    index : int or None
        Element of a list/tuple variable (``f1[0]``), or None.
    """

    name: str
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


@dataclasses.dataclass(frozen=True)
class OpenStep:
    """``target = mg.open(path, **kwargs)``.

    Parameters
    ----------
    lineno : int
        Line in the log.
    target : str
        Variable name.
    path : str
        File as written in the log.
    kwargs : dict
        ``signal`` and/or ``lazy``.
    """

    lineno: int
    target: str
    path: str
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RunStep:
    """``targets = mg.run(op, *args, **kwargs)``.

    Parameters
    ----------
    lineno : int
        Line in the log.
    targets : tuple of str
        Variable names.
    unpack : bool
        True for ``a, b = mg.run(...)`` (tuple target), False for ``a = mg.run(...)``.
    op : str
        Operation id.
    args : tuple of Ref or None
        Positional inputs.
    kwargs : dict
        Literal options.
    """

    lineno: int
    targets: tuple[str, ...]
    unpack: bool
    op: str
    args: tuple[Ref | None, ...]
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class SaveStep:
    """``mg.save(ref, path, **kwargs)``.

    Parameters
    ----------
    lineno : int
        Line in the log.
    ref : Ref
        What is saved.
    path : str
        Target as written in the log.
    kwargs : dict
        Writer options.
    """

    lineno: int
    ref: Ref
    path: str
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class DisplayStep:
    """``mg.display(ref, **kwargs)``.

    Parameters
    ----------
    lineno : int
        Line in the log.
    ref : Ref
        The dataset.
    kwargs : dict
        Display settings.
    """

    lineno: int
    ref: Ref
    kwargs: dict[str, Any]


Step = OpenStep | RunStep | SaveStep | DisplayStep


@dataclasses.dataclass
class Program:
    """A parsed, vetted log.

    Parameters
    ----------
    steps : list
        :class:`OpenStep`, :class:`RunStep`, :class:`SaveStep` and :class:`DisplayStep` in order.
    path : str or None
        The log file, if it came from one.
    text : str
        The log's source.
    """

    steps: list[Step]
    path: str | None = None
    text: str = ""

    @property
    def opens(self) -> list[OpenStep]:
        """The ``mg.open`` steps, in order."""
        return [s for s in self.steps if isinstance(s, OpenStep)]

    @property
    def saves(self) -> list[SaveStep]:
        """The ``mg.save`` steps, in order."""
        return [s for s in self.steps if isinstance(s, SaveStep)]


@dataclasses.dataclass
class ReplayResult:
    """What :func:`run_program` produced.

    Parameters
    ----------
    variables : dict
        Variable name to object (Dataset, Table, list or tuple).
    outputs : list of Path
        Files written, in order.
    """

    variables: dict[str, Any]
    outputs: list[Path]


@dataclasses.dataclass
class BatchResult:
    """The outcome of one file of a batch (:func:`replay_batch`).

    Parameters
    ----------
    input : Path
        The input file.
    ok : bool
        Whether the replay succeeded.
    message : str
        One line: ``ok (2 outputs)`` or the reason it failed.
    outputs : list of Path
        Files written.
    """

    input: Path
    ok: bool
    message: str
    outputs: list[Path]


# -- parsing -------------------------------------------------------------------------------
class _Refuse(Exception):
    def __init__(self, node: ast.AST | int, reason: str):
        self.lineno = node if isinstance(node, int) else getattr(node, "lineno", 1)
        self.reason = reason


_NODE_NAMES = {
    ast.FunctionDef: "a function definition", ast.AsyncFunctionDef: "a function definition",
    ast.ClassDef: "a class definition", ast.Return: "return", ast.Delete: "del",
    ast.AugAssign: "augmented assignment", ast.AnnAssign: "an annotated assignment",
    ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop",
    ast.If: "an if statement", ast.With: "a with statement", ast.AsyncWith: "a with statement",
    ast.Raise: "raise", ast.Try: "a try statement", ast.Assert: "assert",
    ast.ImportFrom: "a from-import", ast.Global: "global", ast.Nonlocal: "nonlocal",
    ast.Pass: "pass", ast.Break: "break", ast.Continue: "continue",
    ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment expression (:=)", ast.BinOp: "an arithmetic expression",
    ast.BoolOp: "a boolean expression", ast.Compare: "a comparison",
    ast.IfExp: "a conditional expression", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Set: "a set", ast.Slice: "a slice",
    ast.Starred: "a starred expression",
}
if hasattr(ast, "TryStar"):  # Python >= 3.11
    _NODE_NAMES[ast.TryStar] = "a try statement"
if hasattr(ast, "Match"):
    _NODE_NAMES[ast.Match] = "a match statement"


def _what(node: ast.AST) -> str:
    name = _NODE_NAMES.get(type(node))
    if name:
        return name
    if isinstance(node, ast.Call):
        return f"a call of {_describe_callee(node.func)}"
    if isinstance(node, ast.Attribute):
        return f"attribute access .{node.attr}"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Subscript):
        return "a subscript"
    return type(node).__name__


def _describe_callee(func: ast.AST) -> str:
    try:
        text = ast.unparse(func)
    except Exception:  # pragma: no cover - unparse of a valid tree does not fail
        text = type(func).__name__
    return text if len(text) <= 60 else text[:57] + "..."


class _Parser:
    def __init__(self, in_memory: Mapping[str, str] | None = None) -> None:
        self.in_memory = dict(in_memory or {})
        self.imported = False
        self.defined: set[str] = set()
        self.steps: list[Step] = []

    # literals --------------------------------------------------------------------------
    def literal(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > MAX_NESTING:
            raise _Refuse(node, f"literal nested deeper than {MAX_NESTING} levels")
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None or isinstance(v, bool):
                return v
            if isinstance(v, str):
                if len(v) > MAX_STRING_CHARS:
                    raise _Refuse(node, f"string literal longer than {MAX_STRING_CHARS} "
                                        "characters")
                if "\0" in v:
                    raise _Refuse(node, "string literal with a NUL character")
                return v
            if isinstance(v, int):
                if v.bit_length() > MAX_INT_BITS:
                    raise _Refuse(node, "integer literal too large")
                return v
            if isinstance(v, float):
                if not math.isfinite(v):
                    raise _Refuse(node, "non-finite number literal")
                return v
            raise _Refuse(node, f"a {type(v).__name__} literal is not allowed")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = node.operand
            if (isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float))
                    and not isinstance(inner.value, bool)):
                v = self.literal(inner, depth + 1)
                return -v if isinstance(node.op, ast.USub) else v
            raise _Refuse(node, "a sign is allowed only in front of a number")
        if isinstance(node, (ast.Tuple, ast.List)):
            if len(node.elts) > MAX_ELEMENTS:
                raise _Refuse(node, "literal with too many elements")
            items = [self.literal(e, depth + 1) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            if len(node.keys) > MAX_ELEMENTS:
                raise _Refuse(node, "literal with too many elements")
            out = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    raise _Refuse(v, "a ** splat is not allowed")
                key = self.literal(k, depth + 1)
                if isinstance(key, (list, dict)):
                    raise _Refuse(k, "a dict key must be a number, string or tuple")
                out[key] = self.literal(v, depth + 1)
            return out
        raise _Refuse(node, f"{_what(node)} is not allowed; only literal values and earlier "
                            "variables may be used as arguments")

    def str_literal(self, node: ast.AST, what: str) -> str:
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            raise _Refuse(node, f"{what} must be a string literal, not {_what(node)}")
        return self.literal(node)

    # references ------------------------------------------------------------------------
    def ref(self, node: ast.AST) -> Ref:
        if isinstance(node, ast.Name):
            self.check_use(node, node.id)
            return Ref(node.id)
        if isinstance(node, ast.Subscript):
            if not isinstance(node.value, ast.Name):
                raise _Refuse(node, "only a variable can be indexed (like f1[0])")
            self.check_use(node.value, node.value.id)
            idx = node.slice
            value = None
            if isinstance(idx, ast.Constant) and type(idx.value) is int:
                value = idx.value
            elif (isinstance(idx, ast.UnaryOp) and isinstance(idx.op, ast.USub)
                  and isinstance(idx.operand, ast.Constant) and type(idx.operand.value) is int):
                value = -idx.operand.value
            if value is None or abs(value) > 1_000_000:
                raise _Refuse(idx, f"an index must be an integer literal, not {_what(idx)}")
            return Ref(node.value.id, value)
        raise _Refuse(node, f"{_what(node)} is not allowed here; expected an earlier variable "
                            "(like d1 or f1[0])")

    def check_use(self, node: ast.AST, name: str) -> None:
        if name == "mg":
            raise _Refuse(node, "mg can only be used to call mg.open/run/save/display")
        if name not in self.defined:
            if name in self.in_memory:
                raise _Refuse(node, f"{name} ({self.in_memory[name]}) was made in memory, not "
                                    "opened from a file: it is not reproducible from this log")
            raise _Refuse(node, f"the name {name!r} is not defined by an earlier line")

    def check_target(self, node: ast.AST) -> str:
        if not isinstance(node, ast.Name):
            raise _Refuse(node, f"cannot assign to {_what(node)}; only to plain variable names")
        name = node.id
        import builtins

        if name == "mg":
            raise _Refuse(node, "cannot assign to mg")
        if name.startswith("_") or not _IDENT.match(name):
            raise _Refuse(node, f"variable name {name!r} is not allowed (names may not start "
                                "with an underscore)")
        if hasattr(builtins, name):
            raise _Refuse(node, f"variable name {name!r} shadows a Python builtin")
        return name

    # calls -----------------------------------------------------------------------------
    def mg_call(self, node: ast.AST) -> str:
        if not isinstance(node, ast.Call):
            raise _Refuse(node, f"{_what(node)} is not allowed; expected mg.open or mg.run")
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "mg"):
            raise _Refuse(node, f"{_what(node)} is not allowed; only mg.open, mg.run, "
                                "mg.save and mg.display may be called")
        if func.attr not in ALLOWED_CALLS:
            raise _Refuse(func, f"mg.{func.attr} is not allowed; only mg.open, mg.run, mg.save "
                                "and mg.display may be called")
        if not self.imported:
            raise _Refuse(node, "mg is used before `import micrographia as mg`")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise _Refuse(a, "starred arguments (*args) are not allowed")
        for k in node.keywords:
            if k.arg is None:
                raise _Refuse(k.value, "keyword splats (**kwargs) are not allowed")
            if k.arg.startswith("_"):
                raise _Refuse(k.value, f"keyword {k.arg!r} is not allowed")
        return func.attr

    def kwargs(self, node: ast.Call) -> dict[str, Any]:
        return {k.arg: self.literal(k.value) for k in node.keywords if k.arg is not None}

    def open_call(self, node: ast.Call, target: str) -> OpenStep:
        if len(node.args) != 1:
            raise _Refuse(node, "mg.open takes exactly one positional argument, the file path")
        path = self.str_literal(node.args[0], "the path given to mg.open")
        kw = self.kwargs(node)
        for k, v in kw.items():
            if k == "signal":
                if not (v is None or isinstance(v, str)
                        or (isinstance(v, int) and not isinstance(v, bool))):
                    raise _Refuse(node, "signal= must be an integer or a string")
            elif k == "lazy":
                if not (v is None or isinstance(v, bool)):
                    raise _Refuse(node, "lazy= must be True, False or None")
            else:
                raise _Refuse(node, f"mg.open has no option {k!r} (only signal= and lazy=)")
        return OpenStep(node.lineno, target, path, kw)

    def run_call(self, node: ast.Call, targets: tuple[str, ...], unpack: bool) -> RunStep:
        if not node.args:
            raise _Refuse(node, "mg.run needs an operation id")
        op = self.str_literal(node.args[0], "the operation id given to mg.run")
        if not _OP_ID.match(op):
            raise _Refuse(node.args[0], f"{op!r} is not a valid operation id")
        args: list[Ref | None] = []
        for a in node.args[1:]:
            if isinstance(a, ast.Constant) and a.value is None:
                args.append(None)
            else:
                args.append(self.ref(a))
        return RunStep(node.lineno, targets, unpack, op, tuple(args), self.kwargs(node))

    def save_call(self, node: ast.Call) -> SaveStep:
        if len(node.args) != 2:
            raise _Refuse(node, "mg.save takes two positional arguments: what and where")
        ref = self.ref(node.args[0])
        path = self.str_literal(node.args[1], "the path given to mg.save")
        _check_save_path(path, node.args[1])
        return SaveStep(node.lineno, ref, path, self.kwargs(node))

    def display_call(self, node: ast.Call) -> DisplayStep:
        if len(node.args) != 1:
            raise _Refuse(node, "mg.display takes one positional argument, the dataset")
        return DisplayStep(node.lineno, self.ref(node.args[0]), self.kwargs(node))

    # statements ------------------------------------------------------------------------
    def statement(self, stmt: ast.stmt, first: bool) -> None:
        if isinstance(stmt, ast.Import):
            if (len(stmt.names) != 1 or stmt.names[0].name != "micrographia"
                    or stmt.names[0].asname != "mg"):
                names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "")
                                  for a in stmt.names)
                raise _Refuse(stmt, f"`import {names}` is not allowed; the only import allowed "
                                    "is `import micrographia as mg`")
            if self.imported:
                raise _Refuse(stmt, "micrographia is imported twice")
            self.imported = True
            return
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1:
                raise _Refuse(stmt, "chained assignment (a = b = ...) is not allowed")
            tnode = stmt.targets[0]
            if isinstance(tnode, (ast.Tuple, ast.List)):
                if not tnode.elts:
                    raise _Refuse(tnode, "empty assignment target")
                targets = tuple(self.check_target(e) for e in tnode.elts)
                if len(set(targets)) != len(targets):
                    raise _Refuse(tnode, "the same name is assigned twice in one line")
                unpack = True
            else:
                targets = (self.check_target(tnode),)
                unpack = False
            kind = self.mg_call(stmt.value)
            call = stmt.value
            assert isinstance(call, ast.Call)
            step: Step
            if kind == "open":
                if unpack:
                    raise _Refuse(tnode, "the result of mg.open is assigned to one name")
                step = self.open_call(call, targets[0])
            elif kind == "run":
                step = self.run_call(call, targets, unpack)
            else:
                raise _Refuse(stmt, f"the result of mg.{kind} cannot be assigned")
            self.steps.append(step)
            self.defined.update(targets)
            return
        if isinstance(stmt, ast.Expr):
            v = stmt.value
            if first and isinstance(v, ast.Constant) and isinstance(v.value, str):
                self.literal(v)  # a module docstring: size-checked, otherwise ignored
                return
            if isinstance(v, ast.Call):
                kind = self.mg_call(v)
                if kind == "save":
                    self.steps.append(self.save_call(v))
                    return
                if kind == "display":
                    self.steps.append(self.display_call(v))
                    return
                raise _Refuse(stmt, f"the result of mg.{kind} must be assigned to a variable")
            raise _Refuse(stmt, f"{_what(v)} is not allowed as a statement; only mg.save and "
                                "mg.display calls stand alone")
        raise _Refuse(stmt, f"{_what(stmt)} is not allowed in a replayed log")


def _check_save_path(path: str, node: ast.AST | int) -> None:
    if not path or path.endswith(("/", "\\")) or os.path.basename(path) in ("", ".", ".."):
        raise _Refuse(node, f"save path {path!r} does not name a file")
    if _is_absolute(path):
        return
    parts = re.split(r"[\\/]+", path)
    depth = 0
    for p in parts:
        if p == "..":
            depth -= 1
            if depth < 0:
                raise _Refuse(node, f"save path {path!r} leaves the output folder")
        elif p not in ("", "."):
            depth += 1


def _is_absolute(path: str) -> bool:
    return os.path.isabs(path) or path.startswith("~") or bool(re.match(r"^[A-Za-z]:[\\/]", path))


def parse(text: str, path: str | None = None) -> Program:
    """Parse and vet a log; refuse anything but the recorded forms.

    Nothing is executed. The accepted statements are: one ``import micrographia as mg``;
    ``NAME = mg.open("path", signal=..., lazy=...)``; ``NAME = mg.run("op.id", inputs...,
    key=literal...)`` and ``A, B = mg.run(...)``; ``mg.save(input, "path", key=literal...)``;
    ``mg.display(input, key=literal...)``; comments, and a docstring as first statement. Inputs
    are earlier variables or ``name[int]``; values are literals (numbers, strings, booleans,
    None, and tuples, lists and dicts of them).

    Parameters
    ----------
    text : str
        The log's source.
    path : str, optional
        Its file, used in messages and as the base of relative opens.

    Returns
    -------
    Program
        The vetted steps.

    Raises
    ------
    ReplayRefused
        With the line number and the reason, for the first statement outside the recorded forms.

    Examples
    --------
    >>> import micrographia as mg
    >>> from micrographia import replay
    >>> p = replay.parse('import micrographia as mg; d1 = mg.open("a.hspy")')
    >>> p.opens[0].target, p.opens[0].path
    ('d1', 'a.hspy')
    >>> try:
    ...     replay.parse('import os')
    ... except mg.ReplayRefused as exc:
    ...     print(exc.lineno, exc.reason.split(";")[0])
    1 `import os` is not allowed
    """
    if len(text) > MAX_SOURCE_CHARS:
        raise ReplayRefused(1, f"the log is larger than {MAX_SOURCE_CHARS} characters", path)
    try:
        tree = ast.parse(text, filename=path or "<log>")
    except SyntaxError as exc:
        raise ReplayRefused(exc.lineno or 1, f"not valid Python: {exc.msg}", path) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ReplayRefused(1, f"cannot be parsed: {exc}", path) from None
    in_memory = {m.group(1): m.group(2) for m in _IN_MEMORY.finditer(text)}
    parser = _Parser(in_memory)
    try:
        for i, stmt in enumerate(tree.body):
            parser.statement(stmt, first=i == 0)
    except _Refuse as exc:
        raise ReplayRefused(exc.lineno, exc.reason, path) from None
    except RecursionError:
        raise ReplayRefused(1, "the log is nested too deeply", path) from None
    if parser.steps and not parser.imported:  # pragma: no cover - mg_call refuses first
        raise ReplayRefused(1, "`import micrographia as mg` is missing", path)
    return Program(parser.steps, path, text)


# -- running -------------------------------------------------------------------------------
def _resolve_inputs(program: Program, inputs: Mapping[str, str | os.PathLike[str]] | None
                    ) -> dict[int, Path]:
    """Map open-step indices to replacement files; ReplayError for unknown names."""
    result: dict[int, Path] = {}
    if not inputs:
        return result
    opens = program.opens
    for name, value in inputs.items():
        hits = [i for i, s in enumerate(opens)
                if s.target == name or _basename(s.path) == name]
        if not hits:
            known = ", ".join(f"{s.target} ({_basename(s.path)})" for s in opens) or "none"
            raise ReplayError(f"input {name!r}: the log opens no file or variable of that "
                              f"name; it opens: {known}")
        for i in hits:
            result[i] = Path(os.path.abspath(os.path.expanduser(os.fspath(value))))
    return result


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _lookup(ns: Mapping[str, Any], ref: Ref) -> Any:
    obj = ns[ref.name]
    if ref.index is None:
        return obj
    if not isinstance(obj, (list, tuple)):
        raise ReplayError(f"{ref.name} holds one {type(obj).__name__}, not a list; "
                          f"{ref} cannot be taken")
    try:
        return obj[ref.index]
    except IndexError:
        raise ReplayError(f"{ref} is out of range: {ref.name} holds {len(obj)} "
                          "item(s)") from None


def _save_target(step: SaveStep, out: Path, prefix: str, path: str | None) -> Path:
    name = _basename(step.path)
    if _is_absolute(step.path):
        rel_parts: list[str] = []
    else:
        try:
            _check_save_path(step.path, step.lineno)
        except _Refuse as exc:
            raise ReplayRefused(exc.lineno, exc.reason, path) from None
        rel_parts = [p for p in re.split(r"[\\/]+", step.path)[:-1] if p not in ("", ".")]
    target = out.joinpath(*rel_parts, prefix + name)
    real_out = out.resolve()
    real_target = target.parent.resolve() / target.name
    if (real_target != real_out and real_out not in real_target.parents) or target.is_symlink():
        raise ReplayError(f"line {step.lineno}: save path {step.path!r} leaves the output "
                          f"folder {out}")
    return target


def _execute(program: Program, *, inputs: Mapping[str, str | os.PathLike[str]] | None,
             out: str | os.PathLike[str] | None, base: str | os.PathLike[str] | None,
             progress: Callable[..., Any] | None, prefix: str = "") -> ReplayResult:
    from . import api

    swaps = _resolve_inputs(program, inputs)
    out_dir = Path(os.path.abspath(os.fspath(out))) if out is not None else Path.cwd()
    if base is not None:
        base_dir = Path(os.path.abspath(os.fspath(base)))
    elif program.path:
        base_dir = Path(os.path.abspath(program.path)).parent
    else:
        base_dir = Path.cwd()
    ns: dict[str, Any] = {}
    outputs: list[Path] = []
    n_open = 0
    total = len(program.steps)
    for k, step in enumerate(program.steps):
        try:
            if isinstance(step, OpenStep):
                if n_open in swaps:
                    file = swaps[n_open]
                else:
                    p = Path(os.path.expanduser(step.path))
                    file = p if p.is_absolute() else base_dir / p
                n_open += 1
                ns[step.target] = api.open(file, **step.kwargs)
            elif isinstance(step, RunStep):
                args = [None if a is None else _lookup(ns, a) for a in step.args]
                result = api.run(step.op, *args, **step.kwargs)
                if step.unpack:
                    if not isinstance(result, (tuple, list)) or len(result) != len(step.targets):
                        got = (f"{len(result)} results" if isinstance(result, (tuple, list))
                               else "one result")
                        raise ReplayError(f"{step.op} returned {got}, the log expects "
                                          f"{len(step.targets)}")
                    ns.update(zip(step.targets, result))
                else:
                    ns[step.targets[0]] = result
            elif isinstance(step, SaveStep):
                target = _save_target(step, out_dir, prefix, program.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                outputs.append(Path(api.save(_lookup(ns, step.ref), target, **step.kwargs)))
            else:
                api.display(_lookup(ns, step.ref), **step.kwargs)
        except ReplayRefused:
            raise
        except ReplayError as exc:
            msg = str(exc)
            if not msg.startswith("line "):
                msg = f"line {step.lineno}: {msg}"
            raise ReplayError(msg) from exc
        except Exception as exc:
            msg = str(exc) or type(exc).__name__
            raise ReplayError(f"line {step.lineno}: {_one_line(msg)}") from exc
        if progress is not None:
            progress(k + 1, total, step)
    return ReplayResult(ns, outputs)


def _one_line(msg: str) -> str:
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    return " ".join(lines) if len(lines) <= 3 else " ".join(lines[:3]) + " ..."


def run_program(program: Program, *, inputs: Mapping[str, str | os.PathLike[str]] | None = None,
                out: str | os.PathLike[str] | None = None,
                base: str | os.PathLike[str] | None = None,
                progress: Callable[[int, int, Step], Any] | None = None) -> ReplayResult:
    """Run a parsed log by calling :mod:`micrographia.api` (never ``exec``).

    Parameters
    ----------
    program : Program
        From :func:`parse`.
    inputs : mapping, optional
        ``NAME -> PATH`` replacements for opened files. ``NAME`` is a variable of the log
        (``d1``, ``f1``) or the file name of an opened path (``grain.dm4``, which replaces every
        open of a file of that name).
    out : path-like, optional
        Output folder (default: the current folder), created if needed. Relative save paths
        resolve against it and may not leave it; an absolute save path writes
        ``out/<its file name>``.
    base : path-like, optional
        Folder that relative opens resolve against (default: the log's folder, else the
        current folder).
    progress : callable, optional
        Called as ``progress(done, total, step)`` after each step.

    Returns
    -------
    ReplayResult
        The variables and the written files.

    Raises
    ------
    ReplayError
        ``"line N: reason"`` when a step fails (the cause is chained), or for an unknown
        ``inputs`` name.
    ReplayRefused
        If a save path would leave the output folder.
    """
    return _execute(program, inputs=inputs, out=out, base=base, progress=progress)


def run_trusted(path: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None
                ) -> int:
    """Run a log as plain Python (``--trust``): ``python LOG`` in a separate process.

    Only for logs you trust: the code may do anything. Relative paths in it resolve against
    ``out`` (its working directory), as with ``cd OUT && python LOG``.

    Parameters
    ----------
    path : path-like
        The log.
    out : path-like, optional
        Working directory (default: the current folder), created if needed.

    Returns
    -------
    int
        The process's exit status.
    """
    import subprocess

    log = Path(os.path.abspath(os.fspath(path)))
    cwd = Path(os.path.abspath(os.fspath(out))) if out is not None else Path.cwd()
    cwd.mkdir(parents=True, exist_ok=True)
    code = subprocess.run([sys.executable, str(log)], cwd=cwd, check=False).returncode
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


# -- batches -------------------------------------------------------------------------------
def _replay_one(text: str, log_path: str | None, file: str, names: list[str],
                inputs: dict[str, str], out: str, base: str | None,
                prefix: str) -> tuple[bool, str, list[str]]:
    """Replay one file of a batch; a top-level function so dask can send it to workers."""
    try:
        program = parse(text, log_path)
        swaps = dict(inputs)
        for n in names:
            swaps[n] = file
        result = _execute(program, inputs=swaps, out=out, base=base, progress=None,
                          prefix=prefix)
    except Exception as exc:  # noqa: BLE001 - reported per file, the batch goes on
        return False, _one_line(str(exc) or type(exc).__name__), []
    n = len(result.outputs)
    return True, f"ok ({n} output{'s' if n != 1 else ''})", [str(p) for p in result.outputs]


def _batch_names(program: Program, name: str | None) -> list[str]:
    opens = program.opens
    if not opens:
        raise ReplayError("the log opens no file, so there is nothing to replace")
    if name is None:
        first = opens[0]
        return [s.target for s in opens if s.path == first.path]
    hits = [s for s in opens if s.target == name or _basename(s.path) == name]
    if not hits:
        known = ", ".join(f"{s.target} ({_basename(s.path)})" for s in opens)
        raise ReplayError(f"{name!r}: the log opens no file or variable of that name; it opens: "
                          f"{known}")
    paths = {s.path for s in hits}
    return [s.target for s in opens if s.path in paths]


def replay_batch(program: Program, files: Sequence[str | os.PathLike[str]], *,
                 name: str | None = None, out: str | os.PathLike[str],
                 inputs: Mapping[str, str | os.PathLike[str]] | None = None,
                 workers: int | None = None, scheduler: str | None = None,
                 progress: Callable[[str], Any] | None = print) -> list[BatchResult]:
    """Replay a log once per input file, in place of one of the files it opens.

    Parameters
    ----------
    program : Program
        From :func:`parse`.
    files : sequence of path-like
        Input files.
    name : str, optional
        Which opened file to replace: a variable (``d1``) or a file name (``grain.dm4``).
        Default: the log's first opened file.
    out : path-like
        Output folder; each output is written as ``out/<input stem>_<save file name>``.
    inputs : mapping, optional
        Further fixed replacements, as in :func:`run_program`.
    workers : int, optional
        Run on a local dask distributed cluster of this many single-threaded processes.
    scheduler : str, optional
        Run on the dask distributed scheduler at this address (its workers must see the files).
    progress : callable, optional
        Called with one line per finished file (``[k/N] name: ok (2 outputs)`` or
        ``[k/N] name: FAILED: reason``); default :func:`print`.

    Returns
    -------
    list of BatchResult
        One per file, in the order of ``files``. A failed file does not stop the others.

    Raises
    ------
    ReplayError
        If ``name`` or an ``inputs`` name is unknown, or two inputs share a file stem.
    """
    names = _batch_names(program, name)
    fixed_opens = _resolve_inputs(program, inputs)  # unknown names fail before anything runs
    replaced = {i for i, s in enumerate(program.opens) if s.target in names}
    both = replaced & set(fixed_opens)
    if both:
        clash = ", ".join(program.opens[i].target for i in sorted(both))
        raise ReplayError(f"{clash} is replaced both by the batch files and by an input")
    files = [Path(os.path.abspath(os.fspath(f))) for f in files]
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise ReplayError(f"{stems[f.stem]} and {f} would write outputs of the same names "
                              f"({f.stem}_...)")
        stems[f.stem] = f
    out_dir = Path(os.path.abspath(os.fspath(out)))
    out_dir.mkdir(parents=True, exist_ok=True)
    fixed = {k: os.path.abspath(os.fspath(v)) for k, v in (inputs or {}).items()}
    base = str(Path(os.path.abspath(program.path)).parent) if program.path else str(Path.cwd())
    jobs = [(program.text, program.path, str(f), names, fixed, str(out_dir), base, f"{f.stem}_")
            for f in files]
    results: dict[int, BatchResult] = {}
    n = len(files)

    def finish(i: int, ok: bool, message: str, outs: list[str]) -> None:
        results[i] = BatchResult(files[i], ok, message, [Path(p) for p in outs])
        if progress is not None:
            status = message if ok else f"FAILED: {message}"
            progress(f"[{len(results)}/{n}] {files[i].name}: {status}")

    if workers is None and scheduler is None:
        for i, job in enumerate(jobs):
            finish(i, *_replay_one(*job))
    else:
        _run_distributed(jobs, finish, workers=workers, scheduler=scheduler)
    return [results[i] for i in range(n)]


def _run_distributed(jobs: list[tuple[Any, ...]], finish: Callable[..., None], *,
                     workers: int | None, scheduler: str | None) -> None:
    import logging

    for logger in ("distributed", "distributed.nanny", "distributed.scheduler",
                   "distributed.worker", "distributed.core", "distributed.http.proxy"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler)
        else:
            if workers is None or workers < 1:
                raise ReplayError(f"--workers must be at least 1, got {workers}")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.WARNING)
            client = Client(cluster)
        try:
            futures = {client.submit(_replay_one, *job, pure=False): i
                       for i, job in enumerate(jobs)}
            for fut in as_completed(list(futures)):
                i = futures[fut]
                try:
                    ok, message, outs = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died: report, go on
                    ok, message, outs = False, _one_line(f"worker failed: {exc}"), []
                finish(i, ok, message, outs)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


# -- command line --------------------------------------------------------------------------
def _arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="micrographia replay",
        description="Replay a recorded session log headlessly. Only the recorded forms "
                    "(mg.open/run/save/display with literal arguments) are executed; anything "
                    "else is refused before anything runs, unless --trust is given.")
    p.add_argument("log", metavar="LOG", help="the recorded log (a .py file)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder for saved files (default: the current folder)")
    p.add_argument("--input", metavar="NAME=PATH", action="append", default=[],
                   help="replace an opened file: NAME is a variable (d1) or a file name "
                        "(grain.dm4); repeatable")
    p.add_argument("--over", metavar="[NAME=]GLOB", default=None,
                   help="replay once per file matching GLOB, in place of the first opened "
                        "file (or of NAME); outputs are named <input stem>_<name>")
    p.add_argument("--workers", metavar="N", type=int, default=None,
                   help="run the batch on a local dask cluster of N processes")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the batch on this dask distributed scheduler")
    p.add_argument("--trust", action="store_true",
                   help="run the log as plain Python (only for logs you trust)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _known_names(program: Program) -> set[str]:
    return {s.target for s in program.opens} | {_basename(s.path) for s in program.opens}


def cli(argv: Sequence[str]) -> int:
    """Run ``micrographia replay``.

    Parameters
    ----------
    argv : sequence of str
        Arguments after ``replay``.

    Returns
    -------
    int
        0 on success, 1 when a replay failed (one line per failed file on stderr), 2 when the
        log was refused (``LOG:LINE: refused: reason``) or on a usage error.
    """
    parser = _arg_parser()
    try:
        ns = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    log = Path(ns.log)
    out = Path(os.path.abspath(ns.out)) if ns.out else Path.cwd()
    if ns.workers is not None and ns.workers < 1:
        _err("error: --workers must be at least 1")
        return 2
    if (ns.workers is not None or ns.scheduler) and not ns.over:
        _err("error: --workers and --scheduler run a batch; give --over GLOB")
        return 2
    if ns.workers is not None and ns.scheduler:
        _err("error: give either --workers or --scheduler, not both")
        return 2
    if not log.is_file():
        _err(f"error: {log}: no such log file")
        return 2
    if ns.trust:
        if ns.input or ns.over:
            _err("error: --trust runs the log as plain Python; --input and --over cannot be "
                 "used with it")
            return 2
        return run_trusted(log, out=out)
    try:
        text = log.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _err(f"error: {log}: cannot read the log: {exc}")
        return 2
    try:
        program = parse(text, str(log))
    except ReplayRefused as exc:
        _err(str(exc))
        return 2
    inputs: dict[str, str] = {}
    for item in ns.input:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            _err(f"error: --input {item!r}: expected NAME=PATH")
            return 2
        inputs[key] = value
    try:
        _resolve_inputs(program, inputs)
    except ReplayError as exc:
        _err(f"error: --input {exc}")
        return 2
    say = (lambda *a: None) if ns.quiet else print
    if ns.over:
        return _cli_batch(ns, program, inputs, out, say)
    try:
        result = run_program(program, inputs=inputs, out=out)
    except ReplayError as exc:
        _err(f"{log}: {_one_line(str(exc))}")
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        _err(f"{log}: {_one_line(str(exc) or type(exc).__name__)}")
        return 1
    for p in result.outputs:
        say(f"wrote {p}")
    say(f"outputs in {out}")
    return 0


def _cli_batch(ns: argparse.Namespace, program: Program, inputs: dict[str, str], out: Path,
               say: Callable[..., Any]) -> int:
    spec: str = ns.over
    name: str | None = None
    key, sep, rest = spec.partition("=")
    if sep and key in _known_names(program):
        name, spec = key, rest
    elif sep and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key) and not glob.glob(spec):
        known = ", ".join(sorted(_known_names(program)))
        _err(f"error: --over {ns.over!r}: the log opens no file or variable named {key!r}; "
             f"it opens: {known}")
        return 2
    files = sorted(Path(f) for f in glob.glob(os.path.expanduser(spec), recursive=True)
                   if os.path.isfile(f))
    if not files:
        _err(f"error: --over {spec!r} matches no file")
        return 2
    where = (f"on {ns.scheduler}" if ns.scheduler
             else f"on {ns.workers} local workers" if ns.workers else "in this process")
    say(f"replaying {ns.log} over {len(files)} file(s) {where}")
    try:
        results = replay_batch(program, files, name=name, out=out, inputs=inputs,
                               workers=ns.workers, scheduler=ns.scheduler, progress=say)
    except ReplayError as exc:
        _err(f"error: {_one_line(str(exc))}")
        return 2
    except Exception as exc:  # noqa: BLE001 - e.g. the scheduler cannot be reached
        _err(f"error: the batch could not run: {_one_line(str(exc) or type(exc).__name__)}")
        return 1
    failed = [r for r in results if not r.ok]
    for r in failed:
        _err(f"{r.input}: FAILED: {r.message}")
    ok = len(results) - len(failed)
    say(f"{ok} of {len(results)} replayed; outputs in {out}")
    return 1 if failed else 0
