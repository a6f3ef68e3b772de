"""Printing through the OS: ``lp`` on Linux, the default printer on
Windows, or the command configured (``downtime-station configure
--print-command``), "{file}" standing for the PDF's path.

The decrypted copy lives in the station's own folder (``print/``, this
account only) for as long as the command needs it.
"""

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from downtime_station import home as files

PRINT_FOLDER = "print"
TIMEOUT = 120


class PrintFailed(Exception):
    """The print command failed; its message says how."""


def print_pdf(home: Path, data: bytes, *, command: str | None) -> None:
    folder = home / PRINT_FOLDER
    folder.mkdir(exist_ok=True)
    files.private(folder, directory=True)
    _clean(folder)
    path = folder / f"{os.urandom(8).hex()}.pdf"
    files.write_atomically(path, data)
    if command is None and sys.platform == "win32":
        # The default printer, through the PDF viewer's "print" verb. It
        # runs on after this returns, so the copy is removed at a later
        # print (_clean), not now.
        os.startfile(path, "print")  # noqa: S606 - a file of our own
        return
    try:
        _run(command or "lp {file}", path)
    finally:
        path.unlink(missing_ok=True)


def _run(command: str, path: Path) -> None:
    words = shlex.split(command, posix=sys.platform != "win32")
    if "{file}" in command:
        words = [word.replace("{file}", str(path)) for word in words]
    else:
        words.append(str(path))
    try:
        done = subprocess.run(  # noqa: S603 - the command IT configured
            words, capture_output=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PrintFailed(f"{words[0]}: {error}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()[:300]
        raise PrintFailed(f"{words[0]} exited with {done.returncode}: {said}")


def _clean(folder: Path) -> None:
    """Copies older than ten minutes: left by Windows' print verb or a crash."""
    limit = time.time() - 600
    for path in folder.glob("*.pdf"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
