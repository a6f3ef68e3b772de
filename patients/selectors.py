"""Reads of the mirror that pages share."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, QuerySet

from patients.models import Encounter, FeedState, Location


@dataclass(frozen=True)
class WardCount:
    ward: Location
    patients: int
    beds: int


def ward_counts() -> list[WardCount]:
    """Every ward with its patients on the census and its beds (three queries)."""
    patients = _per_ward(Encounter.objects.filter(status__in=Encounter.ON_CENSUS))
    beds = _per_ward(Location.objects.filter(kind=Location.Kind.BED))
    return [
        WardCount(ward, patients.get(ward.pk, 0), beds.get(ward.pk, 0))
        for ward in Location.objects.filter(kind=Location.Kind.WARD).order_by("name")
    ]


def _per_ward(rows: QuerySet) -> dict[int, int]:
    return dict(
        rows.filter(ward__isnull=False)
        .order_by()
        .values_list("ward")
        .annotate(number=Count("pk"))
    )


def mirror_as_of() -> dt.datetime | None:
    """When the mirror last received data: the newest successful sync."""
    return FeedState.objects.aggregate(newest=Max("last_success_at"))["newest"]


def feed_states() -> QuerySet[FeedState]:
    return FeedState.objects.order_by("name")
