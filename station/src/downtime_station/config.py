"""The station's settings (``station.json``) and what it last learned
(``state.json``)."""

import ipaddress
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from downtime_station import home as files

CONFIG = "station.json"
STATE = "state.json"


class NotEnrolled(Exception):
    """The station has no server and token yet: ``downtime-station enrol``."""


@dataclass
class Config:
    server: str
    token: str
    station_id: int
    station_name: str
    trusted: dict[str, str]  # key id: public key (base64)
    ca_bundle: str | None = None
    # The command that prints a PDF, "{file}" standing for its path; None:
    # the system's way (lp on Linux, the default printer on Windows).
    print_command: str | None = None

    def save(self, home: Path) -> None:
        files.write_json(home / CONFIG, asdict(self))
        files.private(home / CONFIG)


def load(home: Path) -> Config:
    data = files.read_json(home / CONFIG, None)
    if data is None:
        raise NotEnrolled(
            f"{home} holds no enrolled station: run `downtime-station enrol URL CODE`."
        )
    return Config(**data)


@dataclass
class State:
    """What the last sync learned; kept for ``open`` with the server gone."""

    etag: str = ""
    last_sync_at: str = ""  # a sync that reached the server and kept all it had
    last_attempt_at: str = ""
    last_error: str = ""
    last_heartbeat_at: str = ""
    language: str = "en"
    places: list[dict] = field(default_factory=list)  # id, name, kind
    downtime: dict | None = None
    intervals: dict = field(default_factory=dict)

    def save(self, home: Path) -> None:
        files.write_json(home / STATE, asdict(self))


def state(home: Path) -> State:
    return State(**files.read_json(home / STATE, {}))


def server_url(url: str) -> str:
    """HTTPS, or HTTP to this machine only (the demo, the tests): a token and
    patient data never cross a network in the clear."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(
            f"{url} is plain HTTP to another machine: use https:// (the server's "
            "TLS proxy), so that the token and the packs are encrypted on the way"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_print_command() -> str | None:
    return None if sys.platform == "win32" else "lp {file}"
