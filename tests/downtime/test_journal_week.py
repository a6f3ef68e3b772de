"""A week without the EHR: the wards keep the census on the journal, and
every day's packs say what the journal says.

A small generated hospital, an unplanned downtime declared a week ago, then
seven days of admissions with downtime numbers, transfers, discharges and
corrections (seeded random, entered by the nurses of the right wards). The
test keeps its own account of who is in which bed and, each day, holds the
census, the scheduler's choice of packs and the packs' text against it.
"""

import datetime as dt
import random
import re
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import WardMembership
from downtime.journal import (
    free_beds,
    journal_admit,
    journal_correct,
    journal_discharge,
    journal_transfer,
)
from downtime.models import CensusEntry, Downtime
from downtime.numbers import numbers_allocate
from downtime.services import downtime_declare
from patients.demo.hospital import demo_hospital
from patients.ingest.sources import from_resources
from patients.models import Encounter, Location, Patient
from patients.services import fhir_load_import
from patients.summary import ward_content, ward_sources
from printouts.models import Pack
from printouts.services import pack_path, pack_render, packs_due
from tests.printouts.pdfs import page_texts

pytestmark = pytest.mark.django_db

DAYS = 7
FAMILIES = ["Peeters", "Janssens", "Maes", "Jacobs", "Willems", "Claes", "Goossens"]
GIVENS = ["Els", "Jan", "An", "Luc", "Sofie", "Marc", "Unknown woman about 70"]
DISPOSITIONS = ["home"] * 6 + ["hospital"] * 2 + ["deceased"] * 2 + ["other"]
Kind = CensusEntry.Kind


@dataclass
class Week:
    """What the test itself says the census is: each patient's ward and bed
    (ids), with whatever the simulation needs to go on."""

    downtime: Downtime
    wards: list[Location]
    nurses: dict[int, list[User]]  # by ward id
    numbers: dict[int, list]  # each ward's unused downtime numbers
    rng: random.Random
    where: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    mrns: dict[int, str] = field(default_factory=dict)  # every patient seen
    gone: list[int] = field(default_factory=list)  # discharged this week
    new: set[int] = field(default_factory=set)  # admitted with a number
    today: list[CensusEntry] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)  # wards changed today

    def nurse(self, ward_id: int) -> User:
        return self.rng.choice(self.nurses[ward_id])

    def free(self, ward: Location) -> list[Location]:
        """The ward's free beds by the test's account, checked against the
        journal's."""
        taken = {bed for _ward, bed in self.where.values()}
        beds = [bed for bed in free_beds(ward=ward) if bed.pk not in taken]
        assert beds == free_beds(ward=ward), ward.name
        return beds

    def place(self, patient_id: int) -> tuple[Location, Location | None]:
        ward, bed = self.where[patient_id]
        return Location.objects.get(pk=ward), bed and Location.objects.get(pk=bed)


@pytest.fixture
def week(settings) -> Week:
    """Three wards of eight beds, about three quarters full; two nurses a
    ward; an unplanned downtime declared eight days ago; a block of downtime
    numbers for each ward."""
    # A pack is due when its content changed, not because time passed.
    settings.PACK_DEBOUNCE_SECONDS = 0
    settings.PACK_REFRESH_MINUTES = 24 * 60
    now = timezone.now()
    resources = demo_hospital(
        wards=3, beds=8, clinics=1, seed=25, now=now, occupancy=0.75
    )
    fhir_load_import(load=from_resources(resources, origin="test"), feed="demo")
    wards = list(Location.objects.filter(kind=Location.Kind.WARD).order_by("name"))
    it = user("ivan", "it", "Ivan", "Peeters")
    downtime = downtime_declare(user=it, kind="unplanned", reason="Ransomware")
    Downtime.objects.filter(pk=downtime.pk).update(
        declared_at=now - dt.timedelta(days=DAYS + 1)
    )
    downtime.refresh_from_db()
    nurses = {
        ward.pk: [
            user(f"nurse-{ward.pk}-{n}", "nurse", given, ward.name.title(), ward)
            for n, given in enumerate(("Ann", "Bart"))
        ]
        for ward in wards
    }
    numbers = {
        ward.pk: list(numbers_allocate(location=ward, count=20, user=it).numbers.all())
        for ward in wards
    }
    week = Week(downtime, wards, nurses, numbers, random.Random(25))  # noqa: S311
    for patient_id, ward, bed, mrn in Encounter.objects.on_census().values_list(
        "patient_id", "ward_id", "bed_id", "patient__mrn"
    ):
        week.where[patient_id] = (ward, bed)
        week.mrns[patient_id] = mrn
    return week


def user(username: str, role: str, given: str, family: str, *wards) -> User:
    person = User.objects.create_user(
        username, password="pw-long-enough-1", first_name=given, last_name=family
    )
    person.groups.add(Group.objects.get(name=role))
    for ward in wards:
        WardMembership.objects.create(user=person, location=ward)
    return person


# The day's events: each picks what it can act on, or does nothing.


def admit(week: Week, at: dt.datetime) -> None:
    """A new patient with the ward's next downtime number, or now and then
    one discharged earlier in the week coming back."""
    rng = week.rng
    ward = rng.choice([w for w in week.wards if week.free(w)])
    bed = rng.choice(week.free(ward))
    back = [p for p in week.gone if p not in week.where]
    if back and rng.random() < 0.2:
        patient = Patient.objects.get(pk=rng.choice(back))
        number = None
    else:
        patient, number = None, week.numbers[ward.pk].pop(0)
    entry = journal_admit(
        downtime=week.downtime,
        user=week.nurse(ward.pk),
        ward=ward,
        bed=bed,
        occurred_at=at,
        paper_ref=f"A-{rng.randint(100, 999)}",
        patient=patient,
        number=number,
        family=rng.choice(FAMILIES),
        given=rng.choice(GIVENS),
        birth_date=dt.date(rng.randint(1930, 2005), rng.randint(1, 12), 1),
        sex=rng.choice(["female", "male", "unknown"]),
    )
    week.where[entry.patient_id] = (ward.pk, bed.pk)
    week.mrns[entry.patient_id] = entry.patient.mrn
    if number is not None:
        week.new.add(entry.patient_id)
    week.today.append(entry)
    week.touched.add(ward.pk)


def transfer(week: Week, at: dt.datetime) -> None:
    """To a free bed of another ward, or sometimes of the same one."""
    rng = week.rng
    patient_id = rng.choice(sorted(week.where))
    here, _bed = week.place(patient_id)
    others = [w for w in week.wards if w != here and week.free(w)]
    ward = rng.choice(others) if others and rng.random() < 0.7 else here
    if not week.free(ward):
        return
    bed = rng.choice(week.free(ward))
    entry = journal_transfer(
        downtime=week.downtime,
        user=week.nurse(here.pk),
        patient=Patient.objects.get(pk=patient_id),
        ward=ward,
        bed=bed,
        occurred_at=at,
    )
    week.where[patient_id] = (ward.pk, bed.pk)
    week.today.append(entry)
    week.touched |= {here.pk, ward.pk}


def discharge(week: Week, at: dt.datetime) -> None:
    rng = week.rng
    patient_id = rng.choice(sorted(week.where))
    ward, _bed = week.place(patient_id)
    disposition = rng.choice(DISPOSITIONS)
    journal_discharge(
        downtime=week.downtime,
        user=week.nurse(ward.pk),
        patient=Patient.objects.get(pk=patient_id),
        disposition=disposition,
        destination="AZ Sint-Jan" if disposition == "hospital" else "",
        occurred_at=at,
    )
    del week.where[patient_id]
    week.gone.append(patient_id)
    week.touched.add(ward.pk)


def correct(week: Week, at: dt.datetime) -> None:
    """One of today's admissions or transfers, still the patient's last
    entry: the bed was another, the name was misspelt, or it never happened
    (an admission only: the patient was never here)."""
    rng = week.rng
    last = [
        e
        for e in week.today
        if week.where.get(e.patient_id, (None,))[0] == e.ward_id
        and e
        == max(
            (x for x in week.today if x.patient_id == e.patient_id),
            key=lambda x: x.occurred_at,
        )
    ]
    if not last:
        return
    entry = rng.choice(last)
    nurse = week.nurse(entry.ward_id)
    choice = rng.random()
    if choice < 0.4 and week.free(entry.ward):
        bed = rng.choice(week.free(entry.ward))
        journal_correct(entry=entry, user=nurse, bed=bed, paper_ref="C-1")
        week.where[entry.patient_id] = (entry.ward_id, bed.pk)
    elif choice < 0.7 and entry.patient_id in week.new:
        journal_correct(entry=entry, user=nurse, family=rng.choice(FAMILIES) + "s")
    elif entry.kind == Kind.ADMISSION and entry.patient_id in week.new:
        journal_correct(entry=entry, user=nurse, void=True)
        del week.where[entry.patient_id]
        week.today = [e for e in week.today if e.patient_id != entry.patient_id]
    else:
        return
    week.touched.add(entry.ward_id)


def live_day(week: Week, day: int) -> None:
    """The day's events at increasing times between 07:00 and 22:00 of it;
    the evening's check of the day's paper finds a mistake or two."""
    rng = week.rng
    events = (
        [admit] * rng.randint(1, 3)
        + [transfer] * rng.randint(1, 2)
        + [discharge] * rng.randint(1, 3)
    )
    rng.shuffle(events)
    events += [correct] * rng.randint(1, 2)
    start = week.downtime.declared_at + dt.timedelta(days=day, hours=7)
    minutes = sorted(rng.sample(range(15 * 60), len(events)))
    week.today, week.touched = [], set()
    for event, minute in zip(events, minutes, strict=True):
        event(week, start + dt.timedelta(minutes=minute))


# What the test checks each day.


def check_census(week: Week) -> None:
    """The census (ward_content, as the pages and packs read it) is the
    test's own, and no bed holds two patients."""
    beds = Counter(
        Encounter.objects.on_census()
        .filter(bed__isnull=False)
        .values_list("bed_id", flat=True)
    )
    assert not [bed for bed, count in beds.items() if count > 1]
    for ward in week.wards:
        expected = sorted(
            (week.mrns[patient], bed_name(bed))
            for patient, (there, bed) in week.where.items()
            if there == ward.pk
        )
        rows = ward_content(ward=ward).census
        assert sorted((row["mrn"], row["bed"] or "-") for row in rows) == expected


def check_packs(week: Week, packs: dict[int, Pack]) -> int:
    """Each ward's newest pack, read as a nurse reads it: everyone the
    journal has on the ward is in it, with their bed, on every page of their
    section; no one else the week has seen is. Returns how many of the
    patients admitted with a downtime number the packs showed."""
    shown_new = 0
    for ward in week.wards:
        texts = page_texts(pack_path(packs[ward.pk]).read_bytes())
        whole = "\n".join(texts)
        here = {p: bed for p, (w, bed) in week.where.items() if w == ward.pk}
        printed = {p for p, mrn in week.mrns.items() if _printed(mrn, whole)}
        assert printed == set(here), ward.name
        for patient, bed in here.items():
            header = f"MRN {week.mrns[patient]}"
            pages = [text for text in texts if header in text]
            assert pages, (ward.name, header)
            assert all(f"Bed {bed_name(bed)}" in text for text in pages), header
            shown_new += patient in week.new
    return shown_new


def _printed(mrn: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(mrn)}(?![\w-])", text) is not None


def bed_name(bed_id: int | None) -> str:
    return Location.objects.get(pk=bed_id).name if bed_id else "-"


def newest_packs(week: Week) -> dict[int, Pack]:
    return {
        ward.pk: ward.packs.filter(kind=Pack.Kind.WARD, status=Pack.Status.READY)
        .order_by("-pk")
        .first()
        for ward in week.wards
    }


def test_a_week_of_journal_entries_keeps_census_and_packs_true(week):
    # The final set of the declaration: every ward's pack, before any entry.
    for pack in Pack.objects.filter(downtime=week.downtime, kind=Pack.Kind.WARD):
        pack_render(pack_id=pack.pk)
    check_census(week)
    packs = newest_packs(week)
    check_packs(week, packs)
    shown_new = 0

    for day in range(1, DAYS + 1):
        now = timezone.now()
        wards = [ward.pk for ward in week.wards]
        before = ward_sources(now=now, wards=wards)
        live_day(week, day)
        after = ward_sources(now=now, wards=wards)
        # The digest changes on the wards the day's entries touched, only.
        changed = {ward for ward in wards if before[ward] != after[ward]}
        assert changed == week.touched, f"day {day}"
        check_census(week)

        # The scheduler renders again exactly those wards' packs.
        due = Pack.objects.filter(pk__in=packs_due(), kind=Pack.Kind.WARD)
        assert {pack.location_id for pack in due} == week.touched, f"day {day}"
        assert {pack.reason for pack in due} == {Pack.Reason.CHANGED}
        for pack in due:
            assert pack_render(pack_id=pack.pk).status == Pack.Status.READY
        previous, packs = packs, newest_packs(week)
        for ward in wards:
            assert (packs[ward] != previous[ward]) == (ward in week.touched)
        shown_new += check_packs(week, packs)

    # The week had some of everything, deaths and numbers on paper included.
    entries = CensusEntry.objects.filter(downtime=week.downtime)
    assert set(entries.values_list("kind", flat=True)) == set(Kind.values)
    assert entries.filter(disposition="deceased").exists()
    assert entries.filter(kind=Kind.CORRECTION, void=True).exists()
    assert shown_new >= DAYS
