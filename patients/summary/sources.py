"""Per ward or clinic, a hash of the mirror rows its summary is made of:
what tells, without reading the content, whether a pack would change."""

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable

from django.utils import timezone

from patients.models import Encounter, Location
from patients.summary.clinical import RECENT_DOSES
from patients.summary.rows import appointments_to_honour, clinical_rows, held_allergies


def ward_sources(
    *, now: dt.datetime, wards: Iterable[int] | None = None
) -> dict[int, str]:
    """Per ward, a hash of the mirror rows its pack is made from: their ids
    and content hashes, chosen exactly as ``ward_content`` chooses them.

    When it is unchanged, so is the pack's content, and nothing needs reading
    or rendering. It costs one query per table for every ward at once, where
    reading the content costs a ward's every row. Rows that appear, change or
    disappear (a discharge, a deleted allergy) all change it.
    """
    places = Location.objects.filter(kind=Location.Kind.WARD)
    stays = Encounter.objects.on_census()
    if wards is not None:
        places = places.filter(pk__in=list(wards))
        stays = stays.filter(ward__in=list(wards))
    rows = {
        pk: [f"ward|{digest}"] for pk, digest in places.values_list("pk", "source_hash")
    }
    wards_of = defaultdict(list)  # a patient on two census encounters: both
    source_ids = {}
    for ward, patient, source_id, *hashes in stays.filter(
        ward__in=list(rows)
    ).values_list(
        "ward_id",
        "patient_id",
        "patient__source_id",
        "pk",
        "source_hash",
        "patient__source_hash",
        "bed__source_hash",
        "room__source_hash",
        "attending__source_hash",
    ):
        wards_of[patient].append(ward)
        source_ids[source_id] = patient
        rows[ward].append(_row("stay", patient, *hashes))
    held = held_allergies(source_ids).values_list("patient_source_id", "pk")
    for source_id, pk in held:
        patient = source_ids[source_id]
        for ward in wards_of[patient]:
            rows[ward].append(_row("held allergy", patient, pk))
    patients = stays.filter(ward__in=list(rows)).values("patient_id")
    for name, chosen in clinical_rows(now).items():
        fields = ["patient_id", "pk", "source_hash"]
        if name == "medication_orders":
            fields.append("starts_at")  # "from when" until it starts
        if name == "medication_administrations":
            # Who gave it is printed; each dose is listed for 24 hours.
            fields += ["performer__source_hash", "given_at"]
        for patient, *values in chosen.filter(patient__in=patients).values_list(
            *fields
        ):
            if name == "medication_orders":
                values[-1] = bool(values[-1] and values[-1] > now)
            if name == "medication_administrations":
                values[-1] = values[-1] > now - RECENT_DOSES
            for ward in wards_of[patient]:
                rows[ward].append(_row(name, patient, *values))
    today = timezone.localdate(now).isoformat()  # ages change with the day
    return {ward: _hash([today, *sorted(lines)]) for ward, lines in rows.items()}


def clinic_sources(
    *, day: dt.date, clinics: Iterable[int] | None = None
) -> dict[int, str]:
    """Per clinic, a hash of the rows its call list of ``day`` is made from,
    as ``ward_sources`` does for wards."""
    places = Location.objects.filter(kind=Location.Kind.CLINIC)
    if clinics is not None:
        places = places.filter(pk__in=list(clinics))
    rows = {pk: [f"clinic|{h}"] for pk, h in places.values_list("pk", "source_hash")}
    for clinic, *hashes in (
        appointments_to_honour(day)
        .filter(clinic__in=list(rows))
        .values_list(
            "clinic_id",
            "pk",
            "source_hash",
            "patient__source_hash",
            "clinician__source_hash",
        )
    ):
        rows[clinic].append(_row("appointment", *hashes))
    return {clinic: _hash(sorted(lines)) for clinic, lines in rows.items()}


def _row(*values) -> str:
    return "|".join(str(value) for value in values)


def _hash(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
