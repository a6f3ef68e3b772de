"""What a ward pack and the nurses' pages show of each patient on a
census, read from the mirror as plain values.

Each patient's section is a dict of exactly what its pages print, in a form
that serialises to JSON: its hash is the key of the rendered fragment, so
anything that changes on every render (the time, the pack's page numbers)
stays out of it and is stamped on the merged pack instead.
"""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from patients.models import Encounter, Flag, Location
from patients.names import name_alerts
from patients.summary.clinical import (
    allergy_values,
    dose_values,
    is_full_code,
    lab_order_values,
    medication_values,
    observation_values,
    report_values,
)
from patients.summary.rows import clinical_rows, held_allergies
from patients.summary.values import SEX_LETTER, age, bed_order, iso

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
    rows = clinical_rows(now)
    if census_only:  # and of those rows, only the fields a census reads
        rows = {name: rows[name].only(*fields) for name, fields in CENSUS_ROWS.items()}
    stays = stays.select_related("patient", "bed", "room", "attending")
    if census_only:
        stays = stays.only(*CENSUS_FIELDS)
    stays = list(stays)
    stays.sort(key=lambda stay: bed_order(stay.bed.name if stay.bed else ""))
    patients = [stay.patient_id for stay in stays]
    # Plain queries grouped here rather than prefetch_related: a third of
    # the census's time went to the prefetch machinery (bench/pages.py).
    related = {name: defaultdict(list) for name in rows}
    for name, chosen in rows.items():
        for row in chosen.filter(patient__in=patients):
            related[name][row.patient_id].append(row)
    held = Counter(
        held_allergies(stay.patient.source_id for stay in stays).values_list(
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
    of the ward's stays were asked for; a name as the census journal
    corrected it."""
    wards = {stay.ward_id for stay in stays if stay.ward_id}
    on_wards = defaultdict(list)
    for ward, patient, family, marks, bed in (
        Encounter.objects.on_census()
        .filter(ward__in=wards)
        .values_list("ward_id", "patient_id", "patient__family", "marks", "bed__name")
        .order_by("pk")
    ):
        family, _given = journal_name(marks, family, "")
        on_wards[ward].append(((ward, patient), family, bed or "-"))
    alerts = {}
    for people in on_wards.values():
        alerts |= name_alerts(people)
    return {key: sorted(beds, key=bed_order) for key, beds in alerts.items()}


def _patient_section(stay: Encounter, now: dt.datetime, related: dict) -> dict:
    """``related``: the patient's rows of ``clinical_rows``, by name."""
    return _summary(stay, now, related) | {
        "problems": [p.description for p in related["problems"]],
        **medication_values(related["medication_orders"], now),
        **dose_values(
            related["medication_orders"], related["medication_administrations"], now
        ),
        **observation_values(related["observations"]),
        # A report with nothing to read (a lab panel, whose results are
        # the labs above) takes no room on paper.
        "reports": [
            report_values(report)
            for report in related["reports"]
            if report.conclusion or report.text or report.attachments
        ],
    }


def _summary(stay: Encounter, now: dt.datetime, related: dict) -> dict:
    """Who, where, and what the census shows: allergies, flags, pending labs."""
    patient = stay.patient
    flags = defaultdict(list)
    limited = False
    for flag in related["flags"]:
        flags[flag.kind].append(flag.text)
        if flag.kind == Flag.Kind.CODE_STATUS:
            limited = limited or not is_full_code(flag)
    diet = [stay.diet] if stay.diet else []
    family, given = journal_name(stay.marks, patient.family, patient.given)
    return {
        "patient_id": patient.pk,
        "name": f"{family.upper()}, {given}",
        "family": family,
        "given": given,
        "mrn": patient.mrn,
        "birth_date": iso(patient.birth_date),
        "age": age(patient.birth_date, timezone.localdate(now)),
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
        "admitted_at": iso(stay.admitted_at),
        "reason": stay.reason,
        "attending": str(stay.attending) if stay.attending else "",
        "allergies": [allergy_values(a) for a in related["allergies"]],
        "code_status": flags[Flag.Kind.CODE_STATUS],
        # Anything but full resuscitation: shown boxed and marked.
        "code_limited": limited,
        "isolation": flags[Flag.Kind.ISOLATION],
        "diet": diet + flags[Flag.Kind.DIET],
        "alerts": flags[Flag.Kind.OTHER],
        "pending": [lab_order_values(order) for order in related["lab_orders"]],
        # Entered on the downtime census journal: where the stay's ward,
        # bed or name came from (``downtime.journal``).
        "journal": stay.marks,
    }


def journal_name(marks: list[dict], family: str, given: str) -> tuple[str, str]:
    """The name as the journal's corrections give it, else the mirror's."""
    for mark in marks:
        if mark["kind"] == "correction" and not mark["void"]:
            family = mark["family"] or family
            given = mark["given"] or given
    return family, given


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
