"""The app's session: a recorded log of everything the user does, and crash recovery.

At start the app opens ``session-YYYYmmdd-HHMMSS.py`` in the session folder
(:func:`micrographia.settings.data_dir`, overridden by ``$MICROGRAPHIA_SESSION_DIR``) and makes its
:class:`~micrographia.recorder.Recorder` active, so every ``mg.open/run/save/display`` the app makes
is written there, line by line, each line fsync'ed. Beside the log a marker file
``session-….running`` says "this app is running"; it is removed when the app ends cleanly. A marker
left behind by a process that no longer runs means the previous session crashed: the app offers
to recover it by replaying its log.

No Qt here: the prompt is the main window's business.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from micrographia import settings as _settings
from micrographia.recorder import Recorder

__all__ = ["Session", "StaleSession", "find_stale_sessions", "log_has_actions"]

MARKER_SUFFIX = ".running"


def log_has_actions(path: str | os.PathLike[str]) -> bool:
    """Tell whether a session log recorded anything besides its header.

    Parameters
    ----------
    path : path-like
        The log.

    Returns
    -------
    bool
        True when it holds at least one ``mg.`` call line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#") and s != "import micrographia as mg":
            return True
    return False


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


class StaleSession:
    """A session that did not end cleanly.

    Parameters
    ----------
    marker : Path
        Its ``.running`` marker file.
    log : Path
        Its log.
    pid : int
        The process that wrote it.
    """

    def __init__(self, marker: Path, log: Path, pid: int):
        self.marker = marker
        self.log = log
        self.pid = pid

    @property
    def has_actions(self) -> bool:
        """Whether the log recorded any action worth recovering."""
        return log_has_actions(self.log)

    def dismiss(self) -> None:
        """Forget it: remove the marker (the log stays on disk)."""
        try:
            self.marker.unlink()
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"StaleSession({str(self.log)!r}, pid={self.pid})"


def find_stale_sessions(folder: str | os.PathLike[str] | None = None) -> list[StaleSession]:
    """Find sessions whose process ended without closing them (a crash or a kill).

    Parameters
    ----------
    folder : path-like, optional
        Session folder (default :func:`micrographia.settings.data_dir`).

    Returns
    -------
    list of StaleSession
        Oldest first.
    """
    d = Path(folder) if folder is not None else _settings.data_dir()
    out: list[StaleSession] = []
    if not d.is_dir():
        return out
    for marker in sorted(d.glob("session-*" + MARKER_SUFFIX)):
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
            pid = int(info.get("pid", 0))
            log = Path(info.get("log") or marker.with_suffix(".py"))
        except (OSError, ValueError, TypeError, AttributeError):
            pid, log = 0, marker.with_suffix(".py")
        if _pid_alive(pid):
            continue
        out.append(StaleSession(marker, log, pid))
    return out


class Session:
    """The app's recorded session.

    Parameters
    ----------
    folder : path-like, optional
        Session folder (default :func:`micrographia.settings.data_dir`).

    Attributes
    ----------
    recorder : Recorder
        The active recorder (``recorder.lines`` is the log so far).
    path : Path
        The log file.
    marker : Path
        The "app is running" marker.
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder is not None else _settings.data_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"session-{stamp}.py"
        n = 2
        while path.exists() or path.with_suffix(MARKER_SUFFIX).exists():
            path = self.folder / f"session-{stamp}-{n}.py"
            n += 1
        self.path = path
        self.marker = path.with_suffix(MARKER_SUFFIX)
        self._write_marker()
        self.recorder = Recorder(self.path)
        self.recorder.start()
        self.closed = False

    def _write_marker(self) -> None:
        tmp = self.marker.with_name(self.marker.name + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "log": str(self.path)}),
                       encoding="utf-8")
        os.replace(tmp, self.marker)

    @property
    def text(self) -> str:
        """The log so far."""
        return self.recorder.text

    def close(self) -> None:
        """End the session cleanly: stop recording and remove the marker."""
        if self.closed:
            return
        self.closed = True
        self.recorder.stop()
        try:
            self.marker.unlink()
        except OSError:
            pass
