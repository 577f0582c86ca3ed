"""The app's recorded session and crash detection (no Qt needed)."""

from __future__ import annotations

import json
import os

import numpy as np

import micrographia as mg
from micrographia.app.session import Session, find_stale_sessions, log_has_actions
from micrographia.recorder import active_recorders


def test_session_records_and_closes_cleanly(tmp_path):
    s = Session(tmp_path)
    try:
        assert s.path.parent == tmp_path and s.path.name.startswith("session-")
        assert s.path.suffix == ".py"
        assert s.marker.is_file()
        assert json.loads(s.marker.read_text())["pid"] == os.getpid()
        assert s.recorder in active_recorders()
        d = mg.from_array(np.arange(16.0).reshape(4, 4))
        mg.run("filters.gaussian", d, sigma=1.0)
        text = s.path.read_text()
        assert 'd2 = mg.run("filters.gaussian", d1, sigma=1.0' in text
        assert log_has_actions(s.path)
        assert find_stale_sessions(tmp_path) == []  # our own process is alive
    finally:
        s.close()
    assert not s.marker.exists()
    assert s.recorder not in active_recorders()
    assert s.path.is_file()


def test_two_sessions_in_the_same_second_get_distinct_files(tmp_path):
    a, b = Session(tmp_path), Session(tmp_path)
    try:
        assert a.path != b.path
    finally:
        a.close()
        b.close()


def test_stale_session_is_found_and_dismissed(tmp_path):
    log = tmp_path / "session-20260101-000000.py"
    log.write_text('import micrographia as mg\nd1 = mg.open("x.dm3")\n')
    marker = log.with_suffix(".running")
    marker.write_text(json.dumps({"pid": 0, "log": str(log)}))
    empty = tmp_path / "session-20260101-000001.py"
    empty.write_text("# Micrographia session\nimport micrographia as mg\n")
    empty.with_suffix(".running").write_text(json.dumps({"pid": 0, "log": str(empty)}))
    stale = find_stale_sessions(tmp_path)
    assert [s.log for s in stale] == [log, empty]
    assert [s.has_actions for s in stale] == [True, False]
    stale[0].dismiss()
    assert not marker.exists() and log.exists()
    assert [s.log for s in find_stale_sessions(tmp_path)] == [empty]


def test_broken_marker_counts_as_stale(tmp_path):
    m = tmp_path / "session-20260101-000002.running"
    m.write_text("{not json")
    stale = find_stale_sessions(tmp_path)
    assert len(stale) == 1 and stale[0].log == m.with_suffix(".py")
    assert not stale[0].has_actions
