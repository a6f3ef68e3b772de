"""Reads of packs for the pages."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from patients.models import Location
from printouts.models import Pack, PackPrint, Printout, ReportPrinting


@dataclass
class PackRow:
    """One line of the clerk's page: a ward, or a clinic on a day."""

    location: Location
    kind: str
    day: dt.date | None
    ready: Pack | None
    pending: Pack | None
    failed: Pack | None
    # A ward's last print from the clerk's page, and what the ready pack
    # changes of its binder (None: it cannot tell).
    printed: PackPrint | None = None
    changes: "BinderChanges | None" = None


def paper_language(*, location: Location | None) -> str:
    """The language of this ward's or clinic's paper: the one IT set
    (``WardLanguage``; read many with ``select_related("ward_language")``),
    else the hospital's."""
    chosen = getattr(location, "ward_language", None)
    return _known(chosen.language if chosen else None)


def reports_in_full(*, wards: Iterable[int] | None = None) -> set[int]:
    """The wards (of ``wards``; None: all) whose packs print reports in full
    (``ReportPrinting``)."""
    chosen = ReportPrinting.objects.filter(full_text=True)
    if wards is not None:
        chosen = chosen.filter(location__in=list(wards))
    return set(chosen.values_list("location_id", flat=True))


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
    _binders(rows, locations)
    return rows


def _binders(rows: list[PackRow], locations: QuerySet[Location]) -> None:
    """Each ward row's last print and what its ready pack changes of it."""
    printed = pack_prints_last(locations=locations.filter(kind=Location.Kind.WARD))
    for row in rows:
        row.printed = printed.get(row.location.pk)
        if row.printed and row.printed.index and row.ready and row.ready.index:
            row.changes = binder_changes(index=row.ready.index, since=row.printed.index)


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


@dataclass
class BinderChange:
    """One patient whose pages a print of changes replaces (or removes)."""

    id: int
    bed: str
    name: str
    mrn: str
    # What changed: "new", "left" or facets of ``patients.summary.FACETS``
    # ("details"; "layout" when only the way it is printed did).
    reasons: list[str]
    # Its pages: in the new pack; for a patient who left, in the print before.
    pages: tuple[int, int]
    # For a patient changed since the print before: the bed and the pages
    # there, which the binder files and must lose.
    before: tuple[str, tuple[int, int]] | None = None


@dataclass
class BinderChanges:
    census: tuple[int, int] | None  # the census's pages, when it changed
    changed: list[BinderChange]  # new and changed patients, in pack order
    left: list[BinderChange]  # patients of the print before, gone since

    def __bool__(self) -> bool:
        return bool(self.census or self.changed or self.left)

    @property
    def beds(self) -> int:
        return len(self.changed) + len(self.left)


def binder_changes(*, index: dict, since: dict) -> BinderChanges:
    """What a ward's binder, printed from the pack parts ``since`` (a
    ``Pack.index``), lacks of the pack parts ``index``: patient by
    patient, by the hash of what their pages show."""
    before = {entry["id"]: entry for entry in since.get("patients", [])}
    now = {entry["id"] for entry in index.get("patients", [])}
    changed = []
    for entry in index.get("patients", []):
        old = before.get(entry["id"])
        if old is not None and old["digest"] == entry["digest"]:
            continue
        if old is None:
            reasons = ["new"]
        else:
            reasons = [
                facet
                for facet, value in entry["facets"].items()
                if old["facets"].get(facet) != value
            ] or ["layout"]
        changed.append(_change(entry, reasons, old))
    left = [_change(entry, ["left"]) for pid, entry in before.items() if pid not in now]
    census = index.get("census")
    census_changed = census and census["digest"] != since.get("census", {}).get(
        "digest"
    )
    return BinderChanges(
        census=tuple(census["pages"]) if census_changed else None,
        changed=changed,
        left=left,
    )


def _change(entry: dict, reasons: list[str], old: dict | None = None) -> BinderChange:
    first, last = entry["pages"]
    before = (old["bed"], tuple(old["pages"])) if old else None
    return BinderChange(
        entry["id"],
        entry["bed"],
        entry["name"],
        entry["mrn"],
        reasons,
        (first, last),
        before,
    )


def pack_print_last(*, location: Location) -> PackPrint | None:
    """The ward's last print from the clerk's page: what its binder holds."""
    return (
        PackPrint.objects.filter(location=location)
        .select_related("printed_by")
        .order_by("-printed_at", "-pk")
        .first()
    )


def pack_print_before(*, printed: PackPrint) -> PackPrint | None:
    """The ward's print before ``printed``."""
    return (
        PackPrint.objects.filter(location=printed.location_id)
        .filter(
            Q(printed_at__lt=printed.printed_at)
            | Q(printed_at=printed.printed_at, pk__lt=printed.pk)
        )
        .select_related("printed_by")
        .order_by("-printed_at", "-pk")
        .first()
    )


def pack_prints_last(*, locations: QuerySet[Location]) -> dict[int, PackPrint]:
    """Per ward of ``locations``, its last print (two queries)."""
    newest = (
        PackPrint.objects.filter(location=OuterRef("location"))
        .order_by("-printed_at", "-pk")
        .values("pk")[:1]
    )
    prints = PackPrint.objects.filter(
        location__in=locations, pk=Subquery(newest)
    ).select_related("printed_by")
    return {row.location_id: row for row in prints}
