"""Recovery of the census journal: each entry becomes an item of the
registration worklist, and the entries are confirmed once the EHR's feeds
say the same (a real MLLP listener, a real Celery worker)."""

import datetime as dt

import pytest
from celery import Celery
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from downtime.journal import (
    journal_admit,
    journal_correct,
    journal_discharge,
    journal_transfer,
)
from downtime.models import CensusEntry, WorklistItem
from downtime.numbers import number_use_record, numbers_allocate
from downtime.recovery import journal_sync_due, worklist_add_entries
from downtime.report import downtime_report
from downtime.services import downtime_close, downtime_declare, downtime_recover
from downtime.worklists import worklist_item_done
from patients.models import Encounter, Patient
from tests.downtime import test_journal
from tests.downtime.test_journal import ago, bed, census, who
from tests.patients.fhir import encounter, patient
from tests.patients.hl7 import Sender, adt, listener, message, pid
from tests.printouts.conftest import load
from tests.printouts.test_views import person
from tests.processes import celery_worker, redis_server

pytestmark = pytest.mark.django_db
hospital = test_journal.hospital  # the fixture: two wards, staff, a downtime
REGISTRATION = WorklistItem.Worklist.REGISTRATION


def at(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m %H:%M")


def registration(downtime) -> list[WorklistItem]:
    return list(
        WorklistItem.objects.filter(downtime=downtime, worklist=REGISTRATION)
        .select_related("entry")
        .order_by("entry__occurred_at", "pk")
    )


def admit_with_a_number(hospital, minutes_ago: int, **place) -> CensusEntry:
    number = numbers_allocate(
        location=hospital["a"], count=1, user=hospital["ivan"]
    ).numbers.get()
    return journal_admit(
        downtime=hospital["downtime"],
        user=hospital["ann"],
        ward=hospital["a"],
        occurred_at=ago(minutes_ago),
        number=number,
        family="Unknown",
        given="Woman about 70",
        **({"bed": None} | place),
    )


def test_at_recovery_registration_holds_one_item_per_entry_to_enter(hospital):
    a, b, ann, ivan = hospital["a"], hospital["b"], hospital["ann"], hospital["ivan"]
    downtime = hospital["downtime"]
    admitted = admit_with_a_number(hospital, 50, bed=bed("BED-3"))
    wrong = admit_with_a_number(hospital, 45)
    journal_correct(entry=wrong, user=ann, void=True)
    moved = journal_transfer(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4711"),
        ward=b,
        bed=None,
        occurred_at=ago(40),
    )
    journal_correct(entry=moved, user=ann, bed=bed("BED-8"))
    left = journal_discharge(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4712"),
        disposition="deceased",
        occurred_at=ago(20),
    )
    assert not WorklistItem.objects.filter(worklist=REGISTRATION).exists()

    downtime_recover(downtime=downtime, user=ivan, why="EHR back")

    dt_number = admitted.number.number
    assert [
        (i.entry, i.location, i.ward, i.bed, i.patient_name, i.mrn, i.what)
        for i in registration(downtime)
    ] == [
        (
            admitted,
            a,
            "WARD-A",
            "BED-3",
            "UNKNOWN, Woman about 70",
            dt_number,
            f"Enter in the EHR: admission of {dt_number} to WARD-A, bed BED-3 "
            f"at {at(admitted.occurred_at)}",
        ),
        (
            moved,
            b,
            "WARD-B",
            "BED-8",  # as corrected
            "PEETERS, Anaïs",
            "MRN-4711",
            "Enter in the EHR: transfer of MRN-4711 from WARD-A to WARD-B, "
            f"bed BED-8 at {at(moved.occurred_at)}",
        ),
        (
            left,
            a,
            "WARD-A",
            "BED-2",
            "AALST, Zoë",
            "MRN-4712",
            "Enter in the EHR: discharge of MRN-4712 from WARD-A (deceased) "
            f"at {at(left.occurred_at)}",
        ),
    ]
    # The admission's item is the number's: no "match with the real MRN"
    # item besides, and the number cannot be recorded again from paper.
    assert registration(downtime)[0].number == admitted.number
    with pytest.raises(ValidationError, match="already recorded"):
        number_use_record(
            number=dt_number,
            location=a,
            used_at=ago(50),
            used_by="Nurse",
            user=ivan,
        )
    assert len(registration(downtime)) == 3
    assert worklist_add_entries(downtime=downtime) == 0  # once only


def test_a_drills_entries_go_to_its_worklist_and_its_close_ends_them(hospital):
    ivan = hospital["ivan"]
    downtime_recover(downtime=hospital["downtime"], user=ivan, why="x")
    downtime_close(downtime=hospital["downtime"], user=ivan, why="x", left_accepted=99)
    drill = downtime_declare(user=ivan, kind="unplanned", reason="Drill", drill=True)
    journal_discharge(
        downtime=drill,
        user=hospital["ann"],
        patient=who("MRN-4711"),
        disposition="home",
        occurred_at=ago(1),
    )
    downtime_recover(downtime=drill, user=ivan, why="x")
    (item,) = registration(drill)
    assert item.what.startswith("Enter in the EHR: discharge of MRN-4711")

    downtime_close(downtime=drill, user=ivan, why="x", left_accepted=99)

    assert census(hospital["a"]) == [("MRN-4711", "BED-1"), ("MRN-4712", "BED-2")]


def test_done_with_the_real_mrn_links_the_patient_once_the_mirror_has_them(
    client, hospital, django_assert_num_queries
):
    a, ivan, downtime = hospital["a"], hospital["ivan"], hospital["downtime"]
    admitted = admit_with_a_number(hospital, 30, bed=bed("BED-3"))
    dt_number = admitted.number.number
    downtime_recover(downtime=downtime, user=ivan, why="EHR back")
    (item,) = registration(downtime)
    claire = person("claire", "clerk", a)
    client.force_login(claire)
    page = reverse("downtime:worklist", args=[downtime.pk, REGISTRATION])
    done = reverse("downtime:worklist-done", args=[item.pk])
    assert 'name="real_mrn"' in client.get(page).content.decode()

    # Not a nurse of this ward: to her the item does not exist.
    client.force_login(hospital["bob"])
    assert client.post(done, {"real_mrn": "MRN-77"}).status_code == 404
    client.force_login(claire)
    # The downtime number is no real MRN.
    answer = client.post(done, {"real_mrn": dt_number}, follow=True)
    assert "That is the downtime number" in answer.content.decode()
    item.refresh_from_db()
    assert (item.done_at, item.real_mrn) == (None, "")

    client.post(done, {"real_mrn": " MRN-77 ", "next": page})

    item.refresh_from_db()
    assert (item.done_by, item.real_mrn) == (claire, "MRN-77")
    # The mirror does not know MRN-77 yet: the journal still stands in.
    assert (dt_number, "BED-3") in census(a)
    assert journal_sync_due() == {}

    # The EHR's feed brings the real patient, in the bed registration gave.
    load([patient("p77", mrn="MRN-77"), encounter("e77", "p77", bed="bed-3")])
    assert journal_sync_due() == {"confirmed": 1, "ended": 1}

    admitted.refresh_from_db()
    assert admitted.patient.mrn == "MRN-77"
    assert admitted.reconciled_at is not None
    assert census(a) == [
        ("MRN-4711", "BED-1"),
        ("MRN-4712", "BED-2"),
        ("MRN-77", "BED-3"),
    ]
    assert "Confirmed by the EHR" in client.get(page).content.decode()
    with django_assert_num_queries(1):  # nothing left to do: one query
        assert journal_sync_due() == {}


def test_only_an_admission_with_a_downtime_number_takes_a_real_mrn(hospital):
    downtime = hospital["downtime"]
    journal_discharge(
        downtime=downtime,
        user=hospital["ann"],
        patient=who("MRN-4712"),
        disposition="home",
        occurred_at=ago(5),
    )
    downtime_recover(downtime=downtime, user=hospital["ivan"], why="EHR back")
    (item,) = registration(downtime)

    with pytest.raises(ValidationError, match="Only an admission"):
        worklist_item_done(item=item, user=hospital["ann"], real_mrn="MRN-77")

    item.refresh_from_db()
    assert item.done_at is None
    assert worklist_item_done(item=item, user=hospital["ann"]).done_at is not None


@pytest.fixture
def roles(transactional_db) -> None:
    """The roles' groups, which an earlier transactional test flushed."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def hl7_time(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S")


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "mrg", ["{number}^^^GENERAL^MR", "{number}"], ids=["MRG-1.4", "no-MRG-1.4"]
)
def test_the_ehrs_a01_and_a40_reconcile_the_admission(
    roles, hospital, test_database_url, tmp_path, mrg
):
    """During the downtime a patient with a downtime number is admitted on
    the journal. At recovery registration enters the admission in the EHR,
    which sends an A01 for the real MRN to the same bed, then an A40 that
    merges the downtime number into it, through the real MLLP listener. A
    real worker runs the journal's sync as beat would send it."""
    a, ivan, downtime = hospital["a"], hospital["ivan"], hospital["downtime"]
    admitted = admit_with_a_number(hospital, 60, bed=bed("BED-3"))
    dt_number = admitted.number.number
    downtime_recover(downtime=downtime, user=ivan, why="EHR back")
    assert f"admission of {dt_number} to WARD-A" in registration(downtime)[0].what

    now = hl7_time(timezone.now())
    with listener(test_database_url, tmp_path / "mllp.log") as (port, _process):
        sender = Sender(port)
        admission = adt(
            "A01",
            "REC-1",
            mrn="MRN-77",
            family="JANSSENS",
            given="Els",
            place="WARD-A^ROOM-BED-3^BED-3",
            visit="V77",
            at=now,
        )
        assert sender.send(admission)["code"] == "AA"
        merge = message(
            "ADT^A40^ADT_A39",
            "REC-2",
            f"EVN|A40|{now}",
            pid(mrn="MRN-77", family="JANSSENS", given="Els"),
            f"MRG|{mrg.format(number=dt_number)}",
            at=now,
        )
        assert sender.send(merge)["code"] == "AA"
        sender.close()
    assert not Patient.objects.filter(mrn=dt_number).exists()

    with (
        redis_server(tmp_path) as (broker_url, _redis),
        celery_worker(
            broker_url=broker_url,
            database_url=test_database_url,
            log=tmp_path / "worker.log",
        ),
    ):
        app = Celery(broker=broker_url, backend=broker_url, set_as_current=False)
        counts = app.send_task("downtime.tasks.sync_journal", ignore_result=False).get(
            timeout=60
        )
        app.close()

    assert counts == {"confirmed": 1, "ended": 1}
    admitted.refresh_from_db()
    assert admitted.reconciled_at is not None
    assert admitted.patient.mrn == "MRN-77"
    assert not Encounter.objects.filter(source_feed=Encounter.JOURNAL_FEED).exists()
    assert census(a) == [
        ("MRN-4711", "BED-1"),
        ("MRN-4712", "BED-2"),
        ("MRN-77", "BED-3"),
    ]
    downtime = downtime_close(downtime=downtime, user=ivan, why="Done", left_accepted=9)
    report = downtime_report(downtime=downtime)
    assert [
        (r["ward"], r["kind"], r["total"], r["confirmed"]) for r in report.journal
    ] == [("WARD-A", "admission", 1, 1)]
    assert report.unconfirmed == []
