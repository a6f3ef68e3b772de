"""Which mirror rows a summary is made of: the one choice that the
sections (``sections``) read and the digests (``sources``) hash."""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from patients.models import (
    Allergy,
    Appointment,
    Flag,
    LabOrder,
    MedicationAdministration,
    MedicationOrder,
    Observation,
    Problem,
    QuarantinedResource,
    Report,
)

ACTIVE_PROBLEM = ("active", "recurrence", "relapse")
# How far back a last dose is looked for: a weekly drug's too.
DOSE_DAYS = 8
INACTIVE_ALLERGY = ("inactive", "resolved")


def held_allergies(patients: Iterable[str]) -> QuerySet:
    """The allergy records of these patients (source ids) held in quarantine:
    they could not be read, and the pages must say so, not look complete."""
    return QuarantinedResource.objects.filter(
        status=QuarantinedResource.Status.HELD,
        resource_type="AllergyIntolerance",
        patient_source_id__in=list(patients),
    )


def clinical_rows(now: dt.datetime) -> dict[str, QuerySet]:
    """Each patient's rows a pack shows, by the patient's related name."""
    since = now - dt.timedelta(days=settings.PACK_LAB_DAYS)
    return {
        "allergies": Allergy.objects.exclude(clinical_status__in=INACTIVE_ALLERGY)
        .exclude(verification_status__in=("refuted", "entered-in-error"))
        .order_by("substance"),
        "problems": Problem.objects.filter(clinical_status__in=ACTIVE_PROBLEM).order_by(
            "description"
        ),
        "medication_orders": MedicationOrder.objects.filter(
            status=MedicationOrder.Status.ACTIVE
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("drug", "source_id"),
        "medication_administrations": MedicationAdministration.objects.filter(
            given_at__gte=now - dt.timedelta(days=DOSE_DAYS)
        )
        .exclude(status__in=MedicationAdministration.WITHDRAWN)
        .select_related("performer", "order")
        .order_by("-given_at", "-pk"),
        "reports": Report.objects.filter(
            issued_at__gte=now - dt.timedelta(days=settings.PACK_REPORT_DAYS)
        )
        .exclude(status__in=Report.WITHDRAWN + Report.REPLACED)
        .order_by("-issued_at", "title", "pk"),
        "observations": Observation.objects.filter(
            Q(category=Observation.Category.VITAL_SIGNS)
            | Q(category=Observation.Category.LABORATORY, effective_at__gte=since)
            | Q(code__in=Observation.WEIGHT_CODES | Observation.HEIGHT_CODES)
        )
        .exclude(status__in=Observation.WITHDRAWN)
        .order_by("-effective_at", "name"),
        "lab_orders": LabOrder.objects.filter(status__in=LabOrder.PENDING).order_by(
            "ordered_at", "order_number"
        ),
        "flags": Flag.objects.filter(active=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("kind", "text"),
    }


def appointments_to_honour(day: dt.date) -> QuerySet:
    """The appointments of a local day still to honour (booked, or pending
    the participants' answer): not those fulfilled, arrived, cancelled,
    missed or entered in error."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return Appointment.objects.filter(
        starts_at__gte=start,
        starts_at__lt=start + dt.timedelta(days=1),
        status__in=Appointment.TO_HONOUR,
    )
