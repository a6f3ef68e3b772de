"""Reads of packs for the pages."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from patients.models import Location
from printouts.models import Pack, Printout


@dataclass
class PackRow:
    """One line of the clerk's page: a ward, or a clinic on a day."""

    location: Location
    kind: str
    day: dt.date | None
    ready: Pack | None
    pending: Pack | None
    failed: Pack | None


def pack_rows(*, locations: QuerySet[Location]) -> list[PackRow]:
    """Each ward and each clinic (today, tomorrow) with its newest ready
    pack, a render under way and a failure newer than the ready pack."""
    today = timezone.localdate()
    places = list(locations.order_by("kind", "name"))
    packs = Pack.objects.filter(location__in=places).order_by("-requested_at", "-pk")
    newest: dict[tuple, dict[str, Pack]] = {}
    for pack in packs.filter(
        requested_at__gte=timezone.now() - dt.timedelta(days=2)
    ) | packs.filter(status=Pack.Status.READY):
        slot = newest.setdefault((pack.location_id, pack.kind, pack.day), {})
        slot.setdefault(pack.status, pack)
    rows = []
    for place in places:
        if place.kind == Location.Kind.WARD:
            targets = [(Pack.Kind.WARD, None)]
        else:
            targets = [(Pack.Kind.CLINIC, today + dt.timedelta(days=n)) for n in (0, 1)]
        for kind, day in targets:
            found = newest.get((place.pk, kind, day), {})
            ready = found.get(Pack.Status.READY)
            pending = found.get(Pack.Status.RENDERING) or found.get(Pack.Status.QUEUED)
            failed = found.get(Pack.Status.FAILED)
            if failed and ready and failed.requested_at < ready.requested_at:
                failed = None
            rows.append(PackRow(place, kind, day, ready, pending, failed))
    return rows


def newest_ready(*, locations: QuerySet[Location]) -> list[Pack]:
    return [row.ready for row in pack_rows(locations=locations) if row.ready]


def printouts_kept(*, locations: QuerySet[Location], language: str) -> list[Printout]:
    """What ward stations keep besides packs, for these places: the newest
    label sheets of each ward, the labels of each block of downtime numbers,
    and the newest of each blank form in ``language``."""
    rows = Printout.objects.filter(
        Q(location__in=locations) | Q(kind=Printout.Kind.FORM, location=None),
        language=language,
    ).order_by("kind", "location", "key", "-generated_at", "-pk")
    newest: dict[tuple, Printout] = {}
    for printout in rows.select_related("location"):
        newest.setdefault((printout.kind, printout.location_id, printout.key), printout)
    return list(newest.values())
