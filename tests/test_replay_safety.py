"""Replay is safe by default: a log that does anything but the recorded forms is refused, with
its line number, before anything runs.

Every hostile log below starts with a prefix whose ``mg.save`` writes ``pre_marker.hspy`` if it
ever runs (``test_prefix_alone_does_write_its_marker`` proves it does), and most hostile lines
would themselves create ``MARKER`` if executed (``test_hostile_lines_do_act_when_trusted``
proves a sample of them do under ``--trust``). The tests assert neither file, nor even the output
folder, exists after the refusal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import micrographia as mg
from micrographia import replay

PREFIX = """# Micrographia 0.1.0 session, 2026-11-22T10:14:03
import micrographia as mg
d1 = mg.open("@INPUT@")
mg.save(d1, "pre_marker.hspy")
"""
TOUCH = '__import__("pathlib").Path("@MARKER@").touch()'

# (id, hostile text appended after PREFIX (lines 5...), expected refused line)
HOSTILE: list[tuple[str, str, int]] = [
    ("import_os", 'import os; os.system("touch @MARKER@")', 5),
    ("import_subprocess", 'import subprocess\nsubprocess.run(["touch", "@MARKER@"])', 5),
    ("import_pathlib_alias", 'import pathlib as mgx\nmgx.Path("@MARKER@").touch()', 5),
    ("from_micrographia_import", 'from micrographia import api\napi.save(d1, "@MARKER@")', 5),
    ("from_os_import", 'from os import system\nsystem("touch @MARKER@")', 5),
    ("import_micrographia_no_alias",
     'import micrographia\nmicrographia.save(d1, "@MARKER@")', 5),
    ("import_micrographia_other_alias", 'import micrographia as m2\nm2.save(d1, "@MARKER@")', 5),
    ("import_micrographia_twice", "import micrographia as mg", 5),
    ("import_two_modules", "import micrographia as mg, os", 5),
    ("dunder_import_call", TOUCH, 5),
    ("dunder_import_assigned", 'x = __import__("os")', 5),
    ("open_builtin", 'open("@MARKER@", "w").write("x")', 5),
    ("eval", f"eval({TOUCH!r})", 5),
    ("exec", "exec(\"import pathlib; pathlib.Path('@MARKER@').touch()\")", 5),
    ("getattr", 'getattr(mg, "save")(d1, "@MARKER@")', 5),
    ("mg_dict", 'mg.__dict__["save"](d1, "@MARKER@")', 5),
    ("mg_open_globals", 'mg.open.__globals__["os"].system("touch @MARKER@")', 5),
    ("mg_io_write", 'mg.io.write(d1, "@MARKER@")', 5),
    ("mg_other_function", "d2 = mg.from_array([1.0, 2.0])", 5),
    ("mg_subscript", 'd2 = mg["open"]("@INPUT@")', 5),
    ("attribute_on_run_result", 'd2 = mg.run("filters.gaussian", d1).__class__', 5),
    ("attribute_after_good_line",
     'd2 = mg.run("filters.gaussian", d1)\nd3 = d2.__class__', 6),
    ("builtins_dunder", '__builtins__["open"]("@MARKER@", "w")', 5),
    ("class_bases", "x = ().__class__.__bases__[0].__subclasses__()", 5),
    ("lambda", f"f = lambda: {TOUCH}\nf()", 5),
    ("list_comprehension", f'x = [{TOUCH} for _ in "a"]', 5),
    ("generator", f'd2 = mg.run("filters.gaussian", d1, sigma=max({TOUCH} for _ in "a"))', 5),
    ("fstring", 'd2 = mg.run("filters.gaussian", d1, units=f"{__import__(\'pathlib\')'
                '.Path(\'@MARKER@\').touch()}")', 5),
    ("walrus", f'd2 = mg.run("filters.gaussian", d1, sigma=(p := {TOUCH}))', 5),
    ("walrus_input", 'd2 = mg.run("filters.gaussian", (x := d1))', 5),
    ("rebind_mg", 'mg = __import__("pathlib")\nmg.Path("@MARKER@").touch()', 5),
    ("rebind_mg_with_open", 'mg = mg.open("@INPUT@")', 5),
    ("shadow_builtin_print", 'print = mg.run("filters.gaussian", d1)', 5),
    ("shadow_builtin_len", 'len = mg.open("@INPUT@")', 5),
    ("dunder_variable", '__builtins__ = mg.open("@INPUT@")', 5),
    ("underscore_variable", '_x = mg.open("@INPUT@")', 5),
    ("with", 'with open("@MARKER@", "w"):\n    pass', 5),
    ("for", f"for i in range(1):\n    {TOUCH}", 5),
    ("while", f"while True:\n    {TOUCH}\n    break", 5),
    ("if", f"if True:\n    {TOUCH}", 5),
    ("def", f"def f():\n    {TOUCH}\nf()", 5),
    ("class", f"class A:\n    x = {TOUCH}", 5),
    ("try", f"try:\n    {TOUCH}\nexcept Exception:\n    pass", 5),
    ("del", "del d1", 5),
    ("global", "global d1", 5),
    ("assert", f"assert {TOUCH} is None", 5),
    ("raise", "raise SystemExit(0)", 5),
    ("augmented_assignment", "d1 += 1", 5),
    ("annotated_assignment", 'd2: int = mg.open("@INPUT@")', 5),
    ("chained_assignment", 'd2 = d3 = mg.open("@INPUT@")', 5),
    ("assign_to_attribute", 'mg.save = mg.open("@INPUT@")', 5),
    ("assign_to_subscript", 'd1[0] = mg.open("@INPUT@")', 5),
    ("starred_target", '*a, b = mg.run("filters.gaussian", d1)', 5),
    ("open_non_literal", "d2 = mg.open(path_var)", 5),
    ("open_defined_non_literal", 'd2 = mg.open(d1)', 5),
    ("open_unknown_option", 'd2 = mg.open("@INPUT@", mode="w")', 5),
    ("open_bad_signal", 'd2 = mg.open("@INPUT@", signal=[0])', 5),
    ("kwargs_splat", 'd2 = mg.run("filters.gaussian", d1, **{"sigma": 1.0})', 5),
    ("kwargs_splat_save", 'mg.save(d1, "x.hspy", **{"a": 1})', 5),
    ("dict_splat_in_value", 'd2 = mg.run("filters.gaussian", d1, sigma={**{}})', 5),
    ("starred_args", 'd2 = mg.run("filters.gaussian", *[d1])', 5),
    ("attribute_on_variable", 'd2 = mg.run("filters.gaussian", d1.data)', 5),
    ("attribute_assigned", "x = d1.data", 5),
    ("subscript_non_literal",
     'f1 = mg.open("@INPUT@")\nd2 = mg.run("filters.gaussian", f1[i])', 6),
    ("subscript_slice", 'd2 = mg.run("filters.gaussian", d1[0:1])', 5),
    ("subscript_of_call", 'd2 = mg.run("filters.gaussian", mg.open("@INPUT@")[0])', 5),
    ("save_escape", 'mg.save(d1, "../../escape.hspy")', 5),
    ("save_escape_hidden", 'mg.save(d1, "a/../../escape.hspy")', 5),
    ("save_path_non_literal", "mg.save(d1, d1)", 5),
    ("save_folder_only", 'mg.save(d1, "sub/")', 5),
    ("call_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=len("x"))', 5),
    ("touch_in_param", f'd2 = mg.run("filters.gaussian", d1, sigma={TOUCH})', 5),
    ("call_in_tuple_param", 'mg.display(d1, clim=(0.0, float("1")))', 5),
    ("binop_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=1.0 + 2.0)', 5),
    ("power_bomb_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=9 ** 9 ** 9)', 5),
    ("compare_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=1 < 2)', 5),
    ("ternary_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=1 if d1 else 2)', 5),
    ("name_in_param", 'd2 = mg.run("filters.gaussian", d1, sigma=d1)', 5),
    ("bytes_literal", 'd2 = mg.run("filters.gaussian", d1, units=b"px")', 5),
    ("complex_literal", 'd2 = mg.run("filters.gaussian", d1, sigma=1j)', 5),
    ("ellipsis_literal", 'd2 = mg.run("filters.gaussian", d1, sigma=...)', 5),
    ("set_literal", 'd2 = mg.run("filters.gaussian", d1, sigma={1, 2})', 5),
    ("huge_string", 'd2 = mg.run("filters.gaussian", d1, units="' + "x" * 20_000 + '")', 5),
    ("deep_nesting", 'd2 = mg.run("filters.gaussian", d1, sigma=' + "[" * 40 + "]" * 40 + ")",
     5),
    ("huge_int", 'd2 = mg.run("filters.gaussian", d1, sigma=' + "9" * 60 + ")", 5),
    ("inf_float", 'd2 = mg.run("filters.gaussian", d1, sigma=1e999)', 5),
    ("undefined_variable", 'd2 = mg.run("filters.gaussian", d9)', 5),
    ("mg_as_input", 'mg.save(mg, "x.hspy")', 5),
    ("dunder_keyword", "mg.display(d1, __class__=1)", 5),
    ("op_id_non_literal", "d2 = mg.run(d1, d1)", 5),
    ("op_id_weird", 'd2 = mg.run("../../os.system", d1)', 5),
    ("run_not_assigned", 'mg.run("filters.gaussian", d1)', 5),
    ("save_assigned", 'x = mg.save(d1, "x.hspy")', 5),
    ("bare_call", 'print("hello")', 5),
    ("bare_name", "d1", 5),
    ("bare_string_later", '"not a docstring"', 5),
    ("yield", "yield d1", 5),
    ("multiline_statement",
     'd2 = mg.run(\n    "filters.gaussian",\n    d1,\n    sigma=__import__("os").getpid(),\n)', 8),
    ("syntax_error", 'd2 = mg.run("filters.gaussian", d1', 5),
    ("match", "match d1:\n    case _:\n        pass", 5),
]


def _write(tmp_path: Path, body: str, prefix: str = PREFIX) -> tuple[Path, Path, Path]:
    marker = tmp_path / "MARKER"
    inp = tmp_path / "input.hspy"
    text = (prefix + body + "\n").replace("@MARKER@", str(marker)).replace("@INPUT@", str(inp))
    log = tmp_path / "hostile.py"
    log.write_text(text, encoding="utf-8")
    return log, marker, inp


def test_corpus_is_large_and_distinct():
    assert len(HOSTILE) >= 30
    assert len({c[0] for c in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("case,body,line", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_log_is_refused_before_anything_runs(case, body, line, tmp_path, capsys):
    log, marker, _ = _write(tmp_path, body)
    text = log.read_text()
    with pytest.raises(mg.ReplayRefused) as info:
        replay.parse(text, str(log))
    assert info.value.lineno == line, info.value.reason
    assert info.value.path == str(log)
    assert info.value.reason

    out = tmp_path / "out"
    assert replay.cli([str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{log}:{line}: refused: " in err
    assert "Traceback" not in err
    assert err.count("\n") == 1  # one line
    assert not marker.exists()
    assert not out.exists()  # nothing ran: not even the output folder was made
    assert not (tmp_path / "escape.hspy").exists()
    assert not (tmp_path.parent / "escape.hspy").exists()


def test_refused_log_with_input_swap_and_batch_options_still_refused(tmp_path, capsys):
    log, marker, inp = _write(tmp_path, TOUCH)
    out = tmp_path / "out"
    assert replay.cli([str(log), "--input", f"d1={inp}", "--out", str(out)]) == 2
    assert replay.cli([str(log), "--over", str(tmp_path / "*.py"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count(f"{log}:5: refused: ") == 2
    assert not marker.exists() and not out.exists()


def test_reasons_are_specific():
    def reason(body: str) -> str:
        with pytest.raises(mg.ReplayRefused) as info:
            replay.parse(PREFIX + body)
        return info.value.reason

    assert "import os" in reason("import os")
    assert "only mg.open, mg.run, mg.save and mg.display" in reason('getattr(mg, "save")')
    assert "mg.io" in reason('mg.io.write(d1, "x")')
    assert "not defined" in reason('d2 = mg.run("filters.gaussian", d9)')
    assert "leaves the output folder" in reason('mg.save(d1, "../x.hspy")')
    assert "string literal" in reason("d2 = mg.open(d1)")
    assert "an f-string" in reason('d2 = mg.run("a.b", d1, units=f"{d1}")')
    assert "shadows a Python builtin" in reason('open = mg.open("x")')
    assert "a for loop" in reason("for i in d1:\n    pass")
    assert "not valid Python" in reason("d2 = (")


def test_mg_used_before_import_is_refused():
    with pytest.raises(mg.ReplayRefused) as info:
        replay.parse('d1 = mg.open("a.hspy")\nimport micrographia as mg\n')
    assert info.value.lineno == 1


def test_nul_bytes_and_huge_logs_are_refused():
    with pytest.raises(mg.ReplayRefused):
        replay.parse("import micrographia as mg\0\n")
    with pytest.raises(mg.ReplayRefused):
        replay.parse("#" * (replay.MAX_SOURCE_CHARS + 1))


RECORDED = '''"""A hand-written docstring is allowed as the first statement."""
# Micrographia 0.1.0 session, 2026-11-22T10:14:03
import micrographia as mg
d1 = mg.open("grain_boundary.dm4")
f1 = mg.open("/data/multi.emd", lazy=True)
d2 = mg.open("multi.emd", signal="HAADF", lazy=None)
# d3: array (4, 4) float64, made in memory: not reproducible from this log
d4 = mg.run("filters.gaussian", d1, sigma=1.5, units="px")
d5, t1 = mg.run("plugin_x.measure", d4, f1[0], f1[-1], None, region={"x": (4.0, 20.0)},
                offsets=[-1, +2.5, -0.0], flag=False, label="a 'quoted' \\"str\\"", n=None)
mg.display(d4, cmap="viridis", clim=(0.0, 1.0))
mg.save(d5, "out.hspy")
mg.save(t1, "/abs/folder/table.csv", delimiter=";")
mg.save(d4, "sub/dir/../smoothed.tif")
d4 = mg.run("filters.gaussian", d4, sigma=0.5)
'''


def test_recorded_forms_parse_to_steps():
    p = replay.parse(RECORDED, "/logs/session.py")
    assert p.path == "/logs/session.py" and p.text == RECORDED
    kinds = [type(s).__name__ for s in p.steps]
    assert kinds == ["OpenStep", "OpenStep", "OpenStep", "RunStep", "RunStep", "DisplayStep",
                     "SaveStep", "SaveStep", "SaveStep", "RunStep"]
    o1, o2, o3 = p.opens
    assert (o1.lineno, o1.target, o1.path, o1.kwargs) == (4, "d1", "grain_boundary.dm4", {})
    assert o2.kwargs == {"lazy": True}
    assert o3.kwargs == {"signal": "HAADF", "lazy": None}
    r1, r2 = p.steps[3], p.steps[4]
    assert r1 == replay.RunStep(8, ("d4",), False, "filters.gaussian", (replay.Ref("d1"),),
                                {"sigma": 1.5, "units": "px"})
    assert r2.targets == ("d5", "t1") and r2.unpack
    assert r2.args == (replay.Ref("d4"), replay.Ref("f1", 0), replay.Ref("f1", -1), None)
    assert r2.kwargs == {"region": {"x": (4.0, 20.0)}, "offsets": [-1, 2.5, -0.0],
                         "flag": False, "label": "a 'quoted' \"str\"", "n": None}
    assert p.steps[5].kwargs == {"cmap": "viridis", "clim": (0.0, 1.0)}
    assert [(s.lineno, str(s.ref), s.path) for s in p.saves] == [
        (12, "d5", "out.hspy"), (13, "t1", "/abs/folder/table.csv"),
        (14, "d4", "sub/dir/../smoothed.tif")]
    assert p.saves[1].kwargs == {"delimiter": ";"}


def test_recorder_output_parses(tmp_path):
    import numpy as np

    with mg.recording() as rec:
        d = mg.from_array(np.ones((8, 8)))
        g = mg.run("filters.gaussian", d, sigma=1.0)
        mg.display(g, cmap="viridis", clim=(0.0, 1.0), gamma=0.8)
    # d1 was made in memory: the log cannot reproduce it, and says so at the line using it
    with pytest.raises(mg.ReplayRefused) as info:
        replay.parse(rec.text)
    assert info.value.lineno == 4
    assert "d1 (array (8, 8) float64) was made in memory" in info.value.reason
    text = rec.text.replace("# d1:", 'd1 = mg.open("x.hspy")  #')
    p = replay.parse(text)
    assert [type(s).__name__ for s in p.steps] == ["OpenStep", "RunStep", "DisplayStep"]
    assert p.steps[1].kwargs == {"sigma": 1.0, "units": "px"}
    assert p.steps[2].kwargs == {"cmap": "viridis", "clim": (0.0, 1.0), "gamma": 0.8}


def test_trust_runs_plain_python(tmp_path):
    log = tmp_path / "plain.py"
    log.write_text('from pathlib import Path\nPath("made_by_trust.txt").write_text("hi")\n')
    out = tmp_path / "out"
    assert replay.cli([str(log), "--out", str(out)]) == 2  # refused without --trust
    assert not out.exists()
    assert replay.cli([str(log), "--trust", "--out", str(out)]) == 0
    assert (out / "made_by_trust.txt").read_text() == "hi"
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    assert replay.cli([str(bad), "--trust", "--out", str(out)]) == 3


# -- controls: the markers are real ----------------------------------------------------------
def _io_works(tmp_path: Path) -> bool:
    import numpy as np

    try:
        mg.save(mg.from_array(np.zeros((4, 4))), tmp_path / "probe.hspy")
    except Exception:
        return False
    return True


def test_prefix_alone_does_write_its_marker(tmp_path):
    from _replay_helpers import make_input

    log, _, inp = _write(tmp_path, "# nothing hostile")
    make_input(inp)
    out = tmp_path / "out"
    assert replay.cli([str(log), "--out", str(out), "-q"]) == 0
    assert (out / "pre_marker.hspy").is_file()


TRUSTED_SAMPLE = ["import_os", "dunder_import_call", "exec", "eval", "lambda",
                  "list_comprehension", "for", "if", "try", "walrus", "touch_in_param",
                  "open_builtin", "rebind_mg"]


@pytest.mark.parametrize("case", TRUSTED_SAMPLE)
def test_hostile_lines_do_act_when_trusted(case, tmp_path):
    from _replay_helpers import make_input

    body = dict((c[0], c[1]) for c in HOSTILE)[case]
    log, marker, inp = _write(tmp_path, body)
    make_input(inp)
    out = tmp_path / "out"
    replay.cli([str(log), "--trust", "--out", str(out)])  # may fail after acting
    assert marker.exists(), f"{case}: the hostile line did not create its marker"
    assert (out / "pre_marker.hspy").is_file()
