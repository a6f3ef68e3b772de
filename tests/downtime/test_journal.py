"""The census journal: entries made during a downtime change the census the
pages and packs show, append-only, until the EHR says the same."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import user_stays
from downtime.journal import (
    free_beds,
    journal_admit,
    journal_correct,
    journal_discharge,
    journal_entries,
    journal_sync,
    journal_transfer,
)
from downtime.models import CensusEntry, DowntimeNumber
from downtime.numbers import numbers_allocate
from downtime.services import downtime_close, downtime_declare, downtime_recover
from patients.models import Encounter, Location, Patient
from patients.summary import ward_content, ward_sources
from printouts.services import pack_path
from tests.patients.fhir import encounter, location
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_views import person, ready

pytestmark = pytest.mark.django_db


@pytest.fixture
def hospital(wards):
    """WARD-A (p1 in BED-1, p2 in BED-2, BED-3 free), WARD-B (p9 in BED-9,
    BED-8 free), a nurse of each, IT, and a declared downtime."""
    load(
        [
            location("room-bed-3", "ro", part_of="ward-a"),
            location("bed-3", "bd", part_of="room-bed-3"),
            location("room-bed-8", "ro", part_of="ward-b"),
            location("bed-8", "bd", part_of="room-bed-8"),
        ]
    )
    ward_a, ward_b = wards
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Ransomware")
    return {
        "a": ward_a,
        "b": ward_b,
        "ann": person("ann", "nurse", ward_a),
        "bob": person("bob", "nurse", ward_b),
        "ivan": ivan,
        "downtime": downtime,
    }


def bed(name: str) -> Location:
    return Location.objects.get(kind=Location.Kind.BED, name=name)


def who(mrn: str) -> Patient:
    return Patient.objects.get(mrn=mrn)


def census(ward: Location) -> list[tuple[str, str]]:
    return [(row["mrn"], row["bed"]) for row in ward_content(ward=ward).census]


def ago(minutes: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


def test_a_transfer_moves_the_patient_on_both_wards_census(hospital):
    a, b, ann = hospital["a"], hospital["b"], hospital["ann"]
    entry = journal_transfer(
        downtime=hospital["downtime"],
        user=ann,
        patient=who("MRN-4711"),
        ward=b,
        bed=bed("BED-8"),
        occurred_at=ago(30),
        paper_ref="T-17",
    )

    assert census(a) == [("MRN-4712", "BED-2")]
    assert census(b) == [("MRN-4711", "BED-8"), ("MRN-9", "BED-9")]
    moved = next(p for p in ward_content(ward=b).patients if p["mrn"] == "MRN-4711")
    (mark,) = moved["journal"]
    assert mark["kind"] == "transfer"
    assert (mark["from_ward"], mark["ward"], mark["bed"]) == (
        "WARD-A",
        "WARD-B",
        "BED-8",
    )
    assert mark["by"] == "Marie Dupont"
    assert mark["paper"] == "T-17"
    # The EHR's stay is as the EHR sent it; the journal's stands in for it.
    ehr = Encounter.objects.get(source_id="e1")
    assert (ehr.status, ehr.bed.name) == ("in-progress", "BED-1")
    assert [b.name for b in free_beds(ward=a)] == ["BED-1", "BED-3"]
    assert [b.name for b in free_beds(ward=b)] == []
    # The transfer shows on both wards' journal.
    assert list(journal_entries(downtime=hospital["downtime"], ward=a)) == [entry]
    assert list(journal_entries(downtime=hospital["downtime"], ward=b)) == [entry]
    # Bob, of WARD-B, now sees the patient; Ann no longer does.
    assert user_stays(user=hospital["bob"]).filter(patient__mrn="MRN-4711").exists()
    assert not user_stays(user=ann).filter(patient__mrn="MRN-4711").exists()


def test_an_admission_with_a_downtime_number_makes_a_patient_of_the_ward(hospital):
    a, ann, ivan = hospital["a"], hospital["ann"], hospital["ivan"]
    block = numbers_allocate(location=a, count=3, user=ivan)
    number = block.numbers.first()
    journal_admit(
        downtime=hospital["downtime"],
        user=ann,
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(10),
        number=number,
        family="Unknown",
        given="Man about 40",
        sex="male",
    )

    assert census(a) == [
        ("MRN-4711", "BED-1"),
        ("MRN-4712", "BED-2"),
        (number.number, "BED-3"),
    ]
    number.refresh_from_db()
    assert number.used_on == a
    assert number.downtime == hospital["downtime"]
    assert number.used_by == "Marie Dupont"
    patient = who(number.number)
    assert (patient.family, patient.given, patient.sex) == (
        "Unknown",
        "Man about 40",
        "male",
    )
    # IT can still hand out blocks: the number is no real MRN.
    assert numbers_allocate(location=hospital["b"], count=2, user=ivan).first


def refused(message: str, action, *args, **kwargs) -> None:
    """The action is refused with ``message`` and changes nothing."""
    entries = CensusEntry.objects.count()
    patients = Patient.objects.count()
    stays = sorted(Encounter.objects.values_list("pk", "status", "ward", "bed"))
    numbers = sorted(DowntimeNumber.objects.values_list("pk", "used_at"))
    with pytest.raises(ValidationError, match=message):
        action(*args, **kwargs)
    assert CensusEntry.objects.count() == entries
    assert Patient.objects.count() == patients
    assert sorted(Encounter.objects.values_list("pk", "status", "ward", "bed")) == stays
    assert sorted(DowntimeNumber.objects.values_list("pk", "used_at")) == numbers


def test_bad_entries_are_refused_with_what_is_wrong_and_change_nothing(hospital):
    a, b, ann, ivan = hospital["a"], hospital["b"], hospital["ann"], hospital["ivan"]
    downtime = hospital["downtime"]
    numbers = list(numbers_allocate(location=a, count=2, user=ivan).numbers.all())
    theirs = numbers_allocate(location=b, count=1, user=ivan).numbers.get()
    admit = {"downtime": downtime, "user": ann, "ward": a, "family": "Janssens"}

    refused(
        "is taken",
        journal_admit,
        **admit,
        bed=bed("BED-1"),
        occurred_at=ago(5),
        number=numbers[0],
    )
    refused(
        "in the future",
        journal_admit,
        **admit,
        bed=bed("BED-3"),
        occurred_at=timezone.now() + dt.timedelta(hours=1),
        number=numbers[0],
    )
    refused(
        "not a number of this ward",
        journal_admit,
        **admit,
        bed=bed("BED-3"),
        occurred_at=ago(5),
        number=theirs,
    )
    refused(
        "not a bed of WARD-A",
        journal_admit,
        **admit,
        bed=bed("BED-8"),
        occurred_at=ago(5),
        number=numbers[0],
    )
    refused(
        "family name",
        journal_admit,
        **{**admit, "family": " "},
        bed=bed("BED-3"),
        occurred_at=ago(5),
        number=numbers[0],
    )

    journal_admit(**admit, bed=bed("BED-3"), occurred_at=ago(5), number=numbers[0])
    refused(
        "given already",
        journal_admit,
        **admit,
        bed=None,
        occurred_at=ago(4),
        number=numbers[0],
    )
    refused(
        "on the census",
        journal_admit,
        **admit,
        bed=None,
        occurred_at=ago(4),
        patient=who("MRN-4712"),
    )
    refused(
        "must be later",
        journal_transfer,
        downtime=downtime,
        user=ann,
        patient=who(numbers[0].number),
        ward=b,
        bed=bed("BED-8"),
        occurred_at=ago(6),
    )
    refused(
        "in this place already",
        journal_transfer,
        downtime=downtime,
        user=ann,
        patient=who("MRN-4711"),
        ward=a,
        bed=bed("BED-1"),
        occurred_at=ago(1),
    )
    # Only the ward's own staff (and IT) enter its events.
    with pytest.raises(PermissionDenied):
        journal_discharge(
            downtime=downtime,
            user=hospital["bob"],
            patient=who("MRN-4711"),
            disposition="home",
            occurred_at=ago(1),
        )
    journal_discharge(
        downtime=downtime,
        user=ivan,
        patient=who("MRN-4711"),
        disposition="home",
        occurred_at=ago(1),
    )
    refused(
        "not on a ward",
        journal_discharge,
        downtime=downtime,
        user=ivan,
        patient=who("MRN-4711"),
        disposition="home",
        occurred_at=ago(0),
    )

    downtime_recover(downtime=downtime, user=ivan, why="EHR back")
    refused(
        "only during a downtime",
        journal_discharge,
        downtime=downtime,
        user=ann,
        patient=who("MRN-4712"),
        disposition="home",
        occurred_at=ago(0),
    )


def test_a_discharge_takes_the_patient_off_the_census(hospital):
    a, ann = hospital["a"], hospital["ann"]
    journal_discharge(
        downtime=hospital["downtime"],
        user=ann,
        patient=who("MRN-4712"),
        disposition="deceased",
        occurred_at=ago(3),
    )
    assert census(a) == [("MRN-4711", "BED-1")]
    gone = Encounter.objects.get(source_type="JournalStay")
    assert gone.status == "finished"
    assert gone.replaces.source_id == "e2"
    assert "BED-2" in [b.name for b in free_beds(ward=a)]


def test_a_correction_is_a_new_entry_and_both_are_shown(hospital):
    a, ann, ivan = hospital["a"], hospital["ann"], hospital["ivan"]
    number = numbers_allocate(location=a, count=1, user=ivan).numbers.get()
    admission = journal_admit(
        downtime=hospital["downtime"],
        user=ann,
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(20),
        number=number,
        family="Jansens",
    )
    correction = journal_correct(
        entry=admission, user=ann, family="Janssens", given="Els"
    )

    admission.refresh_from_db()
    assert (admission.family, admission.bed.name) == ("Jansens", "BED-3")  # as it was
    assert correction.corrects == admission
    row = next(p for p in ward_content(ward=a).patients if p["mrn"] == number.number)
    assert row["name"] == "JANSSENS, Els"
    assert [m["kind"] for m in row["journal"]] == ["admission", "correction"]
    assert who(number.number).family == "Janssens"  # the search finds her so

    # A wrong bed, then the admission itself in error: the patient is gone.
    journal_discharge(
        downtime=hospital["downtime"],
        user=ann,
        patient=who("MRN-4712"),
        disposition="home",
        occurred_at=ago(2),
    )
    journal_correct(entry=admission, user=ann, bed=bed("BED-2"))
    assert (number.number, "BED-2") in census(a)
    with pytest.raises(ValidationError, match="in error"):
        journal_correct(entry=admission, user=ann, void=True, family="X")
    journal_correct(entry=admission, user=ann, void=True)
    assert census(a) == [("MRN-4711", "BED-1")]
    with pytest.raises(ValidationError, match="already marked"):
        journal_correct(entry=admission, user=ann, void=True)


def test_once_the_ehr_says_the_same_the_entries_are_confirmed(hospital):
    a, b, ann = hospital["a"], hospital["b"], hospital["ann"]
    downtime = hospital["downtime"]
    moved = journal_transfer(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4711"),
        ward=b,
        bed=bed("BED-8"),
        occurred_at=ago(30),
    )
    left = journal_discharge(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4712"),
        disposition="home",
        occurred_at=ago(20),
    )
    downtime_recover(downtime=downtime, user=hospital["ivan"], why="EHR back")
    downtime_close(
        downtime=downtime, user=hospital["ivan"], why="Done", left_accepted=99
    )
    assert journal_sync() == {}
    # The registration enters the transfer in the EHR, which sends it.
    load([encounter("e1", "p1", bed="bed-8", updated="2026-12-01T10:00:00+01:00")])
    assert journal_sync() == {"confirmed": 1, "ended": 1}
    moved.refresh_from_db()
    assert moved.reconciled_at is not None
    assert census(b) == [("MRN-4711", "BED-8"), ("MRN-9", "BED-9")]
    assert census(a) == []
    # The EHR moved p2 elsewhere: it knows better than the journal.
    load([encounter("e2", "p2", bed="bed-3", updated="2026-12-01T10:00:00+01:00")])
    journal_sync()
    left.refresh_from_db()
    assert left.reconciled_at is None
    assert census(a) == [("MRN-4712", "BED-3")]
    assert not Encounter.objects.filter(source_type="JournalStay").exists()


def test_a_closed_drill_leaves_the_census_to_the_ehr(hospital):
    ivan = hospital["ivan"]
    downtime = hospital["downtime"]
    downtime_recover(downtime=downtime, user=ivan, why="x")
    downtime_close(downtime=downtime, user=ivan, why="x", left_accepted=99)
    drill = downtime_declare(user=ivan, kind="unplanned", reason="Drill", drill=True)
    journal_discharge(
        downtime=drill,
        user=hospital["ann"],
        patient=who("MRN-4711"),
        disposition="home",
        occurred_at=ago(1),
    )
    assert census(hospital["a"]) == [("MRN-4712", "BED-2")]
    marks = Encounter.objects.get(source_type="JournalStay").marks
    assert marks[0]["drill"] is True
    downtime_recover(downtime=drill, user=ivan, why="x")
    downtime_close(downtime=drill, user=ivan, why="x", left_accepted=99)
    journal_sync()
    assert census(hospital["a"]) == [("MRN-4711", "BED-1"), ("MRN-4712", "BED-2")]


def test_a_freshly_rendered_pack_shows_the_ward_as_the_journal_has_it(hospital):
    a, b, ann = hospital["a"], hospital["b"], hospital["ann"]
    before = ward_sources(now=timezone.now())
    journal_transfer(
        downtime=hospital["downtime"],
        user=ann,
        patient=who("MRN-4711"),
        ward=b,
        bed=bed("BED-8"),
        occurred_at=ago(30),
    )
    after = ward_sources(now=timezone.now())
    assert before[a.pk] != after[a.pk]
    assert before[b.pk] != after[b.pk]

    ward_a = " ".join(page_texts(pack_path(ready(a)).read_bytes()))
    pages_b = page_texts(pack_path(ready(b)).read_bytes())
    assert "MRN-4711" not in ward_a
    assert "MRN-4712" in ward_a
    moved = [text for text in pages_b if "MRN-4711" in text]
    assert moved
    assert all("BED-8" in text for text in moved)
    census_page, *sections = moved
    assert "✎ from WARD-A" in census_page
    assert "entered during downtime by Marie Dupont" in " ".join(moved)
    assert "transferred from WARD-A to WARD-B" in sections[0]


def test_an_entry_in_error_never_leaves_two_patients_in_one_bed(hospital):
    a, ann, ivan = hospital["a"], hospital["ann"], hospital["ivan"]
    downtime = hospital["downtime"]
    number = numbers_allocate(location=a, count=1, user=ivan).numbers.get()
    left = journal_discharge(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4711"),
        disposition="home",
        occurred_at=ago(20),
    )
    journal_admit(
        downtime=downtime,
        user=ann,
        ward=a,
        bed=bed("BED-1"),
        occurred_at=ago(10),
        number=number,
        family="Wouters",
    )

    refused(
        "back in bed BED-1, which someone else has now",
        journal_correct,
        entry=left,
        user=ann,
        void=True,
    )
    assert census(a) == [(number.number, "BED-1"), ("MRN-4712", "BED-2")]


def test_a_name_the_journal_corrects_is_the_one_alerts_and_search_use(hospital, client):
    """WARD-A's PEETERS in BED-1, and another Peeters transferred in: both
    are flagged; once the journal corrects the newcomer's name, neither, and
    a search finds the newcomer by the corrected name."""
    a = hospital["a"]
    moved = journal_transfer(
        downtime=hospital["downtime"],
        user=hospital["ivan"],
        patient=who("MRN-9"),
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(10),
    )

    def alerts() -> dict[str, list[str]]:
        return {p["mrn"]: p["name_alert"] for p in ward_content(ward=a).patients}

    assert alerts()["MRN-4711"] == ["BED-3"]
    assert alerts()["MRN-9"] == ["BED-1"]

    journal_correct(entry=moved, user=hospital["ivan"], family="Verbeke")

    assert alerts()["MRN-4711"] == []
    assert alerts()["MRN-9"] == []
    client.force_login(hospital["ann"])
    found = client.post(reverse("patients:search"), {"q": "verbeke"})
    assert "MRN-9" in found.content.decode()
    assert "MRN-4711" not in found.content.decode()
