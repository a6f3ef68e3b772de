"""Ward stations: made and revoked by IT, enrolled with a one-time code,
heard from by their heartbeats, and their local logs taken into the access
log. The only writers of ``Station`` rows."""

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import AccessLog
from patients.models import Location
from printouts.models import Pack, Printout
from stations.models import Station
from stations.selectors import item_reference

CODE_LIFETIME = dt.timedelta(hours=24)
# No 0/O, 1/I/L: a code is read off IT's screen and typed on the ward PC.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_GROUPS, _CODE_GROUP = 5, 4  # 20 characters: about 99 bits
TOKEN_PREFIX = "dst_"  # noqa: S105 - a prefix, not a secret


class EnrolmentRefused(Exception):
    """A code that is unknown, used, expired or for a revoked station."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_code() -> str:
    groups = (
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP))
        for _ in range(_CODE_GROUPS)
    )
    return "-".join(groups)


def code_normalised(code: str) -> str:
    """As typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def station_create(
    *, name: str, locations: list[Location], notes: str, user
) -> tuple[Station, str]:
    """A new station and its enrolment code (shown once, valid 24 h)."""
    station = Station(name=name.strip(), notes=notes, created_at=timezone.now())
    station.created_by = user
    station.full_clean(exclude=["locations"])
    with transaction.atomic():
        station.save()
        station.locations.set(locations)
        code = _issue_code(station)
    return station, code


def station_new_code(*, station: Station) -> str:
    """Another enrolment code (a PC replaced, or the first code expired). The
    token in use keeps working until the code is used."""
    if station.is_revoked:
        raise ValidationError(_("This station is revoked; make a new one."))
    return _issue_code(station)


def _issue_code(station: Station) -> str:
    code = _new_code()
    Station.objects.filter(pk=station.pk).update(
        code_hash=digest(code_normalised(code)),
        code_expires_at=timezone.now() + CODE_LIFETIME,
    )
    station.refresh_from_db()
    return code


def station_enrol(
    *, code: str, address: str | None, version: str
) -> tuple[Station, str]:
    """Exchange a one-time code for the station's token. The code is claimed
    atomically: of two PCs typing it at once, one gets a token."""
    hashed = digest(code_normalised(code))
    now = timezone.now()
    station = Station.objects.filter(code_hash=hashed).first() if code.strip() else None
    if station is None:
        raise EnrolmentRefused(_("This enrolment code is unknown or already used."))
    if station.is_revoked:
        raise EnrolmentRefused(_("This station is revoked."))
    if station.code_expires_at is None or station.code_expires_at < now:
        raise EnrolmentRefused(
            _("This enrolment code has expired: ask IT for a new one.")
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    claimed = Station.objects.filter(
        pk=station.pk, code_hash=hashed, revoked_at__isnull=True
    ).update(
        code_hash="",
        code_expires_at=None,
        token_hash=digest(token),
        enrolled_at=now,
        last_seen_at=now,
        address=address,
        version=version[:32],
        holdings=[],
        holdings_at=None,
        last_error="",
    )
    if claimed != 1:
        raise EnrolmentRefused(_("This enrolment code is unknown or already used."))
    station.refresh_from_db()
    return station, token


def station_revoke(*, station: Station, user) -> Station:
    """Its token stops working at once; the row stays, for the record."""
    Station.objects.filter(pk=station.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(),
        revoked_by=user,
        token_hash=None,
        code_hash="",
        code_expires_at=None,
    )
    station.refresh_from_db()
    return station


def station_authenticated(*, token: str) -> Station | None:
    """The station whose token this is; None for a revoked or unknown one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return (
        Station.objects.filter(token_hash=digest(token), revoked_at__isnull=True)
        .prefetch_related("locations")
        .first()
    )


SEEN_EVERY = dt.timedelta(seconds=60)


def station_seen(*, station: Station, address: str | None) -> None:
    """Any authenticated request says the station is alive; written at most
    once a minute (stations check every few seconds, and "silent" counts in
    minutes)."""
    now = timezone.now()
    last = station.last_seen_at
    if last is None or now - last >= SEEN_EVERY or station.address != address:
        Station.objects.filter(pk=station.pk).update(last_seen_at=now, address=address)


class ReportInvalid(ValueError):
    """A heartbeat or log upload that does not have the expected shape; the
    message names the field, and nothing was changed."""


@dataclass(frozen=True)
class Holding:
    item: str
    sha256: str


def station_heartbeat(*, station: Station, report: dict, address: str | None) -> None:
    """What the station says of itself: its version, free disk, last error,
    and the files it holds verified. A holding is kept only when it names a
    pack of the station's wards with the same SHA-256 as the server's row:
    readiness then reads the ward and the data's age from that row, never
    from what the station claims."""
    version = _text(report, "version", 32)
    last_error = _text(report, "last_error", 2000)
    free_disk = report.get("free_disk")
    if free_disk is not None and (not isinstance(free_disk, int) or free_disk < 0):
        raise ReportInvalid("free_disk: must be a whole number of bytes")
    holdings = _holdings(report.get("holdings"))
    places = {place.pk for place in station.locations.all()}
    kept = []
    references = [item_reference(holding.item) for holding in holdings]
    packs = Pack.objects.filter(
        pk__in=[pk for kind, pk in filter(None, references) if kind == "pack"],
        status=Pack.Status.READY,
        location__in=places,
    )
    by_item = {f"pack-{pack.pk}": pack for pack in packs}
    for holding in holdings:
        pack = by_item.get(holding.item)
        if pack is not None and pack.sha256 == holding.sha256:
            kept.append(
                {
                    "item": holding.item,
                    "location": pack.location_id,
                    "kind": pack.kind,
                    "day": pack.day.isoformat() if pack.day else None,
                    "as_of": pack.as_of.isoformat(),
                }
            )
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(
        version=version,
        last_error=last_error,
        free_disk=free_disk,
        holdings=kept,
        holdings_at=now,
        last_seen_at=now,
        address=address,
    )


def _holdings(value) -> list[Holding]:
    if not isinstance(value, list):
        raise ReportInvalid("holdings: must be a list")
    holdings = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ReportInvalid(f"holdings[{index}]: must be an object")
        item, sha256 = entry.get("item"), entry.get("sha256")
        if not isinstance(item, str) or not isinstance(sha256, str):
            raise ReportInvalid(f"holdings[{index}]: needs item and sha256")
        holdings.append(Holding(item, sha256))
    return holdings


def _text(report: dict, name: str, longest: int) -> str:
    value = report.get(name) or ""
    if not isinstance(value, str):
        raise ReportInvalid(f"{name}: must be text")
    return value[:longest]


_LOGGED = {
    "open": AccessLog.Action.STATION_OPEN,
    "print": AccessLog.Action.STATION_PRINT,
}
_OUTCOMES = {"allowed": AccessLog.Outcome.ALLOWED, "refused": AccessLog.Outcome.FAILED}


def station_log_upload(*, station: Station, entries, address: str | None) -> int:
    """The station's local log of who opened or printed what, into the access
    log. Entries keep their own time and id: one sent twice is kept once.
    Returns how many were new. All or nothing: one malformed entry refuses
    the upload, named by its position."""
    if not isinstance(entries, list):
        raise ReportInvalid("entries: must be a list")
    rows = [
        _log_row(station, index, entry, address) for index, entry in enumerate(entries)
    ]
    packs = Pack.objects.in_bulk([row.pack_id for row in rows if row.pack_id])
    for row in rows:
        pack = packs.get(row.pack_id)
        if pack is not None:
            row.locations = [pack.location_id]
            row.patients = pack.patients
    with transaction.atomic():
        before = AccessLog.objects.filter(station=station).count()
        AccessLog.objects.bulk_create(rows, ignore_conflicts=True)
        return AccessLog.objects.filter(station=station).count() - before


def _log_row(station: Station, index: int, entry, address: str | None) -> AccessLog:
    where = f"entries[{index}]"
    if not isinstance(entry, dict):
        raise ReportInvalid(f"{where}: must be an object")
    try:
        entry_id = uuid.UUID(str(entry.get("id")))
    except ValueError:
        raise ReportInvalid(f"{where}.id: must be a UUID") from None
    at = parse_datetime(str(entry.get("at", "")))
    if at is None or at.tzinfo is None:
        raise ReportInvalid(f"{where}.at: must be a time with its offset")
    action = _LOGGED.get(entry.get("action"))
    outcome = _OUTCOMES.get(entry.get("outcome", "allowed"))
    if action is None or outcome is None:
        raise ReportInvalid(
            f"{where}: action must be open or print, outcome allowed or refused"
        )
    person = entry.get("person")
    if not isinstance(person, str) or not person.strip():
        raise ReportInvalid(f"{where}.person: the name typed on the station")
    item = entry.get("item")
    if not isinstance(item, str):
        raise ReportInvalid(f"{where}.item: must be text")
    row = AccessLog(
        at=at,
        username=person.strip()[:150],
        roles="station",
        action=action,
        target=item[:128],
        address=address,
        outcome=outcome,
        station=station,
        station_entry=entry_id,
        reported_at=timezone.now(),
    )
    reference = item_reference(item)
    row.pack_id = reference[1] if reference and reference[0] == "pack" else None
    return row


def station_download_record(
    *,
    station: Station,
    row: Pack | Printout | None,
    item: str,
    outcome: str,
    address: str | None,
) -> AccessLog:
    """A file a station asked for: in the transaction that reads it."""
    return AccessLog.objects.create(
        username=f"station:{station.name}"[:150],
        roles="station",
        action=AccessLog.Action.STATION_DOWNLOAD,
        target=item[:128],
        locations=[row.location_id] if row and row.location_id else [],
        patients=row.patients if row else [],
        address=address,
        outcome=outcome,
        station=station,
    )


DEMO_STATION = "Demo ward PC"


def station_demo_ensure(*, user) -> str | None:
    """The demo's station, serving every ward and clinic: a fresh code while
    it is not enrolled (a code lasts a day, the demo longer), None once it
    is."""
    places = list(
        Location.objects.filter(kind__in=(Location.Kind.WARD, Location.Kind.CLINIC))
    )
    station = Station.objects.filter(name=DEMO_STATION, revoked_at__isnull=True).first()
    if station is None:
        _station, code = station_create(
            name=DEMO_STATION,
            locations=places,
            notes="Made by `manage.py demo`.",
            user=user,
        )
        return code
    station.locations.set(places)
    return None if station.token_hash else station_new_code(station=station)
