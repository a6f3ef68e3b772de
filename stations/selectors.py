"""Reads of ward stations: what each holds, and each ward's best copy."""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from stations.models import Station


def stations_in_service() -> QuerySet[Station]:
    """Enrolled and not revoked: the stations that count for readiness."""
    return Station.objects.filter(revoked_at__isnull=True, token_hash__isnull=False)


def station_silent(station: Station, now: dt.datetime) -> bool:
    """Not heard from for STATION_SILENT_MINUTES."""
    limit = now - dt.timedelta(minutes=settings.STATION_SILENT_MINUTES)
    return station.last_seen_at is None or station.last_seen_at < limit


@dataclass
class Copy:
    """The best copy any station holds of one ward's (or clinic list's) pack."""

    item: str
    as_of: dt.datetime
    stations: list[str] = field(default_factory=list)  # names, that hold it


@dataclass
class PlaceCopies:
    """One ward or clinic as the stations see it."""

    stations: list[str]  # names of the stations that serve it
    best: Copy | None  # the most recent copy held, by its data's as-of time
    items: set[str]  # every item some station holds of it

    def holds(self, item: str) -> bool:
        return item in self.items


def station_copies() -> dict[tuple[int, str, str | None], PlaceCopies]:
    """Per (place, kind, day), what the stations in service hold of it: the
    ward pack of a ward, each day's list of a clinic. A place that stations
    serve but hold nothing of still has an entry, with no best copy."""
    found: dict[tuple[int, str, str | None], PlaceCopies] = {}
    stations = stations_in_service().prefetch_related("locations")
    for station in stations:
        for place in station.locations.all():
            kind = "ward" if place.kind == "ward" else "clinic"
            key = (place.pk, kind, None)
            found.setdefault(key, PlaceCopies([], None, set())).stations.append(
                station.name
            )
        for holding in station.holdings:
            key = (holding["location"], holding["kind"], holding["day"])
            copies = found.setdefault(key, PlaceCopies([], None, set()))
            copies.items.add(holding["item"])
            as_of = parse_datetime(holding["as_of"])
            if copies.best is None or as_of > copies.best.as_of:
                copies.best = Copy(holding["item"], as_of, [station.name])
            elif holding["item"] == copies.best.item:
                copies.best.stations.append(station.name)
    return found


def copies_of(
    found: dict[tuple[int, str, str | None], PlaceCopies],
    *,
    place: int,
    kind: str,
    day: dt.date | None,
) -> PlaceCopies:
    """A place's copies; a clinic's stations serve each of its days."""
    served = found.get((place, kind, None))
    held = found.get((place, kind, day.isoformat() if day else None))
    stations = served.stations if served else []
    if held is None:
        return PlaceCopies(stations, None, set())
    return PlaceCopies(stations, held.best, held.items)


def copy_level(copies: PlaceCopies, now: dt.datetime) -> str:
    """Red when no station holds a copy, or the best is older than
    STATION_COPY_MAX_MINUTES; else fresh."""
    limit = dt.timedelta(minutes=settings.STATION_COPY_MAX_MINUTES)
    if copies.best is None or copies.best.as_of < now - limit:
        return "red"
    return "fresh"


def silent_stations(now: dt.datetime | None = None) -> list[Station]:
    now = now or timezone.now()
    return [s for s in stations_in_service() if station_silent(s, now)]
