"""Enrolling, syncing, and the loop that keeps a station current.

A sync:
1. asks for the manifest, conditionally (304: nothing changed);
2. follows the server's key chain from the keys the station trusts;
3. for each file it does not hold: checks the statement's signature,
   downloads the file, checks its SHA-256, keeps it encrypted;
4. drops the files of wards it no longer serves;
5. sends a heartbeat (what it holds, its free disk, its last error, and
   the local log not yet sent) when something changed or every
   ``sync`` seconds.
A file that fails a check is not kept and the sync says so; the next one
tries again. The manifest's tag is kept only when every file was.
"""

import datetime as dt
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from downtime_station import __version__, audit
from downtime_station import config as settings
from downtime_station import home as files
from downtime_station.client import Api, ServerError
from downtime_station.store import Refused, Store
from downtime_station.trust import followed

logger = logging.getLogger("downtime_station")
DEFAULTS = {"check": 15, "sync": 120, "downtime": 30}


def enrol(
    home: Path, *, server: str, code: str, ca_bundle: str | None
) -> settings.Config:
    """Exchange IT's one-time code for a token; pin the server's keys."""
    server = settings.server_url(server)
    files.ensure(home)
    api = Api(server, ca_bundle=ca_bundle)
    try:
        answer = api.enrol(code)
    finally:
        api.close()
    keys = {entry["id"]: entry["public_key"] for entry in answer["keys"]}
    config = settings.Config(
        server=server,
        token=answer["token"],
        station_id=answer["station"]["id"],
        station_name=answer["station"]["name"],
        trusted=keys,
        ca_bundle=ca_bundle,
        print_command=settings.default_print_command(),
    )
    config.save(home)
    settings.State().save(home)  # a new enrolment starts afresh
    return config


@dataclass
class Outcome:
    changed: bool = False
    kept: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    dropped: int = 0
    heartbeat: bool = False


def sync(home: Path, *, force_heartbeat: bool = False) -> Outcome:
    """One sync; ServerError when the server cannot be reached or refuses."""
    config = settings.load(home)
    state = settings.state(home)
    state.last_attempt_at = _now()
    api = Api(config.server, token=config.token, ca_bundle=config.ca_bundle)
    outcome = Outcome()
    try:
        try:
            manifest = api.manifest(state.etag)
            if manifest.changed:
                outcome = _apply(home, api, config, state, manifest.body)
                if not outcome.refused:
                    state.etag = manifest.etag
            state.last_sync_at = _now()
            state.last_error = "; ".join(outcome.refused)
        except ServerError as error:
            state.last_error = str(error)
            state.save(home)
            raise
        if force_heartbeat or outcome.changed or _heartbeat_due(state):
            _heartbeat(home, api, config, state)
            outcome.heartbeat = True
    finally:
        api.close()
        state.save(home)
    return outcome


def _apply(home: Path, api: Api, config: settings.Config, state, body: dict) -> Outcome:
    """What the manifest says of the station's wards and of a downtime is
    saved before any file is fetched: a station stopped mid-sync (a power
    cut) never holds a downtime's files without knowing of the downtime."""
    outcome = Outcome(changed=True)
    state.places = body["station"]["locations"]
    state.language = body.get("language", state.language)
    state.downtime = body.get("downtime")
    state.intervals = body.get("intervals", {})
    state.save(home)
    trusted = followed(config.trusted, body.get("keys", []))
    if trusted != config.trusted:
        config.trusted = trusted
        config.save(home)
    store = Store(home, trusted)
    places = {place["id"] for place in body["station"]["locations"]}
    for entry in body["items"]:
        if store.holds(entry["item"], entry["sha256"], entry["signature"]):
            continue
        try:
            _fetch(api, store, entry, places)
            outcome.kept.append(entry["item"])
        except (Refused, ServerError) as error:
            logger.error("%s not kept: %s", entry["item"], error)
            outcome.refused.append(f"{entry['item']}: {error}")
    outcome.dropped = store.forget_places(places)
    return outcome


def _fetch(api: Api, store: Store, entry: dict, places: set[int]) -> None:
    """Check the statement before downloading: a file the station would not
    keep is not fetched."""
    about = store.statement(entry["statement"], entry["signature"], entry["key_id"])
    location = about.get("location")
    if (location is None and about.get("kind") != "form") or (
        location is not None and location.get("id") not in places
    ):
        raise Refused("its statement names a ward this station does not serve")
    data = api.file(entry["url"])
    store.keep(
        item=entry["item"],
        statement=entry["statement"],
        signature=entry["signature"],
        key_id=entry["key_id"],
        data=data,
    )


def _heartbeat_due(state) -> bool:
    every = state.intervals.get("sync", DEFAULTS["sync"])
    if not state.last_heartbeat_at:
        return True
    last = dt.datetime.fromisoformat(state.last_heartbeat_at)
    return (dt.datetime.now(dt.UTC) - last).total_seconds() >= every


def _heartbeat(home: Path, api: Api, config: settings.Config, state) -> None:
    store = Store(home, config.trusted)
    entries, upto = audit.unsent(home)
    api.heartbeat(
        {
            "version": __version__,
            "free_disk": shutil.disk_usage(home).free,
            "last_error": state.last_error,
            "holdings": [
                {"item": held.item, "sha256": held.sha256}
                for held in store.held()
                if not held.about.get("unverified")
            ],
            "log": entries,
        }
    )
    audit.mark_sent(home, upto)
    state.last_heartbeat_at = _now()


# Answers after which asking again soon helps nobody: revoked or unknown
# (until IT enrols it again), and too many requests.
BACK_OFF = {401: 600.0, 429: 60.0}


def next_wait(state) -> float:
    """Seconds to the next check: the manifest's ``check`` interval, or its
    ``downtime`` one while a declared downtime's final set is not all here,
    with a tenth of jitter so that stations do not ask all at once."""
    intervals = {**DEFAULTS, **(state.intervals or {})}
    wait = intervals["check"]
    downtime = state.downtime
    final = (downtime or {}).get("final_set", {})
    if downtime and downtime.get("state") == "downtime" and not final.get("complete"):
        wait = min(wait, intervals["downtime"])
    return wait * random.uniform(0.9, 1.1)  # noqa: S311 - spreading load, not secrecy


def run(home: Path) -> None:
    """Sync forever; an error is logged and kept for the heartbeat, and the
    loop goes on (the server may be down for weeks)."""
    logger.info("downtime-station %s keeping %s", __version__, home)
    while True:
        wait = None
        try:
            outcome = sync(home)
            if outcome.kept or outcome.refused or outcome.dropped:
                logger.info(
                    "kept %d, refused %d, dropped %d",
                    len(outcome.kept),
                    len(outcome.refused),
                    outcome.dropped,
                )
        except ServerError as error:
            logger.warning("sync failed: %s", error)
            wait = BACK_OFF.get(error.status)
        except settings.NotEnrolled:
            raise
        except Exception:  # never stop for good: log it, try again later
            logger.exception("sync failed")
        time.sleep(wait or next_wait(settings.state(home)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
