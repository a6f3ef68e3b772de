"""Reads of packs for the pages."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
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


def paper_language(*, location: Location | None) -> str:
    """The language of this ward's or clinic's paper: the one IT set
    (``WardLanguage``; read many with ``select_related("ward_language")``),
    else the hospital's."""
    chosen = getattr(location, "ward_language", None)
    return _known(chosen.language if chosen else None)


def paper_languages(*, locations: QuerySet[Location]) -> list[str]:
    """The languages the paper of these places is printed in, in the order
    of LANGUAGES (one query)."""
    used = {
        _known(language)
        for language in locations.values_list(
            "ward_language__language", flat=True
        ).distinct()
    }
    return [code for code, _name in settings.LANGUAGES if code in used]


def _known(language: str | None) -> str:
    """A language the site speaks; else (none set, or one taken off
    LANGUAGES since) the hospital's."""
    if language in dict(settings.LANGUAGES):
        return language
    return settings.LANGUAGE_CODE


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


def printouts_kept(
    *, locations: QuerySet[Location], languages: list[str]
) -> list[Printout]:
    """What ward stations keep besides packs, for these places: the newest
    label sheets of each ward (in the ward's language, or the one before
    while the new ones are made), the labels of each block of downtime
    numbers, and the newest of each blank form in each of ``languages``."""
    rows = Printout.objects.filter(
        Q(location__in=locations)
        | Q(kind=Printout.Kind.FORM, location=None, language__in=languages)
    ).order_by("kind", "location", "key", "-generated_at", "-pk")
    newest: dict[tuple, Printout] = {}
    for printout in rows.select_related("location"):
        slot = (printout.kind, printout.location_id, printout.key)
        if printout.kind == Printout.Kind.FORM:
            slot += (printout.language,)
        newest.setdefault(slot, printout)
    return list(newest.values())
