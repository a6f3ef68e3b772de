"""Reads of ward stations: what each holds, and each ward's best copy."""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from printouts.models import Pack, Printout
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


def item_reference(item: str) -> tuple[str, int] | None:
    """("pack", 12) for "pack-12"; None for anything else."""
    kind, _sep, number = item.partition("-")
    return (kind, int(number)) if number.isdigit() else None


def station_file(*, station: Station, item: str) -> Pack | Printout | None:
    """The signed file ``item`` names, if it is one of the station's wards'
    (a blank form is everyone's): every station download is scoped here."""
    reference = item_reference(item)
    if reference is None:
        return None
    kind, pk = reference
    places = station.locations.all()
    if kind == "pack":
        found = Pack.objects.filter(
            pk=pk, status=Pack.Status.READY, location__in=places
        )
    elif kind in Printout.Kind.values:
        found = Printout.objects.filter(pk=pk, kind=kind).filter(
            Q(location__in=places) | Q(kind=Printout.Kind.FORM, location=None)
        )
    else:
        return None
    return found.exclude(signature="").first()


def station_holdings(*, station: Station) -> tuple[list, list[dict]]:
    """Its wards and clinics (wards first), and what it reported holding of
    them, by ward, with each copy's as-of time."""
    places = sorted(
        station.locations.all(), key=lambda place: (place.kind != "ward", place.name)
    )
    names = {place.pk: place.name for place in places}
    holdings = [
        {
            **holding,
            "name": names.get(holding["location"], "?"),
            "as_of": parse_datetime(holding["as_of"]),
        }
        for holding in station.holdings
    ]
    holdings.sort(key=lambda h: (h["kind"] != "ward", h["name"], h["day"] or ""))
    return places, holdings
