"""Reads of the mirror that pages share."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.functions import Left
from django.utils import timezone

from patients.ingest.hl7v2.message import Message, Problem
from patients.ingest.hl7v2.mirror import mrn
from patients.models import (
    Encounter,
    FeedState,
    InboundMessage,
    Location,
    Observation,
    Patient,
    QuarantinedResource,
    Report,
)


@dataclass(frozen=True)
class WardCount:
    ward: Location
    patients: int
    beds: int


def ward_counts() -> list[WardCount]:
    """Every ward with its patients on the census and its beds (three queries)."""
    patients = _per_ward(Encounter.objects.on_census())
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


def freshness_level(as_of: dt.datetime | None, now: dt.datetime) -> str:
    """ "fresh", "amber" or "red": how old data of ``as_of`` is by ``now``
    (``FRESHNESS_AMBER_MINUTES``, ``FRESHNESS_RED_MINUTES``); never: red."""
    if as_of is None:
        return "red"
    minutes = (now - as_of).total_seconds() / 60
    if minutes >= settings.FRESHNESS_RED_MINUTES:
        return "red"
    return "amber" if minutes >= settings.FRESHNESS_AMBER_MINUTES else "fresh"


def lagging_feeds(as_of: dt.datetime) -> list[tuple[str, dt.datetime | None]]:
    """Feeds whose last success is well before ``as_of`` (the newest), or
    that never succeeded: what they bring may be older than "data as of"
    says, and paper must say so. (name, last success), oldest first."""
    limit = as_of - dt.timedelta(minutes=settings.FRESHNESS_AMBER_MINUTES)
    lagging = FeedState.objects.filter(
        Q(last_success_at__lt=limit)
        | Q(last_success_at__isnull=True, last_attempt_at__isnull=False)
    ).order_by(F("last_success_at").asc(nulls_first=True), "name")
    return list(lagging.values_list("name", "last_success_at"))


def vital_trends(
    *, patient_id: int, values: int, days: int = 7
) -> dict[str, list[Observation]]:
    """The last ``values`` values of each vital sign of the last ``days``
    days, newest first, by sign."""
    trends: dict[str, list[Observation]] = {}
    recent = Observation.objects.filter(
        patient_id=patient_id,
        category=Observation.Category.VITAL_SIGNS,
        effective_at__gte=timezone.now() - dt.timedelta(days=days),
    )
    recent = recent.exclude(status__in=Observation.WITHDRAWN).order_by("-effective_at")
    for observation in recent[:200]:
        signs = trends.setdefault(observation.name, [])
        if len(signs) < values:
            signs.append(observation)
    return trends


PREVIEW = 300  # characters of a report's text shown in the list


def patient_reports(*, patient_id: int, limit: int = 100) -> QuerySet[Report]:
    """A patient's reports and documents, newest first (those without a date
    last): all but those the EHR withdrew. The text is read on its own page
    (``report``)."""
    return (
        Report.objects.filter(patient_id=patient_id)
        .exclude(status__in=Report.WITHDRAWN)
        .annotate(start=Left("text", PREVIEW))
        .defer("text")
        .order_by(F("issued_at").desc(nulls_last=True), "-pk")[:limit]
    )


def feed_states() -> QuerySet[FeedState]:
    return FeedState.objects.order_by("name")


def inbound_message_patients(*, message: InboundMessage) -> list[int]:
    """The mirror's patients (internal ids) an HL7 message names in its PID
    segments, read as the feed reads them; none if it cannot be read."""
    try:
        parsed = Message(bytes(message.raw))
        numbers = [mrn(parsed, seq) for seq in parsed.segments("PID")]
    except Problem:
        return []
    if not numbers:
        return []
    named = Q()
    for system, number in numbers:
        named |= Q(mrn_system=system, mrn=number)
    return sorted(Patient.objects.filter(named).values_list("pk", flat=True))


def quarantined_resource_patients(*, resource: QuarantinedResource) -> list[int]:
    """The mirror's patients (internal ids) a held FHIR resource is about:
    the one it names, or the one it is."""
    source_ids = {resource.patient_source_id} - {""}
    if resource.resource_type == "Patient" and resource.resource_id:
        source_ids.add(resource.resource_id)
    return sorted(
        Patient.objects.filter(source_id__in=source_ids).values_list("pk", flat=True)
    )
