"""Downtime registration numbers: allocated in blocks that never overlap,
printed as label sheets with barcodes, their use recorded from paper."""

import datetime as dt
import io
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from downtime.journal import journal_admit
from downtime.models import DowntimeNumber
from downtime.numbers import (
    check_digit,
    number_labels,
    number_text,
    number_use_record,
    numbers_allocate,
)
from downtime.services import downtime_declare
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def test_numbers_carry_a_check_digit_that_catches_a_copying_slip():
    assert check_digit("7992739871") == "3"  # Luhn's own example
    assert number_text(123) == "DT0001230"
    number = number_text(4711)
    for position in range(2, len(number) - 1):  # any one digit copied wrong
        for digit in "0123456789":
            if digit != number[position]:
                slip = number[:position] + digit + number[position + 1 :]
                assert check_digit(slip[2:-1]) != slip[-1], slip


def test_blocks_follow_each_other_and_never_share_a_number(wards):
    ward_a, ward_b = wards
    ivan = person("ivan", "it")
    first = numbers_allocate(location=ward_a, count=21, user=ivan)
    second = numbers_allocate(location=ward_b, count=42, user=ivan)
    assert (first.first, first.last, second.first, second.last) == (1, 21, 22, 63)
    numbers = list(DowntimeNumber.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 63
    assert all(n.startswith("DT") and len(n) == 9 for n in numbers)


@pytest.mark.django_db(transaction=True)
def test_allocations_at_the_same_moment_still_never_overlap(wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", None)  # a flushed database has no role groups
    errors = []

    def allocate() -> None:
        try:
            numbers_allocate(location=ward_a, count=30, user=ivan)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = sorted(DowntimeNumber.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, 121))


def test_a_prefix_that_begins_a_real_mrn_is_refused(wards, settings):
    ward_a, _ward_b = wards
    settings.DOWNTIME_NUMBER_PREFIX = "MRN"  # the test MRNs are MRN-4711...
    with pytest.raises(Exception, match="Some real MRNs start with MRN"):
        numbers_allocate(location=ward_a, count=5, user=person("ivan", "it"))
    assert not DowntimeNumber.objects.exists()


def test_the_journals_own_downtime_number_patients_are_no_real_mrns(wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", "it")
    number = numbers_allocate(location=ward_a, count=1, user=ivan).numbers.get()
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    journal_admit(
        downtime=downtime,
        user=ivan,
        ward=ward_a,
        bed=None,
        occurred_at=timezone.now(),
        number=number,
        family="Unknown",
    )

    assert numbers_allocate(location=ward_a, count=5, user=ivan).size == 5


def test_the_label_sheets_hold_every_number_with_its_barcode(wards):
    ward_a, _ward_b = wards
    block = numbers_allocate(location=ward_a, count=25, user=person("ivan", "it"))
    reader = PdfReader(io.BytesIO(number_labels(block=block, language="en")))
    assert len(reader.pages) == 2  # 21 labels a sheet
    text = " ".join(page.extract_text() for page in reader.pages)
    for sequence in range(block.first, block.last + 1):
        number = number_text(sequence)
        assert f"DT {number[2:-1]} {number[-1]}" in text
    assert text.count("DOWNTIME NUMBER") == 25
    barcodes = {image.name for page in reader.pages for image in page.images}
    assert len(barcodes) == 25  # one of its own each


def test_a_use_is_recorded_once_with_ward_time_and_who(wards):
    ward_a, ward_b = wards
    ivan = person("ivan", "it")
    numbers_allocate(location=ward_a, count=5, user=ivan)
    downtime = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    used_at = timezone.now()  # on paper, after the declaration
    number = number_text(3)
    spoken = f"dt {number[2:-1]} {number[-1]}"  # as read from paper
    recorded = number_use_record(
        number=spoken, location=ward_b, used_at=used_at, used_by="Nurse Ann", user=ivan
    )
    assert (recorded.number, recorded.used_on, recorded.used_by) == (
        number,
        ward_b,
        "Nurse Ann",
    )
    assert (recorded.used_at, recorded.downtime, recorded.recorded_by) == (
        used_at,
        downtime,
        ivan,
    )
    with pytest.raises(Exception, match="already recorded: WARD-B"):
        number_use_record(
            number=number, location=ward_a, used_at=used_at, used_by="X", user=ivan
        )
    slip = number[:-2] + str((int(number[-2]) + 1) % 10) + number[-1]
    with pytest.raises(Exception, match="a digit was probably copied wrong"):
        number_use_record(
            number=slip, location=ward_a, used_at=used_at, used_by="X", user=ivan
        )
    with pytest.raises(Exception, match="No such number was ever allocated"):
        number_use_record(
            number=number_text(999),
            location=ward_a,
            used_at=used_at,
            used_by="X",
            user=ivan,
        )
    with pytest.raises(Exception, match="seven digits"):
        number_use_record(
            number="12345", location=ward_a, used_at=used_at, used_by="X", user=ivan
        )


def test_the_numbers_page_is_it_only_and_does_what_it_says(client, wards):
    ward_a, ward_b = wards
    url = reverse("downtime:numbers")
    client.force_login(person("claire", "clerk", ward_a))
    assert client.get(url).status_code == 403
    assert client.post(url, {"allocate": "1"}).status_code == 403

    client.force_login(person("ivan", "it"))
    response = client.post(
        url, {"allocate": "1", "allocate-location": ward_a.pk, "allocate-count": 21}
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert f"{number_text(1)} \N{EN DASH} {number_text(21)}" in page
    assert "0 / 21" in page
    block_id = DowntimeNumber.objects.get(sequence=1).block_id
    labels = client.get(reverse("downtime:number-labels", args=[block_id]))
    assert labels["Content-Type"] == "application/pdf"
    assert labels.content.startswith(b"%PDF")

    when = (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url,
        {
            "record": "1",
            "use-number": number_text(2),
            "use-location": ward_b.pk,
            "use-used_at": when,
            "use-used_by": "Dr Who",
        },
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "1 / 21" in page
    assert "Dr Who" in page
    response = client.post(
        url,
        {
            "record": "1",
            "use-number": "DT0000021",
            "use-location": ward_b.pk,
            "use-used_at": when,
            "use-used_by": "Dr Who",
        },
    )
    assert response.status_code == 400
    assert "a digit was probably copied wrong" in response.content.decode()
