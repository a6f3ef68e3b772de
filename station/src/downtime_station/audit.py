"""The station's own log of who opened or printed what, and when.

Append-only: one JSON line per event, each carrying the SHA-256 of the
line before it, so that a line changed or removed later shows as a break
in the chain. The next successful heartbeat sends the lines not yet sent
into the server's access log; the server keeps each once, by its id.
"""

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

from downtime_station import home as files

NAME = "log.jsonl"
SENT = "log.sent"  # how many lines the server has taken
BATCH = 500


def record(
    home: Path,
    *,
    person: str,
    action: str,
    item: str,
    outcome: str = "allowed",
    reason: str = "",
) -> dict:
    """Append one event and flush it to disk before anything is shown."""
    path = home / NAME
    lines = _lines(path)
    entry = {
        "id": str(uuid.uuid4()),
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "person": person,
        "action": action,
        "item": item,
        "outcome": outcome,
        "reason": reason,
        "previous": hashlib.sha256(lines[-1].encode()).hexdigest() if lines else "",
    }
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(handle, "a", encoding="utf-8") as output:
        output.write(json.dumps(entry, sort_keys=True) + "\n")
        output.flush()
        os.fsync(output.fileno())
    return entry


def unsent(home: Path) -> tuple[list[dict], int]:
    """The events not yet taken by the server (at most BATCH), and the count
    to mark as sent once it has taken them."""
    lines = _lines(home / NAME)
    sent = _sent(home)
    batch = lines[sent : sent + BATCH]
    return [json.loads(line) for line in batch], sent + len(batch)


def mark_sent(home: Path, upto: int) -> None:
    files.write_atomically(home / SENT, str(upto).encode())


def broken_at(home: Path) -> int | None:
    """The first line whose link to the one before does not hold; None when
    the chain is whole."""
    lines = _lines(home / NAME)
    for number, line in enumerate(lines[1:], start=1):
        expected = hashlib.sha256(lines[number - 1].encode()).hexdigest()
        if json.loads(line).get("previous") != expected:
            return number
    return None


def _sent(home: Path) -> int:
    try:
        return int((home / SENT).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.split("\n") if line.strip()]
