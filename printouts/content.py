"""What a ward pack shows, read from the mirror as plain values.

Each patient's section is a dict of exactly what its pages print, in a form
that serialises to JSON: its hash is the key of the rendered fragment, so
anything that changes on every render (the time, the pack's page numbers)
stays out of it and is stamped on the merged pack instead.
"""

import datetime as dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import pgettext

from patients.models import (
    Allergy,
    Appointment,
    Encounter,
    Flag,
    LabOrder,
    Location,
    MedicationOrder,
    Observation,
    Problem,
    QuarantinedResource,
)
from patients.names import name_alerts
from patients.units import (
    display_dose,
    display_interval,
    display_max_dose,
    display_text,
    display_unit,
)

# Hours of the day at which a dose falls when the EHR gives only a frequency
# (the ward's standard administration times).
STANDARD_HOURS = {
    1: (8,),
    2: (8, 20),
    3: (8, 14, 20),
    4: (6, 12, 18, 22),
    5: (6, 10, 14, 18, 22),
    6: (2, 6, 10, 14, 18, 22),
}
WHEN_HOURS = {
    "MORN": 8,
    "ACM": 7,
    "CM": 8,
    "PCM": 9,
    "NOON": 12,
    "ACD": 11,
    "CD": 12,
    "PCD": 13,
    "AFT": 15,
    "EVE": 18,
    "ACV": 17,
    "CV": 18,
    "PCV": 19,
    "NIGHT": 22,
    "HS": 22,
}
# SNOMED CT: no known allergy / drug / food / environmental allergy.
NO_KNOWN_ALLERGY_CODES = {"716186003", "409137002", "428607008", "429625007"}
# A code status that means full resuscitation; any other (DNR, no
# intubation, no ICU, or a text this does not recognise) is emphasised.
FULL_CODE = re.compile(
    r"\s*(full\s+(code|resuscitation)|for\s+(full\s+)?resuscitation"
    r"|r[ée]animation\s+compl[èe]te|code\s+complet|volledige\s+reanimatie)\b",
    re.IGNORECASE,
)
FULL_CODE_CODES = {"304252001"}  # SNOMED CT: for cardiopulmonary resuscitation
ACTIVE_PROBLEM = ("active", "recurrence", "relapse")
INACTIVE_ALLERGY = ("inactive", "resolved")
PATIENT_FIELDS = (
    "source_id",
    "family",
    "given",
    "prefix",
    "mrn",
    "birth_date",
    "sex",
    "phone",
    "address",
    "contact_name",
    "contact_relationship",
    "contact_phone",
)
# What a census row reads (``_summary``): the stay's fields, related rows, and
# their fields. Fewer columns, fewer model fields to fill: the census is a
# page nurses open all day.
CENSUS_FIELDS = (
    "diet",
    "marks",
    "admitted_at",
    "reason",
    *(f"patient__{name}" for name in PATIENT_FIELDS),
    "ward",
    "bed__name",
    "room__name",
    *(f"attending__{name}" for name in ("prefix", "given", "family")),
)
CENSUS_ROWS = {
    "allergies": (
        "patient",
        "substance",
        "substance_code",
        "reactions",
        "severity",
        "criticality",
        "category",
        "verification_status",
    ),
    "flags": ("patient", "kind", "text", "code"),
    "lab_orders": (
        "patient",
        "order_number",
        "test",
        "priority",
        "status",
        "ordered_at",
        "specimen",
    ),
}


@dataclass
class WardContent:
    ward: dict
    census: list[dict]
    patients: list[dict]


def ward_content(*, ward: Location, now: dt.datetime | None = None) -> WardContent:
    """The ward's census and every current patient's section, by bed."""
    now = now or timezone.now()
    patients = stay_sections(
        stays=Encounter.objects.on_census().filter(ward=ward),
        now=now,
    )
    return WardContent(
        ward={"id": ward.pk, "name": ward.name, "phone": ward.phone},
        census=[census_row(section) for section in patients],
        patients=patients,
    )


def stay_sections(
    *, stays: QuerySet[Encounter], now: dt.datetime, census_only: bool = False
) -> list[dict]:
    """What paper (and the nurses' pages) show of each patient of these
    census encounters, by bed: a fixed number of queries however many.
    ``census_only`` reads only what a census row shows (``census_row``)."""
    rows = _clinical_rows(now)
    if census_only:  # and of those rows, only the fields a census reads
        rows = {name: rows[name].only(*fields) for name, fields in CENSUS_ROWS.items()}
    stays = stays.select_related("patient", "bed", "room", "attending")
    if census_only:
        stays = stays.only(*CENSUS_FIELDS)
    stays = list(stays)
    stays.sort(key=lambda stay: _bed_order(stay.bed.name if stay.bed else ""))
    patients = [stay.patient_id for stay in stays]
    # Plain queries grouped here rather than prefetch_related: a third of
    # the census's time went to the prefetch machinery (bench/pages.py).
    related = {name: defaultdict(list) for name in rows}
    for name, chosen in rows.items():
        for row in chosen.filter(patient__in=patients):
            related[name][row.patient_id].append(row)
    held = Counter(
        _held_allergies(stay.patient.source_id for stay in stays).values_list(
            "patient_source_id", flat=True
        )
    )
    alerts = _name_alerts(stays)
    section = _summary if census_only else _patient_section
    return [
        section(stay, now, {name: of[stay.patient_id] for name, of in related.items()})
        | {
            "allergies_held": held[stay.patient.source_id],
            "name_alert": alerts.get((stay.ward_id, stay.patient_id), []),
        }
        for stay in stays
    ]


def _name_alerts(stays: list[Encounter]) -> dict[tuple[int, int], list[str]]:
    """(ward, patient): the beds of the other patients of the ward's census
    whose family name is like this one's (``patients.names``), whichever
    of the ward's stays were asked for."""
    wards = {stay.ward_id for stay in stays if stay.ward_id}
    on_wards = defaultdict(list)
    for ward, patient, family, bed in (
        Encounter.objects.on_census()
        .filter(ward__in=wards)
        .values_list("ward_id", "patient_id", "patient__family", "bed__name")
        .order_by("pk")
    ):
        on_wards[ward].append(((ward, patient), family, bed or "-"))
    alerts = {}
    for people in on_wards.values():
        alerts |= name_alerts(people)
    return {key: sorted(beds, key=_bed_order) for key, beds in alerts.items()}


def _held_allergies(patients: Iterable[str]) -> QuerySet:
    """The allergy records of these patients (source ids) held in quarantine:
    they could not be read, and the pages must say so, not look complete."""
    return QuarantinedResource.objects.filter(
        status=QuarantinedResource.Status.HELD,
        resource_type="AllergyIntolerance",
        patient_source_id__in=list(patients),
    )


def _clinical_rows(now: dt.datetime) -> dict[str, QuerySet]:
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
    held = _held_allergies(source_ids).values_list("patient_source_id", "pk")
    for source_id, pk in held:
        patient = source_ids[source_id]
        for ward in wards_of[patient]:
            rows[ward].append(_row("held allergy", patient, pk))
    patients = stays.filter(ward__in=list(rows)).values("patient_id")
    for name, chosen in _clinical_rows(now).items():
        fields = ["patient_id", "pk", "source_hash"]
        if name == "medication_orders":
            fields.append("starts_at")  # "from when" until it starts
        for patient, *values in chosen.filter(patient__in=patients).values_list(
            *fields
        ):
            if name == "medication_orders":
                values[-1] = bool(values[-1] and values[-1] > now)
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
        _appointments(day)
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


def _patient_section(stay: Encounter, now: dt.datetime, related: dict) -> dict:
    """``related``: the patient's rows of ``_clinical_rows``, by name."""
    return _summary(stay, now, related) | {
        "problems": [p.description for p in related["problems"]],
        **_medications(related["medication_orders"], now),
        **_observations(related["observations"]),
    }


def _summary(stay: Encounter, now: dt.datetime, related: dict) -> dict:
    """Who, where, and what the census shows: allergies, flags, pending labs."""
    patient = stay.patient
    flags = defaultdict(list)
    limited = False
    for flag in related["flags"]:
        flags[flag.kind].append(flag.text)
        if flag.kind == Flag.Kind.CODE_STATUS:
            limited = limited or not _full_code(flag)
    diet = [stay.diet] if stay.diet else []
    family, given = _journal_name(stay.marks, patient.family, patient.given)
    return {
        "patient_id": patient.pk,
        "name": f"{family.upper()}, {given}",
        "family": family,
        "given": given,
        "mrn": patient.mrn,
        "birth_date": _iso(patient.birth_date),
        "age": _age(patient.birth_date, timezone.localdate(now)),
        "sex": SEX_LETTER.get(patient.sex, lambda: "?")(),
        "phone": patient.phone,
        "address": patient.address,
        "contact": {
            "name": patient.contact_name,
            "relationship": patient.contact_relationship,
            "phone": patient.contact_phone,
        },
        "bed": stay.bed.name if stay.bed else "",
        "room": stay.room.name if stay.room else "",
        "admitted_at": _iso(stay.admitted_at),
        "reason": stay.reason,
        "attending": str(stay.attending) if stay.attending else "",
        "allergies": [_allergy(a) for a in related["allergies"]],
        "code_status": flags[Flag.Kind.CODE_STATUS],
        # Anything but full resuscitation: shown boxed and marked.
        "code_limited": limited,
        "isolation": flags[Flag.Kind.ISOLATION],
        "diet": diet + flags[Flag.Kind.DIET],
        "alerts": flags[Flag.Kind.OTHER],
        "pending": [_lab_order(order) for order in related["lab_orders"]],
        # Entered on the downtime census journal: where the stay's ward,
        # bed or name came from (``downtime.journal``).
        "journal": stay.marks,
    }


def _journal_name(marks: list[dict], family: str, given: str) -> tuple[str, str]:
    """The name as the journal's corrections give it, else the mirror's."""
    for mark in marks:
        if mark["kind"] == "correction" and not mark["void"]:
            family = mark["family"] or family
            given = mark["given"] or given
    return family, given


def _allergy(allergy: Allergy) -> dict:
    return {
        "substance": allergy.substance,
        "reactions": allergy.reactions,
        "severity": _label(Allergy.Severity, allergy.severity),
        "criticality": allergy.criticality,
        "category": allergy.category,
        "unconfirmed": allergy.verification_status == "unconfirmed",
        "severe": allergy.severity == Allergy.Severity.SEVERE
        or allergy.criticality == Allergy.Criticality.HIGH,
        "no_known": allergy.substance_code in NO_KNOWN_ALLERGY_CODES,
    }


def _medications(orders, now: dt.datetime) -> dict:
    """Scheduled and PRN orders, written as it is safe to read them
    (``patients.units``): "16 units", "0.5 mg", never "16 U" or ".5 mg"."""
    scheduled, as_needed = [], []
    for order in orders:
        row = {
            "drug": display_text(order.drug),
            "dose": display_dose(order.dose),
            "route": order.route,
            "frequency": order.frequency,
            "instructions": display_text(order.instructions),
            "starts": _iso(order.starts_at, date_only=True),
            # Not started yet: the sheet says from when.
            "future": bool(order.starts_at and order.starts_at > now),
            "ends": _iso(order.ends_at, date_only=True),
        }
        if order.as_needed:
            as_needed.append(
                {
                    **row,
                    "reason": order.as_needed_reason,
                    "interval": display_interval(order.timing),
                    "max_dose": display_max_dose(order.max_dose),
                }
            )
        else:
            row["hours"] = due_hours(order.timing)
            scheduled.append(row)
    return {"medications": scheduled, "as_needed": as_needed}


def due_hours(timing: dict) -> list[int]:
    """The clock hours at which doses fall; empty when the EHR does not say."""
    times = timing.get("times") or []
    hours = set()
    for time in times:
        try:
            hours.add(int(str(time)[:2]) % 24)
        except ValueError:
            continue
    for code in timing.get("when") or []:
        if code in WHEN_HOURS:
            hours.add(WHEN_HOURS[code])
    if hours:
        return sorted(hours)
    frequency, period = timing.get("frequency"), timing.get("period")
    unit = timing.get("period_unit")
    if not isinstance(frequency, int | float) or not isinstance(period, int | float):
        return []
    if unit == "d" and period == 1:
        return list(STANDARD_HOURS.get(int(frequency), ()))
    if unit == "h" and frequency == 1 and period in (4, 6, 8, 12, 24):
        first = {4: 2, 6: 6, 8: 6, 12: 8, 24: 8}[int(period)]
        return sorted((first + step) % 24 for step in range(0, 24, int(period)))
    return []


def _observations(observations) -> dict:
    vitals: dict[str, dict] = {}
    labs: dict[str, dict] = {}
    measures: dict[str, dict] = {}  # weight and height
    for obs in observations:  # newest first
        target = vitals if obs.category == Observation.Category.VITAL_SIGNS else labs
        key = obs.code or obs.name
        if obs.code in Observation.WEIGHT_CODES:
            target, key = measures, "weight"
        elif obs.code in Observation.HEIGHT_CODES:
            target, key = measures, "height"
        if key in target:
            continue
        target[key] = {
            "name": obs.name,
            "value": obs.value,
            "unit": display_unit(obs.unit),
            "range": obs.reference_range,
            "flag": obs.abnormal_flag,
            "abnormal": obs.abnormal_flag not in ("", "N"),
            "at": _iso(obs.effective_at),
        }
    return {
        "weight": measures.get("weight"),
        "height": measures.get("height"),
        "vitals": sorted(vitals.values(), key=lambda v: v["name"]),
        "labs": sorted(labs.values(), key=lambda v: (not v["abnormal"], v["name"])),
    }


def _lab_order(order: LabOrder) -> dict:
    return {
        "number": order.order_number,
        "test": order.test,
        "priority": _label(LabOrder.Priority, order.priority),
        "urgent": order.priority not in ("", LabOrder.Priority.ROUTINE),
        "status": order.status,
        "ordered_at": _iso(order.ordered_at),
        "specimen": order.specimen,
    }


def _full_code(flag: Flag) -> bool:
    return flag.code in FULL_CODE_CODES or bool(FULL_CODE.match(flag.text))


def census_row(section: dict) -> dict:
    return {
        key: section[key]
        for key in (
            "bed",
            "name",
            "mrn",
            "age",
            "sex",
            "attending",
            "code_status",
            "code_limited",
            "isolation",
            "diet",
            "name_alert",
            "birth_date",
            "journal",
        )
    } | {
        "allergies": [
            {"substance": a["substance"], "severe": a["severe"]}
            for a in section["allergies"]
            if not a["no_known"]
        ],
        # "No known allergies" only when the EHR says so; else: ask.
        "allergies_recorded": bool(section["allergies"]),
        "allergies_held": section["allergies_held"],
        "pending": len(section["pending"]),
    }


SEX_LETTER = {
    "female": lambda: pgettext("sex, one letter", "F"),
    "male": lambda: pgettext("sex, one letter", "M"),
    "other": lambda: pgettext("sex, one letter", "X"),
}


def _label(choices: type[models.TextChoices], value: str) -> str:
    """``get_FOO_display()``, translated once per language and value rather
    than every label of the field on every row (a census is 25 rows)."""
    return _labels(choices, translation.get_language()).get(value, value)


@cache
def _labels(choices: type[models.TextChoices], language: str | None) -> dict:
    with translation.override(language):
        return {value: str(label) for value, label in choices.choices}


def _age(born: dt.date | None, today: dt.date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _iso(value, *, date_only: bool = False) -> str:
    """Local time, as ISO text (the templates format it for the language)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
        return value.date().isoformat() if date_only else value.isoformat()
    return value.isoformat()


def _clock(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%H:%M")


def _bed_order(name: str) -> tuple:
    """Natural order: bed 2 before bed 10; no bed last."""
    digits = "".join(c if c.isdigit() else " " for c in name).split()
    return (not name, [int(d) for d in digits], name)


# What a patient's section shows, by what a ward's binder calls a change:
# the facets of ``section_facets``. Any other field of the section counts
# as "details" (a new field is never missed).
FACETS = {
    "allergies": (
        "allergies",
        "allergies_held",
        "code_status",
        "code_limited",
        "isolation",
        "alerts",
        "name_alert",
    ),
    "orders": ("medications", "as_needed", "pending", "diet"),
    "results": ("weight", "height", "vitals", "labs"),
    "bed": ("bed", "room"),
}


def section_facets(section: dict) -> dict[str, str]:
    """Per facet of ``FACETS`` (and "details": the rest), a short hash of
    what the section shows of it: two sections whose facet hashes differ
    differ in that facet."""
    listed = {key for keys in FACETS.values() for key in keys}
    groups = {
        **{
            name: {key: section.get(key) for key in keys}
            for name, keys in FACETS.items()
        },
        "details": {key: value for key, value in section.items() if key not in listed},
    }
    return {
        name: hashlib.sha256(
            json.dumps(values, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        for name, values in groups.items()
    }


@dataclass
class ClinicContent:
    clinic: dict
    day: str
    appointments: list[dict]


def clinic_content(*, clinic: Location, day: dt.date) -> ClinicContent:
    """The clinic's appointments of a local day, by time: a call list."""
    appointments = (
        _appointments(day)
        .filter(clinic=clinic)
        .select_related("patient", "clinician")
        .order_by("starts_at", "patient__family", "pk")
    )
    appointments = list(appointments)
    alerts = name_alerts(
        (a.patient_id, a.patient.family, _clock(a.starts_at)) for a in appointments
    )
    return ClinicContent(
        clinic={"id": clinic.pk, "name": clinic.name, "phone": clinic.phone},
        day=day.isoformat(),
        appointments=[
            {
                "patient_id": a.patient_id,
                # The times of the list's others with a family name like it.
                "name_alert": alerts.get(a.patient_id, []),
                "at": _iso(a.starts_at),
                "minutes": a.minutes,
                "name": str(a.patient),
                "mrn": a.patient.mrn,
                "birth_date": _iso(a.patient.birth_date),
                "phone": a.patient.phone,
                "clinician": str(a.clinician) if a.clinician else "",
                "status": _label(Appointment.Status, a.status),
                "description": a.description,
            }
            for a in appointments
        ],
    )


def _appointments(day: dt.date) -> QuerySet:
    """The appointments of a local day still to honour (booked, or pending
    the participants' answer): not those fulfilled, arrived, cancelled,
    missed or entered in error."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return Appointment.objects.filter(
        starts_at__gte=start,
        starts_at__lt=start + dt.timedelta(days=1),
        status__in=Appointment.TO_HONOUR,
    )
