"""The station's folder, and the files in it that only its account may read.

    station.json  the server, the station's token, the keys it trusts
    data.key      the key that encrypts every file kept (see store.py)
    index.json    what it holds: each file's signed statement
    files/        the encrypted files
    log.jsonl     who opened or printed what (audit.py)
    state.json    the last sync, its error, the manifest's news
    print/        decrypted copies on their way to the printer, briefly

The folder is made readable by its owner only (0700 on Linux; on Windows
it lives in the account's own profile, which only that account, SYSTEM and
administrators can read).
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ENVIRONMENT = "DOWNTIME_STATION_HOME"


def default_home() -> Path:
    """%LOCALAPPDATA%\\DowntimeStation on Windows; else the XDG data folder."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "DowntimeStation"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "downtime-station"


def home_path(given: str | None) -> Path:
    chosen = given or os.environ.get(ENVIRONMENT) or str(default_home())
    return Path(chosen).expanduser().resolve()


def ensure(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    private(home, directory=True)
    return home


def private(path: Path, *, directory: bool = False) -> None:
    """Owner only, where the OS has POSIX modes."""
    if os.name == "posix":
        path.chmod(0o700 if directory else 0o600)


def write_atomically(path: Path, data: bytes) -> None:
    """A temporary file beside it, fsync, rename: whole or not at all, and
    readable by this account only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        _replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if os.name == "posix":  # the rename itself survives a power cut
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _replace(source: str, target: Path) -> None:
    """A rename over the old file. Windows refuses it while another process
    reads the old one (the page, while a sync writes): try again briefly."""
    for attempt in range(50):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if sys.platform != "win32" or attempt == 49:
                raise
            time.sleep(0.05)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def write_json(path: Path, value) -> None:
    write_atomically(path, json.dumps(value, indent=1, sort_keys=True).encode())
