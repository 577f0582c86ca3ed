"""The ``micrographia`` command.

``micrographia`` alone starts the desktop app when it is installed and a screen is available;
the sub-commands work headless::

    micrographia info FILE...          what a file holds: signals, axes, calibration, metadata
    micrographia formats               readable and writable formats
    micrographia operations [--json]   registered operations and their options
    micrographia plugins               loaded and failed plugins
    micrographia replay LOG.py ...     replay a recorded session (see ``replay --help``)
    micrographia provenance FILE       print the log embedded in a saved .hspy
    micrographia device                what the GPU probe found
    micrographia demo [--out DIR]      replay the bundled example log on the bundled data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .errors import MicrographiaError

__all__ = ["main", "resources_dir"]


def resources_dir() -> Path:
    """Return the folder of the bundled example data and logs.

    Returns
    -------
    Path
        The installed ``micrographia.resources`` package folder (``resources/`` in a checkout).
    """
    import importlib.util

    spec = importlib.util.find_spec("micrographia.resources")
    if spec is None or not spec.submodule_search_locations:
        raise MicrographiaError("the bundled resources were not found; reinstall Micrographia")
    return Path(next(iter(spec.submodule_search_locations)))


def _cmd_info(ns: argparse.Namespace) -> int:
    from . import io

    status = 0
    for f in ns.files:
        p = Path(f)
        try:
            datasets = io.read(p.resolve(), lazy=ns.lazy)
        except MicrographiaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(io.describe(datasets, p))
    return status


def _cmd_formats(ns: argparse.Namespace) -> int:
    from . import io

    fmts = io.formats()
    w = max(len(f.name) for f in fmts)
    print(f"{'format':<{w}}  read  write  extensions")
    for f in fmts:
        print(f"{f.name:<{w}}  {'yes' if f.read else '-':<4}  {'yes' if f.write else '-':<5}  "
              + ", ".join(f".{e}" for e in f.extensions) + (f"   ({f.description})"
                                                            if f.description else ""))
    return 0


def _cmd_operations(ns: argparse.Namespace) -> int:
    from .api import operations

    ops = operations()
    if ns.json:
        print(json.dumps([o.describe() for o in ops], indent=2))
        return 0
    for o in ops:
        device = "CPU+GPU" if o.gpu else "CPU"
        print(f"{o.id:<28} {o.menu + '/' + o.title.rstrip('…'):<40} {device:<8} {o.summary}")
        for p in o.params:
            d = p.describe()
            extra = []
            if d["choices"]:
                extra.append("|".join(map(str, d["choices"])))
            if d["range"]:
                extra.append(f"[{d['range'][0]}, {d['range'][1]}]")
            if d["units"]:
                extra.append(d["units"])
            print(f"    {p.name}={d['default']!r:<14} {' '.join(extra)}")
    return 0


def _cmd_plugins(ns: argparse.Namespace) -> int:
    from .api import plugin_report

    status = 0
    for p in plugin_report():
        src = f"{p.distribution} {p.version}".strip() or "registered in code"
        if p.loaded:
            print(f"ok      {p.name:<24} {src:<24} {len(p.operations)} operation(s): "
                  + ", ".join(p.operations))
        else:
            status = 0 if not ns.strict else 1
            print(f"FAILED  {p.name:<24} {src:<24} {p.error}")
            if ns.verbose and p.details:
                print("        " + p.details.replace("\n", "\n        "))
    return status


def _cmd_provenance(ns: argparse.Namespace) -> int:
    from . import io

    try:
        text = io.read_provenance(Path(ns.file))
    except MicrographiaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not text:
        print(f"error: {ns.file} carries no Micrographia provenance", file=sys.stderr)
        return 1
    if ns.output:
        Path(ns.output).write_text(text, encoding="utf-8")
        print(f"wrote {ns.output}")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_device(ns: argparse.Namespace) -> int:
    from . import backend, settings

    if ns.refresh:
        backend.probe(refresh=True)
    report = backend.probe_report()
    report.setdefault("setting", settings.get().device)
    report.setdefault("selected", backend.selected_device())
    for k in ("setting", "selected"):  # the answer first, then what the probe found
        print(f"{k:<15}: {report.pop(k)}")
    for k, v in report.items():
        print(f"{k:<15}: {v}")
    return 0


def _cmd_demo(ns: argparse.Namespace) -> int:
    from . import replay

    log = resources_dir() / "examples" / "demo_drift_series.py"
    out = Path(ns.out).resolve()
    print(f"Replaying the bundled example log {log}")
    code = replay.cli([str(log), "--out", str(out)])
    if code == 0:
        print(f"Outputs are in {out}. Inspect them with: micrographia info {out}/*.hspy")
    return code


def _start_gui(argv: Sequence[str]) -> int:
    """Start the desktop app: ``micrographia [FILE…]`` or ``--screenshot OUT.png FILE…``."""
    try:
        from .app import main as app_main  # type: ignore[attr-defined]
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        why = (f"it needs {missing}, which is not installed "
               "(pip install PySide6-Essentials pyqtgraph)"
               if missing.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")
               else f"it could not be imported: {exc}")
        print(f"The desktop app cannot start: {why}.\n"
              "Headless commands work now; see `micrographia --help`, e.g.\n"
              "  micrographia demo --out demo_out\n"
              "  micrographia info FILE", file=sys.stderr)
        return 2
    return int(app_main(list(argv)) or 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="micrographia",
        description="Electron-microscopy image and spectrum-image analysis, recorded and "
                    "replayable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `micrographia replay --help` for the replay options.")
    p.add_argument("--version", action="version", version=f"micrographia {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("info", help="describe the signals in files")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--lazy", action="store_true", help="do not load the data")
    s.set_defaults(func=_cmd_info)
    s = sub.add_parser("formats", help="list readable/writable formats")
    s.set_defaults(func=_cmd_formats)
    s = sub.add_parser("operations", help="list registered operations")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_cmd_operations)
    s = sub.add_parser("plugins", help="list loaded and failed plugins")
    s.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    s.add_argument("--strict", action="store_true", help="exit 1 if any plugin failed")
    s.set_defaults(func=_cmd_plugins)
    s = sub.add_parser("replay", help="replay a recorded log headlessly", add_help=False)
    s.add_argument("args", nargs=argparse.REMAINDER)
    s = sub.add_parser("provenance", help="print the log embedded in a saved file")
    s.add_argument("file")
    s.add_argument("-o", "--output", help="write the log to this file")
    s.set_defaults(func=_cmd_provenance)
    s = sub.add_parser("device", help="show the compute device and GPU probe")
    s.add_argument("--refresh", action="store_true", help="probe the GPU again (ignore the cache)")
    s.set_defaults(func=_cmd_device)
    s = sub.add_parser("demo", help="replay the bundled example log on the bundled data")
    s.add_argument("--out", default="micrographia-demo", help="output folder")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``micrographia`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"info", "formats", "operations", "plugins", "replay", "provenance", "device",
                "demo"}
    gui_options = ("--screenshot",)
    if not argv or argv[0].startswith(gui_options) or (
            argv[0] not in commands and not argv[0].startswith("-")):
        return _start_gui(argv)
    if argv[0] == "replay":
        from . import replay

        return replay.cli(argv[1:])
    ns = _parser().parse_args(argv)
    if not getattr(ns, "func", None):
        _parser().print_help()
        return 0
    try:
        return int(ns.func(ns))
    except MicrographiaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `micrographia operations | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
