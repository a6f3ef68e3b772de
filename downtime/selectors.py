import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import AccessLog, Role
from accounts.selectors import user_locations, user_roles
from downtime.models import (
    CensusEntry,
    Downtime,
    DowntimeNumber,
    Heartbeat,
    WorklistItem,
)
from patients.models import Encounter, FeedState, Location, Patient
from patients.selectors import freshness_level, mirror_as_of
from printouts.marking import Marking
from printouts.models import Pack
from printouts.selectors import PackRow, pack_rows
from stations.selectors import (
    PlaceCopies,
    copies_of,
    copy_level,
    silent_stations,
    station_copies,
)


def heartbeat_age() -> dt.timedelta | None:
    """How long ago a worker last ran the scheduled heartbeat; None if never."""
    beat_at = (
        Heartbeat.objects.filter(name=Heartbeat.SCHEDULER)
        .values_list("beat_at", flat=True)
        .first()
    )
    return None if beat_at is None else timezone.now() - beat_at


def downtime_active() -> Downtime | None:
    """The downtime in progress (in downtime or in recovery), if any."""
    return Downtime.objects.filter(state__in=Downtime.ACTIVE).first()


def downtime_marking(downtime: Downtime | None) -> Marking | None:
    """What packs made during ``downtime`` say of it on paper: they are
    marked in the downtime proper only; in recovery the EHR is back and the
    packs are ordinary."""
    if downtime is None or downtime.state != Downtime.State.DOWNTIME:
        return None
    return Marking(drill=downtime.drill, frozen_at=downtime.frozen_at)


def downtime_marking_now() -> Marking | None:
    """The marking of a pack made now: what ``printouts`` calls
    (registered in ``DowntimeConfig.ready``)."""
    return downtime_marking(downtime_active())


@dataclass
class FinalSet:
    """How far a downtime's final set of packs has got."""

    packs: list  # the newest pack of each ward and clinic list, in page order
    counts: dict[str, int]  # status: how many

    @property
    def complete(self) -> bool:
        return bool(self.packs) and self.counts.get(Pack.Status.READY, 0) == len(
            self.packs
        )

    @property
    def finished_at(self) -> dt.datetime | None:
        """When the last of them was ready, once all are."""
        if not self.complete:
            return None
        return max(pack.generated_at for pack in self.packs)


def downtime_final_set(*, downtime: Downtime) -> FinalSet:
    newest = {}
    for pack in (
        Pack.objects.filter(downtime=downtime)
        .select_related("location")
        .order_by("kind", "title", "day", "-pk")
    ):
        newest.setdefault((pack.location_id, pack.kind, pack.day), pack)
    packs = list(newest.values())
    counts: dict[str, int] = {}
    for pack in packs:
        counts[pack.status] = counts.get(pack.status, 0) + 1
    return FinalSet(packs, counts)


def downtime_feeds_isolated() -> bool:
    """A downtime in progress isolates the inbound feeds (a cyberattack):
    nothing the EHR sends may enter the mirror until it closes."""
    return Downtime.objects.filter(
        state__in=Downtime.ACTIVE, feeds_isolated=True
    ).exists()


@dataclass
class ReadyRow:
    """One ward (or a clinic's list for a day): could it work on paper now,
    and with the server gone?"""

    row: PackRow
    pack_level: str  # "fresh", "amber" or "red" (none, or too old)
    last_download: dt.datetime | None
    download_level: str
    copies: PlaceCopies  # what the ward stations hold of it
    station_level: str  # "red": a ward no station holds a recent copy of

    @property
    def level(self) -> str:
        """The row's verdict: red, not ready (no pack recent enough, here or
        on a ward station); amber, ready with a warning (a pack getting
        old, none downloaded to print lately); fresh, ready."""
        levels = (self.pack_level, self.download_level, self.station_level)
        return "red" if "red" in levels else "amber" if "amber" in levels else "fresh"

    @property
    def station_holds_newest(self) -> bool:
        return bool(self.row.ready) and self.copies.holds(f"pack-{self.row.ready.pk}")


@dataclass
class Readiness:
    checked_at: dt.datetime
    mirror_as_of: dt.datetime | None
    mirror_level: str
    feeds: list  # FeedState rows, oldest success first
    rows: list[ReadyRow]
    silent_stations: list  # Station rows not heard from lately

    @property
    def not_printed(self) -> list[str]:
        """The places nobody downloaded a pack of lately, by name."""
        return list(
            dict.fromkeys(
                row.row.location.name
                for row in self.rows
                if row.download_level != "fresh"
            )
        )

    @property
    def ready(self) -> bool:
        """Every ward has a pack recent enough to work from, on the server
        and on a ward station."""
        return bool(self.rows) and all(row.level != "red" for row in self.rows)

    @property
    def without_station_copy(self) -> list[str]:
        """The wards no station holds a recent copy of, by name."""
        return [r.row.location.name for r in self.rows if r.station_level == "red"]


def readiness(*, now: dt.datetime | None = None) -> Readiness:
    """The daily question, "are we ready if it goes dark now?": how old the
    mirror's data is, and for each ward its newest pack and when someone
    last downloaded one to print, each against its threshold."""
    now = now or timezone.now()
    places = Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    )
    rows = pack_rows(locations=places)
    downloads = _last_downloads(now, {row.location.pk for row in rows})
    limit = dt.timedelta(days=settings.READINESS_DOWNLOAD_DAYS)
    held = station_copies()
    ready_rows = []
    for row in rows:
        last = downloads.get(row.location.pk)
        copies = copies_of(held, place=row.location.pk, kind=row.kind, day=row.day)
        ready_rows.append(
            ReadyRow(
                row=row,
                pack_level=freshness_level(row.ready.as_of if row.ready else None, now),
                last_download=last,
                # A warning, not a refusal: the pack is there to print.
                download_level="amber"
                if last is None or last < now - limit
                else "fresh",
                copies=copies,
                # A ward must be on a station; a clinic's list is shown, not
                # required.
                station_level=copy_level(copies, now)
                if row.kind == Pack.Kind.WARD
                else "fresh",
            )
        )
    as_of = mirror_as_of()
    return Readiness(
        checked_at=now,
        mirror_as_of=as_of,
        mirror_level=freshness_level(as_of, now),
        feeds=list(
            FeedState.objects.order_by(
                F("last_success_at").asc(nulls_first=True), "name"
            )
        ),
        rows=ready_rows,
        silent_stations=silent_stations(now),
    )


def _last_downloads(now: dt.datetime, places: set[int]) -> dict[int, dt.datetime]:
    """When a pack of each place was last downloaded (to print), looked for
    in the access log over twice the threshold: older is as bad as never."""
    since = now - 2 * dt.timedelta(days=settings.READINESS_DOWNLOAD_DAYS)
    found: dict[int, dt.datetime] = {}
    entries = AccessLog.objects.filter(
        action__in=(
            AccessLog.Action.DOWNLOAD,
            AccessLog.Action.DOWNLOAD_ALL,
            AccessLog.Action.STATION_PRINT,
        ),
        outcome=AccessLog.Outcome.ALLOWED,
        at__gte=since,
    ).order_by("-at")
    for at, locations in entries.values_list("at", "locations").iterator():
        for place in set(locations) & places - found.keys():
            found[place] = at
        if len(found) == len(places):
            break
    return found


def worklist_items(*, user, downtime: Downtime) -> QuerySet[WorklistItem]:
    """The downtime's worklist items this user may see: those of the user's
    wards (``user_locations``); IT also those of no ward (an outpatient's
    lab order)."""
    items = WorklistItem.objects.filter(downtime=downtime)
    if Role.IT in user_roles(user=user):
        return items
    return items.filter(location__in=user_locations(user=user))


def downtime_items_left(*, downtime: Downtime) -> int:
    """How many items of the downtime's recovery worklists are not done."""
    return WorklistItem.objects.filter(downtime=downtime, done_at__isnull=True).count()


# The census journal's pages


def journal_numbers_unused(*, ward: Location) -> QuerySet[DowntimeNumber]:
    """The downtime numbers of the ward's blocks that no one was given yet,
    in the order of the label sheets."""
    return DowntimeNumber.objects.filter(
        block__location=ward, used_at__isnull=True, census_entries__isnull=True
    ).order_by("sequence")


def journal_ward_patients(*, ward: Location) -> QuerySet[Patient]:
    """The patients on the ward's census now, the journal's included, by
    name: whom a transfer or a discharge may be about."""
    return Patient.objects.filter(
        pk__in=Encounter.objects.on_census().filter(ward=ward).values("patient")
    ).order_by("family", "given", "pk")


def journal_patient_by_mrn(*, mrn: str) -> list[Patient]:
    """The patients of the mirror with this MRN (or downtime number): one,
    none, or several of different assigning authorities."""
    return list(Patient.objects.filter(mrn__iexact=mrn.strip())[:2])


def journal_downtimes(*, ward: Location) -> QuerySet[Downtime]:
    """The downtimes with census journal entries about the ward, newest
    first."""
    entries = CensusEntry.objects.filter(
        Q(ward=ward) | Q(from_ward=ward), downtime=OuterRef("pk")
    )
    return Downtime.objects.filter(Exists(entries)).order_by("-declared_at")
