"""Tables as CSV: a standard header and rows, with units and dtypes in ``#`` comment lines.

Floats are written with ``repr`` (the shortest text that parses back to the same bits), so a
table read back with :func:`read_table` equals the one written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Table, thaw
from ..errors import FileReadError

__all__ = ["table_to_csv_text", "read_table"]

_MAGIC = "# micrographia table"


def _cell(v: Any, kind: str) -> str:
    if kind == "f":
        return repr(float(v))
    if kind == "c":
        return repr(complex(v))
    if kind == "b":
        return "true" if bool(v) else "false"
    if kind in "iu":
        return str(int(v))
    return str(v)


def table_to_csv_text(table: Table) -> str:
    """Return the CSV text of a table.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    str
        Comment lines (title, units, dtypes, metadata when JSON-serialisable), a header row
        and one row per table row.
    """
    buf = io.StringIO()
    buf.write(f"{_MAGIC} v1\n")
    buf.write(f"# title: {json.dumps(table.title, ensure_ascii=False)}\n")
    buf.write(f"# units: {json.dumps(dict(table.units), ensure_ascii=False)}\n")
    dtypes = {c: table[c].dtype.str for c in table.columns}
    buf.write(f"# dtypes: {json.dumps(dtypes)}\n")
    try:
        md = json.dumps(thaw(table.metadata), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        md = None
    if md and md != "{}":
        buf.write(f"# metadata: {md}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    kinds = [table[c].dtype.kind for c in table.columns]
    cols = [table[c] for c in table.columns]
    for i in range(len(table)):
        w.writerow([_cell(col[i], k) for col, k in zip(cols, kinds)])
    return buf.getvalue()


def _parse(values: list[str], dtype: np.dtype) -> np.ndarray:
    k = dtype.kind
    if k == "f":
        return np.array([float(v) for v in values], dtype=dtype)
    if k == "c":
        return np.array([complex(v) for v in values], dtype=dtype)
    if k == "b":
        return np.array([v.strip().lower() in ("true", "1") for v in values], dtype=bool)
    if k in "iu":
        return np.array([int(v) for v in values], dtype=dtype)
    if k in "US":
        return np.array(values, dtype=str)
    return np.array(values, dtype=object)


def read_table(path: Path) -> Table:
    """Read a table written by :func:`micrographia.io.write` as CSV.

    Plain CSV files (a header row, then rows) are read too: numeric columns become float64
    (int64 when every value is an integer), others strings.

    Parameters
    ----------
    path : Path
        The ``.csv`` file.

    Returns
    -------
    Table
        Same columns, values, units and title as written.

    Raises
    ------
    FileReadError
        If the file is missing or malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileReadError(f"{path}: cannot read the table ({exc})") from None
    try:
        info: dict[str, Any] = {}
        lines = text.splitlines(keepends=True)
        body_start = 0
        for i, line in enumerate(lines):
            if not line.startswith("#"):
                body_start = i
                break
            if ":" in line:
                key, _, val = line[1:].partition(":")
                key = key.strip()
                if key in ("title", "units", "dtypes", "metadata"):
                    info[key] = json.loads(val)
        else:
            body_start = len(lines)
        rows = list(csv.reader(io.StringIO("".join(lines[body_start:]))))
        if not rows:
            raise ValueError("no header row")
        header, body = rows[0], [r for r in rows[1:] if r]
        for n, r in enumerate(body, start=2):
            if len(r) != len(header):
                raise ValueError(f"row {n} has {len(r)} fields, the header has {len(header)}")
        dtypes = info.get("dtypes", {})
        columns: dict[str, np.ndarray] = {}
        for j, name in enumerate(header):
            values = [r[j] for r in body]
            if name in dtypes:
                columns[name] = _parse(values, np.dtype(dtypes[name]))
            else:
                columns[name] = _guess(values)
        return Table(columns, units=info.get("units") or {}, title=info.get("title", ""),
                     metadata=info.get("metadata") or {})
    except FileReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed file
        raise FileReadError(f"{path}: not a valid table ({type(exc).__name__}: {exc})"
                            ) from None


def _guess(values: list[str]) -> np.ndarray:
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)
