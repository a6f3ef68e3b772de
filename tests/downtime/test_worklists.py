"""Recovery worklists: made from the mirror as it stood when the downtime
began, per department, scoped by ward, each item done once by someone."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from downtime.models import WorklistItem
from downtime.numbers import number_text, number_use_record, numbers_allocate
from downtime.services import downtime_declare, downtime_recover
from downtime.worklists import (
    worklist_add_from_paper,
    worklist_item_done,
    worklists_build,
)
from patients.models import MedicationOrder
from tests.downtime.test_page import PASSWORD
from tests.patients.fhir import medication
from tests.patients.test_pages import lab_order
from tests.printouts.conftest import load
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db
Worklist = WorklistItem.Worklist


@pytest.fixture
def orders(wards):
    load(
        [
            lab_order("o1", "p1", "LAB-1", "stat"),
            lab_order("o9", "p9", "LAB-9"),
            medication("m9", "p9", "Amoxicillin 500 mg capsule"),
        ]
    )
    return wards


def test_declaring_makes_each_department_its_list_of_what_stood(orders):
    _ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    items = WorklistItem.objects.filter(downtime=downtime)
    nursing = items.filter(worklist=Worklist.NURSING)
    assert sorted(nursing.values_list("mrn", "ward", "bed")) == [
        ("MRN-4711", "WARD-A", "BED-1"),
        ("MRN-4712", "WARD-A", "BED-2"),
        ("MRN-9", "WARD-B", "BED-9"),
    ]
    pharmacy = items.filter(worklist=Worklist.PHARMACY)
    assert sorted(pharmacy.values_list("mrn", flat=True)) == ["MRN-4711", "MRN-9"]
    assert any("Paracetamol 1 g tablet" in i.what for i in pharmacy)
    labs = items.filter(worklist=Worklist.LABORATORY)
    assert sorted(labs.values_list("what", flat=True)) == [
        "LAB-1 Potassium (Stat)",
        "LAB-9 Potassium",
    ]
    assert not items.filter(worklist=Worklist.REGISTRATION).exists()
    assert not items.filter(done_at__isnull=False).exists()

    # The mirror moves on; the worklist stays as it stood, and is made once.
    MedicationOrder.objects.all().delete()
    assert worklists_build(downtime=downtime) == 0
    assert items.filter(worklist=Worklist.PHARMACY).count() == 2


def test_a_recorded_downtime_number_goes_to_registration(orders):
    ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    numbers_allocate(location=ward_a, count=3, user=ivan)
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    number_use_record(
        number=number_text(2),
        location=ward_a,
        used_at=timezone.now(),
        used_by="Nurse Ann",
        user=ivan,
    )
    item = WorklistItem.objects.get(downtime=downtime, worklist=Worklist.REGISTRATION)
    assert item.what == f"Match {number_text(2)} with the patient's real MRN"
    assert (item.location, item.number.number) == (ward_a, number_text(2))


def test_a_nurse_works_her_wards_list_and_marks_items_done(client, orders):
    ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    downtime_recover(downtime=downtime, user=ivan, why="Back")
    anne = person("anne", "nurse", ward_a)
    client.force_login(anne)

    home = client.get(reverse("patients:home")).content.decode()
    assert reverse("downtime:worklists", args=[downtime.pk]) in home  # banner
    overview = client.get(reverse("downtime:worklists", args=[downtime.pk]))
    text = overview.content.decode()
    assert "Pharmacy" in text
    assert "0 / 1" in text
    url = reverse("downtime:worklist", args=[downtime.pk, "nursing"])
    page = client.get(url).content.decode()
    assert "MRN-4711" in page
    assert "MRN-4712" in page
    assert "MRN-9" not in page
    entry = AccessLog.objects.filter(action=AccessLog.Action.WORKLIST).latest("at")
    assert (entry.username, entry.outcome) == ("anne", "allowed")
    assert len(entry.patients) == 2

    mine = WorklistItem.objects.get(
        downtime=downtime, worklist="nursing", mrn="MRN-4711"
    )
    done = reverse("downtime:worklist-done", args=[mine.pk])
    response = client.post(done, {"note": "Entered in EHR", "next": url})
    assert response.status_code == 302
    assert response.url == url
    mine.refresh_from_db()
    assert (mine.done_by, mine.note) == (anne, "Entered in EHR")
    assert mine.done_at is not None
    response = client.post(done, {"next": url}, follow=True)
    assert "Already done by Marie Dupont" in response.content.decode()
    assert "1 / 2" in client.get(url).content.decode()

    theirs = WorklistItem.objects.get(
        downtime=downtime, worklist="nursing", mrn="MRN-9"
    )
    assert (
        client.post(reverse("downtime:worklist-done", args=[theirs.pk])).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.done_at is None
    response = client.post(done, {"next": "https://elsewhere.example/"})
    assert response.url == url  # never sent off-site


def test_paper_brings_items_to_laboratory_and_nursing_only(client, orders):
    ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    client.force_login(person("claire", "clerk", ward_a))
    url = reverse("downtime:worklist", args=[downtime.pk, "laboratory"])
    response = client.post(
        url,
        {"location": ward_a.pk, "patient": "DT0001230", "what": "Troponin 14:10"},
    )
    assert response.status_code == 302
    item = WorklistItem.objects.get(downtime=downtime, from_paper=True)
    assert (item.worklist, item.ward, item.what) == (
        "laboratory",
        "WARD-A",
        "Troponin 14:10",
    )
    assert "Troponin 14:10" in client.get(url).content.decode()
    response = client.post(url, {"location": ward_a.pk, "patient": "", "what": "x"})
    assert response.status_code == 400
    pharmacy = reverse("downtime:worklist", args=[downtime.pk, "pharmacy"])
    assert client.post(pharmacy, {"what": "x"}).status_code == 404
    assert (
        client.get(
            reverse("downtime:worklist", args=[downtime.pk, "bogus"])
        ).status_code
        == 404
    )


def test_it_sees_every_ward_and_anonymous_nobody(client, orders):
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    url = reverse("downtime:worklist", args=[downtime.pk, "nursing"])
    assert client.get(url).url.startswith(reverse("accounts:login"))
    client.force_login(ivan)
    page = client.get(url).content.decode()
    for mrn in ("MRN-4711", "MRN-4712", "MRN-9"):
        assert mrn in page


def test_a_closed_downtimes_worklists_are_kept_as_they_were(client, orders):
    from django.core.exceptions import ValidationError

    from downtime.services import downtime_close

    ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    downtime = downtime_recover(downtime=downtime, user=ivan, why="Back")
    left = WorklistItem.objects.filter(downtime=downtime).count()
    downtime = downtime_close(
        downtime=downtime, user=ivan, why="Done", left_accepted=left
    )
    item = WorklistItem.objects.filter(downtime=downtime).first()
    with pytest.raises(ValidationError, match="kept as they were"):
        worklist_item_done(item=item, user=ivan)
    with pytest.raises(ValidationError, match="kept as they were"):
        worklist_add_from_paper(
            downtime=downtime,
            worklist="nursing",
            location=ward_a,
            patient="x",
            what="y",
            user=ivan,
        )
    client.force_login(ivan)
    page = client.get(reverse("downtime:worklist", args=[downtime.pk, "nursing"]))
    text = page.content.decode()
    assert "Add what the paper brought back" not in text
    assert 'class="done-form"' not in text
    item.refresh_from_db()
    assert item.done_at is None


def test_closing_with_items_left_asks_for_a_tick_that_names_how_many(client, orders):
    ward_a, _ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    downtime = downtime_recover(downtime=downtime, user=ivan, why="Back")
    left = WorklistItem.objects.filter(downtime=downtime).count()
    assert left == 7  # three patients, two medications, two lab orders
    client.force_login(ivan)
    page = client.get(reverse("downtime:page")).content.decode()
    assert "7 items of the recovery worklists are not done." in page
    assert "Laboratory: 0 of 2 done" in page
    assert 'name="left_accepted" value="7"' in page
    assert "checked" not in page.split('name="left_accepted"')[1].split(">")[0]

    close = reverse("downtime:close", args=[downtime.pk])
    closing = {"why": "All re-entered", "password": PASSWORD}
    response = client.post(close, closing)
    assert response.status_code == 409
    assert (
        "7 items of the recovery worklists are not done." in response.content.decode()
    )
    downtime.refresh_from_db()
    assert downtime.state == "recovery"

    # An item came back from paper since the page was shown: it asks again,
    # naming the new count.
    worklist_add_from_paper(
        downtime=downtime,
        worklist="nursing",
        location=ward_a,
        patient="x",
        what="y",
        user=ivan,
    )
    response = client.post(close, closing | {"left_accepted": "7"})
    assert response.status_code == 409
    text = response.content.decode()
    assert "8 items of the recovery worklists are not done." in text
    assert 'name="left_accepted" value="8"' in text
    downtime.refresh_from_db()
    assert downtime.state == "recovery"

    response = client.post(close, closing | {"left_accepted": "8"})
    assert response.status_code == 302
    downtime.refresh_from_db()
    assert downtime.state == "closed"


def test_with_every_item_done_closing_asks_nothing_more(client, orders):
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    downtime = downtime_recover(downtime=downtime, user=ivan, why="Back")
    for item in WorklistItem.objects.filter(downtime=downtime):
        worklist_item_done(item=item, user=ivan)
    client.force_login(ivan)
    page = client.get(reverse("downtime:page")).content.decode()
    assert "left_accepted" not in page
    assert "not done" not in page
    response = client.post(
        reverse("downtime:close", args=[downtime.pk]),
        {"why": "All re-entered", "password": PASSWORD},
    )
    assert response.status_code == 302


def pharmacy_items(downtime, ward, count: int) -> None:
    """As many medication orders to reconcile as a big ward has."""
    WorklistItem.objects.bulk_create(
        WorklistItem(
            downtime=downtime,
            worklist=Worklist.PHARMACY,
            location=ward,
            ward=ward.name,
            bed=f"BED-{number:03d}",
            patient_name=f"PATIENT, Number {number}",
            mrn=f"MRN-B{number}",
            what="Paracetamol 1 g tablet 1 g Oral 4x/d",
            added_at=timezone.now(),
        )
        for number in range(count)
    )


@pytest.fixture
def long_worklist(orders):
    """Pharmacy: 1 + 150 items on WARD-A, 1 + 80 on WARD-B, in recovery."""
    ward_a, ward_b = orders
    ivan = person("ivan", "it")
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    downtime = downtime_recover(downtime=downtime, user=ivan, why="Back")
    pharmacy_items(downtime, ward_a, 150)
    pharmacy_items(downtime, ward_b, 80)
    return downtime, ivan, ward_a, ward_b


def ward_heading(name: str) -> str:
    return f'<tr class="ward"><th scope="rowgroup" colspan="4">{name}</th></tr>'


def test_a_long_worklist_comes_a_hundred_at_a_time_grouped_by_ward(
    client, long_worklist, django_assert_max_num_queries
):
    downtime, ivan, _ward_a, _ward_b = long_worklist
    client.force_login(ivan)
    url = reverse("downtime:worklist", args=[downtime.pk, "pharmacy"])

    with django_assert_max_num_queries(14):
        first = client.get(url).content.decode()
    with django_assert_max_num_queries(14):
        second = client.get(url, {"page": 2}).content.decode()
    last = client.get(url, {"page": 3}).content.decode()

    assert [page.count('class="done-form"') for page in (first, second, last)] == [
        100,
        100,
        32,
    ]
    assert ward_heading("WARD-A") in first
    assert ward_heading("WARD-B") not in first
    assert ward_heading("WARD-A") in second  # WARD-A goes on, then WARD-B
    assert second.index(ward_heading("WARD-A")) < second.index(ward_heading("WARD-B"))
    assert ward_heading("WARD-A") not in last
    assert "Items 101 to 200 of 232" in second
    assert "0 / 232" in second  # the count is the whole list's
    assert 'href="?page=3" rel="next"' in second
    assert 'href="?page=1" rel="prev"' in second
    assert second.count('<strong aria-current="page">2</strong>') == 2  # above, below
    # A page past the end shows the last; nonsense, the first.
    assert "Items 201 to 232 of 232" in client.get(url, {"page": 99}).content.decode()
    assert "Items 1 to 100 of 232" in client.get(url, {"page": "x"}).content.decode()
    entry = AccessLog.objects.filter(action=AccessLog.Action.WORKLIST).latest("pk")
    assert len(entry.patients) <= 2  # this page's patients, not the list's


def test_the_pages_keep_the_ward_and_done_returns_to_the_same_page(
    client, long_worklist
):
    downtime, _ivan, ward_a, _ward_b = long_worklist
    anne = person("anne", "nurse", ward_a)
    client.force_login(anne)
    url = reverse("downtime:worklist", args=[downtime.pk, "pharmacy"])
    query = {"ward": ward_a.pk, "open": "1", "page": "2"}

    page = client.get(url, query).content.decode()

    assert "Items 101 to 151 of 151" in page
    assert f'href="?ward={ward_a.pk}&amp;open=1&amp;page=1" rel="prev"' in page
    assert ward_heading("WARD-B") not in page
    links = re.findall(r'href="(\?[^"]*)"', page)
    assert links
    for link in links:  # ward ids and page numbers, nothing of a patient
        assert re.fullmatch(r"\?ward=\d+&amp;open=1&amp;page=\d+", link), link
    here = f"{url}?ward={ward_a.pk}&open=1&page=2"
    assert f'name="next" value="{html.escape(here)}"' in page
    item = WorklistItem.objects.filter(
        downtime=downtime, worklist=Worklist.PHARMACY, ward="WARD-A"
    ).last()
    done = client.post(
        reverse("downtime:worklist-done", args=[item.pk]), {"next": here}
    )
    assert done.status_code == 302
    assert done.url == here
    assert "Items 101 to 150 of 150" in client.get(done.url).content.decode()
