"""The census journal's pages: a ward's staff enter admissions, transfers,
discharges and corrections during a downtime; anyone else finds no such
ward; bad input is refused on the form and changes nothing."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from downtime.journal import journal_admit, journal_correct, journal_transfer
from downtime.models import CensusEntry, DowntimeNumber
from downtime.numbers import numbers_allocate
from downtime.services import downtime_recover
from patients.models import Encounter, Patient
from tests.downtime.test_journal import ago, bed, hospital, who  # noqa: F401
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def unchanged() -> tuple:
    """What a refused entry must leave as it was."""
    return (
        sorted(CensusEntry.objects.values_list("pk", flat=True)),
        sorted(Patient.objects.values_list("pk", "family")),
        sorted(Encounter.objects.values_list("pk", "status", "ward", "bed")),
        sorted(DowntimeNumber.objects.values_list("pk", "used_at")),
    )


@pytest.fixture
def staffed(hospital):  # noqa: F811 - the fixture
    """tests/downtime/test_journal.py's hospital: two wards, a nurse of
    each, IT, a declared downtime."""
    return hospital


@pytest.fixture
def block(staffed):
    return numbers_allocate(location=staffed["a"], count=3, user=staffed["ivan"])


def journal_url(ward) -> str:
    return reverse("downtime:journal", args=[ward.pk])


def test_a_ward_nurse_sees_the_wards_entries_with_their_corrections(
    client, staffed, block, django_assert_max_num_queries
):
    a, ann, downtime = staffed["a"], staffed["ann"], staffed["downtime"]
    moved = journal_transfer(
        downtime=downtime,
        user=ann,
        patient=who("MRN-4711"),
        ward=staffed["b"],
        bed=bed("BED-8"),
        occurred_at=ago(30),
        paper_ref="T-17",
    )
    admitted = journal_admit(
        downtime=downtime,
        user=ann,
        ward=a,
        bed=bed("BED-1"),
        occurred_at=ago(20),
        number=block.numbers.first(),
        family="Unknown",
        given="Woman",
    )
    journal_correct(entry=admitted, user=ann, bed=bed("BED-3"))
    client.force_login(ann)

    with django_assert_max_num_queries(16):
        page = client.get(journal_url(a))

    assert page.status_code == 200
    text = page.text
    assert "Census journal: WARD-A" in text
    assert "from WARD-A to WARD-B" in text
    assert "T-17" in text
    assert block.numbers.first().number in text
    assert "UNKNOWN, Woman" in text
    # The admission and its correction, both shown, the correction after.
    assert text.index("BED-1") < text.index("right bed: BED-3")
    assert "Marie Dupont" in text
    assert reverse("downtime:journal-correct", args=[a.pk, moved.pk]) in text
    log = AccessLog.objects.filter(action="journal").latest("at")
    assert (log.outcome, log.target) == ("allowed", f"journal ward {a.pk}")
    assert sorted(log.patients) == sorted([moved.patient_id, admitted.patient_id])
    # The receiving ward's journal shows the transfer too.
    client.force_login(staffed["bob"])
    assert "from WARD-A to WARD-B" in client.get(journal_url(staffed["b"])).text


def test_more_entries_take_no_more_queries(
    client, staffed, block, django_assert_max_num_queries
):
    a, ann = staffed["a"], staffed["ann"]
    client.force_login(ann)
    client.get(journal_url(a))
    for minutes, number in zip((40, 30, 20), block.numbers.all(), strict=True):
        journal_admit(
            downtime=staffed["downtime"],
            user=ann,
            ward=a,
            bed=None,
            occurred_at=ago(minutes),
            number=number,
            family=f"Patient{minutes}",
        )
    with django_assert_max_num_queries(16):
        assert client.get(journal_url(a)).status_code == 200


def test_another_wards_nurse_finds_no_journal_and_no_form(client, staffed, block):
    a, bob = staffed["a"], staffed["bob"]
    entry = journal_transfer(
        downtime=staffed["downtime"],
        user=staffed["ann"],
        patient=who("MRN-4712"),
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(5),
    )
    client.force_login(bob)
    before = unchanged()

    assert client.get(journal_url(a)).status_code == 404
    for name in ("journal-admit", "journal-transfer", "journal-discharge"):
        url = reverse(f"downtime:{name}", args=[a.pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"new-family": "X"}).status_code == 404
    correct = reverse("downtime:journal-correct", args=[a.pk, entry.pk])
    assert client.post(correct, {"void": "on"}).status_code == 404

    assert unchanged() == before
    assert AccessLog.objects.filter(
        user=bob, outcome="denied", target=f"journal ward {a.pk}"
    ).exists()


def test_anonymous_is_sent_to_sign_in_and_a_roleless_user_refused(client, staffed):
    url = journal_url(staffed["a"])
    answer = client.get(url)
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]
    client.force_login(person("rolf", None, staffed["a"]))
    assert client.get(url).status_code == 403


def test_it_sees_every_wards_journal(client, staffed):
    client.force_login(staffed["ivan"])
    assert client.get(journal_url(staffed["b"])).status_code == 200


def test_a_clerk_admits_a_new_patient_and_prints_the_label_sheet(
    client, staffed, block
):
    a = staffed["a"]
    clerk = person("cleo", "clerk", a)
    client.force_login(clerk)
    number = block.numbers.first()

    form = client.get(reverse("downtime:journal-admit", args=[a.pk]))
    assert number.number in form.text
    assert "BED-3" in form.text
    assert "BED-1" not in form.text  # free beds only
    answer = client.post(
        reverse("downtime:journal-admit", args=[a.pk]),
        {
            "new-number": number.pk,
            "new-family": "Unknown",
            "new-given": "Man about 40",
            "new-sex": "male",
            "new-bed": bed("BED-3").pk,
            "new-occurred_at": local(ago(3)),
            "new-paper_ref": "R-1",
            "new": "",
        },
        follow=True,
    )

    assert answer.status_code == 200
    patient = Patient.objects.get(mrn=number.number)
    labels = reverse("printouts:labels", args=[a.pk]) + f"?patient={patient.pk}"
    assert labels in answer.text  # the message's link
    entry = CensusEntry.objects.get()
    assert (entry.kind, entry.bed.name, entry.paper_ref) == (
        "admission",
        "BED-3",
        "R-1",
    )
    assert entry.entered_by == clerk
    sheet = client.get(labels)
    assert sheet.status_code == 200
    assert sheet["Content-Type"] == "application/pdf"
    log = AccessLog.objects.filter(action="labels").latest("at")
    assert log.patients == [patient.pk]
    # A patient not on the ward: nothing printed.
    other = who("MRN-9")
    url = reverse("printouts:labels", args=[a.pk]) + f"?patient={other.pk}"
    assert client.get(url).status_code == 404


def admit_post(client, ward, **values) -> object:
    data = {
        "new-family": "Unknown",
        "new-occurred_at": local(ago(3)),
        "new": "",
    } | {f"new-{key}": value for key, value in values.items()}
    return client.post(reverse("downtime:journal-admit", args=[ward.pk]), data)


def test_a_taken_bed_is_refused_with_a_message_and_changes_nothing(
    client, staffed, block
):
    client.force_login(staffed["ann"])
    before = unchanged()

    answer = admit_post(
        client, staffed["a"], number=block.numbers.first().pk, bed=bed("BED-1").pk
    )

    assert answer.status_code == 400
    assert "Bed BED-1 is taken: choose a free bed." in answer.text
    assert unchanged() == before


def test_a_used_number_and_a_future_time_are_refused(client, staffed, block):
    a, ann = staffed["a"], staffed["ann"]
    used = block.numbers.first()
    journal_admit(
        downtime=staffed["downtime"],
        user=ann,
        ward=a,
        bed=None,
        occurred_at=ago(9),
        number=used,
        family="First",
    )
    client.force_login(ann)
    before = unchanged()

    again = admit_post(client, a, number=used.pk)
    later = admit_post(
        client,
        a,
        number=block.numbers.last().pk,
        occurred_at=local(timezone.now() + dt.timedelta(hours=2)),
    )

    assert again.status_code == later.status_code == 400
    assert "not one of the ward&#x27;s unused numbers" in again.text
    assert "That time is in the future." in later.text
    assert unchanged() == before


def test_a_known_patient_is_admitted_by_mrn_and_a_wrong_mrn_refused(client, staffed):
    a, ann = staffed["a"], staffed["ann"]
    gone = Encounter.objects.get(source_id="e9")
    gone.status = "finished"
    gone.save()
    client.force_login(ann)
    url = reverse("downtime:journal-admit", args=[a.pk])
    data = {"known-occurred_at": local(ago(2)), "known": ""}

    wrong = client.post(url, data | {"known-mrn": "MRN-NOPE"})
    assert wrong.status_code == 400
    assert "No patient with this MRN" in wrong.text
    right = client.post(
        url, data | {"known-mrn": "MRN-9", "known-bed": bed("BED-3").pk}
    )

    assert right.status_code == 302
    entry = CensusEntry.objects.get()
    assert (entry.patient.mrn, entry.ward, entry.number) == ("MRN-9", a, None)


def test_a_nurse_transfers_one_patient_and_discharges_another(client, staffed):
    a, b, ann = staffed["a"], staffed["b"], staffed["ann"]
    client.force_login(ann)
    p1, p2 = who("MRN-4711"), who("MRN-4712")

    form = client.get(
        reverse("downtime:journal-transfer", args=[a.pk]) + f"?patient={p1.pk}"
    )
    assert 'label="WARD-B"' in form.text  # free beds by ward
    moved = client.post(
        reverse("downtime:journal-transfer", args=[a.pk]),
        {
            "patient": p1.pk,
            "ward": b.pk,
            "bed": bed("BED-8").pk,
            "occurred_at": local(ago(4)),
        },
    )
    left = client.post(
        reverse("downtime:journal-discharge", args=[a.pk]),
        {
            "patient": p2.pk,
            "disposition": "hospital",
            "destination": "AZ Elders",
            "occurred_at": local(ago(2)),
        },
    )

    assert moved.status_code == left.status_code == 302
    assert list(Encounter.objects.on_census().filter(ward=a)) == []
    page = client.get(journal_url(a)).text
    assert "from WARD-A to WARD-B" in page
    assert "To another hospital: AZ Elders" in page


def test_a_bed_of_another_ward_is_refused(client, staffed):
    a, b, ann = staffed["a"], staffed["b"], staffed["ann"]
    client.force_login(ann)
    before = unchanged()

    answer = client.post(
        reverse("downtime:journal-transfer", args=[a.pk]),
        {
            "patient": who("MRN-4711").pk,
            "ward": b.pk,
            "bed": bed("BED-3").pk,
            "occurred_at": local(ago(4)),
        },
    )

    assert answer.status_code == 400
    assert "Bed BED-3 is not a bed of WARD-B." in answer.text
    assert unchanged() == before


def test_another_wards_patient_cannot_be_transferred_from_here(client, staffed):
    a, ann = staffed["a"], staffed["ann"]
    client.force_login(ann)
    before = unchanged()

    answer = client.post(
        reverse("downtime:journal-discharge", args=[a.pk]),
        {
            "patient": who("MRN-9").pk,
            "disposition": "home",
            "occurred_at": local(ago(4)),
        },
    )

    assert answer.status_code == 400
    assert "no longer on the ward" in answer.text
    assert unchanged() == before


def test_an_entry_marked_in_error_shows_with_its_correction(client, staffed):
    a, ann = staffed["a"], staffed["ann"]
    entry = journal_transfer(
        downtime=staffed["downtime"],
        user=ann,
        patient=who("MRN-4712"),
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(5),
    )
    client.force_login(ann)
    url = reverse("downtime:journal-correct", args=[a.pk, entry.pk])
    assert "BED-3" in client.get(url).text

    answer = client.post(url, {"void": "on", "paper_ref": "C-2"}, follow=True)

    assert answer.status_code == 200
    assert "Correction entered" in answer.text
    assert "it never happened" in answer.text
    assert "entered in error" in answer.text
    assert url not in answer.text  # no correcting it twice
    assert CensusEntry.objects.filter(corrects=entry, void=True).count() == 1


def test_after_the_downtime_the_journal_is_read_only(client, staffed):
    a, ann = staffed["a"], staffed["ann"]
    journal_transfer(
        downtime=staffed["downtime"],
        user=ann,
        patient=who("MRN-4712"),
        ward=a,
        bed=bed("BED-3"),
        occurred_at=ago(5),
    )
    downtime_recover(downtime=staffed["downtime"], user=staffed["ivan"], why="Back")
    client.force_login(ann)
    before = unchanged()

    page = client.get(journal_url(a))
    form = client.post(reverse("downtime:journal-discharge", args=[a.pk]), follow=True)

    assert "Read only" in page.text
    assert reverse("downtime:journal-admit", args=[a.pk]) not in page.text
    assert "takes entries only during a downtime" in form.text
    assert unchanged() == before


def test_the_census_and_the_patient_page_mark_what_was_entered(client, staffed):
    a, b, ann = staffed["a"], staffed["b"], staffed["ann"]
    moved = journal_transfer(
        downtime=staffed["downtime"],
        user=ann,
        patient=who("MRN-4711"),
        ward=b,
        bed=bed("BED-8"),
        occurred_at=ago(5),
    )
    client.force_login(staffed["bob"])
    at = timezone.localtime(moved.occurred_at)

    census = client.get(reverse("patients:census", args=[b.pk])).text
    patient = client.get(reverse("patients:patient", args=[who("MRN-4711").pk])).text

    assert f"from WARD-A at {at:%d/%m %H:%M}" in census  # local time
    assert "entered during downtime by Marie Dupont" in census
    assert journal_url(b) in census
    assert "transferred from WARD-A to WARD-B" in patient
    assert "entered during downtime by Marie Dupont" in patient
    transfer = reverse("downtime:journal-transfer", args=[b.pk])
    assert f"{transfer}?patient={who('MRN-4711').pk}" in patient
    client.force_login(ann)
    assert journal_url(a) in client.get(reverse("patients:census", args=[a.pk])).text
