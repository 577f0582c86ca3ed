"""User settings: compute device, lazy-loading threshold, session folder.

Values come from (highest first) environment variables, the settings file
``<config dir>/settings.json`` and the defaults. The config dir is ``$MICROGRAPHIA_CONFIG_DIR``
or the platform's user config folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

__all__ = ["Settings", "config_dir", "data_dir", "load", "save", "get", "DEVICES"]

DEVICES = ("auto", "cpu", "gpu")


def config_dir() -> Path:
    """Return the folder of the settings file.

    Returns
    -------
    Path
        ``$MICROGRAPHIA_CONFIG_DIR``, else ``%APPDATA%/Micrographia`` on Windows,
        ``~/Library/Application Support/Micrographia`` on macOS, ``$XDG_CONFIG_HOME/micrographia``
        (``~/.config/micrographia``) elsewhere.
    """
    env = os.environ.get("MICROGRAPHIA_CONFIG_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "Micrographia"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Micrographia"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "micrographia"


def data_dir() -> Path:
    """Return the folder where session logs are autosaved.

    Returns
    -------
    Path
        ``$MICROGRAPHIA_SESSION_DIR``, else a ``sessions`` folder in the user data folder.
    """
    env = os.environ.get("MICROGRAPHIA_SESSION_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home())) / "Micrographia"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "Micrographia"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
        base = base / "micrographia"
    return base / "sessions"


@dataclasses.dataclass
class Settings:
    """The user's settings.

    Parameters
    ----------
    device : {"auto", "cpu", "gpu"}
        Where operations that support it compute; ``auto`` uses a GPU when the probe finds one.
    lazy_threshold : int
        Files larger than this many bytes open lazily (dask). Default 1 GiB.
    default_colormap : str
        Colormap of new image windows.
    """

    device: Literal["auto", "cpu", "gpu"] = "auto"
    lazy_threshold: int = 1 << 30
    default_colormap: str = "grey"

    def validate(self) -> Settings:
        """Check the values.

        Returns
        -------
        Settings
            ``self``.

        Raises
        ------
        ValueError
            On an unknown device or a negative threshold.
        """
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {self.device!r}")
        if int(self.lazy_threshold) < 0:
            raise ValueError("lazy_threshold must be >= 0")
        self.lazy_threshold = int(self.lazy_threshold)
        return self


_cached: Settings | None = None


def load() -> Settings:
    """Read the settings file, then apply environment overrides.

    Returns
    -------
    Settings
        Valid settings (a broken file is ignored, not fatal).
    """
    s = Settings()
    f = config_dir() / "settings.json"
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
        for k, v in raw.items():
            if k in {x.name for x in dataclasses.fields(Settings)}:
                setattr(s, k, v)
        s.validate()
    except (OSError, ValueError, TypeError):
        s = Settings()
    dev = os.environ.get("MICROGRAPHIA_DEVICE")
    if dev:
        s.device = dev.lower()  # type: ignore[assignment]
    thr = os.environ.get("MICROGRAPHIA_LAZY_THRESHOLD")
    if thr:
        s.lazy_threshold = int(float(thr))
    return s.validate()


def get() -> Settings:
    """Return the current settings (loaded once per process; :func:`save` refreshes them).

    Returns
    -------
    Settings
        The settings.
    """
    global _cached
    if _cached is None:
        _cached = load()
    return _cached


def save(settings: Settings) -> Path:
    """Write the settings file atomically.

    Parameters
    ----------
    settings : Settings
        Values to store.

    Returns
    -------
    Path
        The file written.
    """
    global _cached
    settings.validate()
    d = config_dir()
    d.mkdir(parents=True, exist_ok=True)
    target = d / "settings.json"
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".settings-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(settings), f, indent=2)
    os.replace(tmp, target)
    _cached = None
    return target


def reset_cache() -> None:
    """Forget the cached settings (tests change environment variables)."""
    global _cached
    _cached = None


def as_dict() -> dict[str, Any]:
    """Return the current settings as a dict.

    Returns
    -------
    dict
        Field names and values.
    """
    return dataclasses.asdict(get())
