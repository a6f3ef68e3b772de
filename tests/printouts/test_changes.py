"""Printing only what changed: the clerk's page records what each ward's
binder holds, and "Print changes" makes a PDF of only the patients whose
pages changed since, behind a cover that says which beds and why."""

import pytest
from django.urls import reverse

from accounts.models import AccessLog
from patients.models import Location, Patient
from printouts.models import PackPrint, WardLanguage
from tests.patients.fhir import allergy, encounter, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.pdfs import keep_png, page_texts
from tests.printouts.test_views import person, ready

pytestmark = pytest.mark.django_db

NAMES = {"p1": "Adams", "p2": "Baert", "p3": "Claes", "p4": "Dubois"}


def someone(pid: str) -> dict:
    return {
        **patient(pid, mrn=f"MRN-{pid}"),
        "name": [{"family": NAMES[pid], "given": ["Jo"]}],
    }


@pytest.fixture
def ward() -> Location:
    load(
        [
            *ward_with_beds("bed-1", "bed-2", "bed-3", "bed-4"),
            *(someone(pid) for pid in ("p1", "p2", "p3")),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            encounter("e3", "p3", bed="bed-3"),
        ]
    )
    return Location.objects.get(kind=Location.Kind.WARD)


def a_shift_later() -> None:
    """p1 gets an allergy, p2 goes home, p4 comes into bed 4; p3 is as before."""
    load(
        [
            allergy("a1", "p1", "Latex"),
            encounter("e2", "p2", status="finished", bed="bed-2"),
            someone("p4"),
            encounter("e4", "p4", bed="bed-4"),
        ]
    )


def patient_pages(texts: list[str]) -> dict[str, list[int]]:
    """Family name: the pages (1-based) of the PDF that are that patient's
    section (the cover and the census, which list patients, aside)."""
    found: dict[str, list[int]] = {}
    for number, text in enumerate(texts, 1):
        if number == 1 or "Census:" in text or "Recensement" in text:
            continue
        for name in NAMES.values():
            if name.upper() in text:
                found.setdefault(name, []).append(number)
    return found


def changes(client, pack):
    return client.get(reverse("printouts:changes", args=[pack.pk]))


def test_print_changes_holds_exactly_the_changed_patients_behind_a_cover(client, ward):
    client.force_login(person("marie", "clerk", ward))
    first = ready(ward)
    full = client.get(reverse("printouts:download", args=[first.pk]))
    assert full.status_code == 200
    printed = PackPrint.objects.get()
    assert (printed.kind, printed.pages, printed.pack) == (
        "full",
        first.page_count,
        first,
    )

    a_shift_later()
    second = ready(ward)
    page = client.get(reverse("printouts:packs")).content.decode()
    assert "Print changes (3 beds)" in page
    assert "Binder: printed in full" in page

    answer = changes(client, second)

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert "no-store" in answer["Cache-Control"]
    texts = [" ".join(text.split()) for text in page_texts(answer.content)]
    keep_png(answer.content, 1, "changes-cover.png")
    cover = texts[0]
    assert "Changes for the binder: WARD-A" in cover
    assert "These pages replace those of the print by Marie Dupont" in cover
    assert "ADAMS, Jo MRN-p1 allergies, code status or alerts" in cover
    assert "DUBOIS, Jo MRN-p4 new patient" in cover
    assert "BAERT, Jo" in cover  # left: take out her pages
    assert "CLAES" not in cover
    # Then the new census and the sections of the two changed patients, as
    # they are in the pack (its page numbers), and nothing of anyone else.
    assert "Census: WARD-A" in texts[1]
    sections = patient_pages(texts)
    assert set(sections) == {"Adams", "Dubois"}
    assert "Latex" in " ".join(texts[page - 1] for page in sections["Adams"])
    assert all("Printed by Marie Dupont at" in text for text in texts)
    assert all(f"of {second.page_count}" in text for text in texts[1:])
    # Recorded as the ward's print, and logged.
    last = PackPrint.objects.latest("printed_at")
    assert (last.kind, last.pages, last.pack) == ("changes", len(texts), second)
    entry = AccessLog.objects.filter(action="changes").get()
    assert entry.outcome == "allowed"
    left = Patient.objects.get(mrn="MRN-p2").pk  # on the cover, so logged
    assert sorted(entry.patients) == sorted([*second.patients, left])
    # The binder now holds the new pack: nothing more to print; and if the
    # printer jammed, the same changes again.
    page = client.get(reverse("printouts:packs")).content.decode()
    assert "Binder up to date" in page
    assert "Print these changes again" in page
    again = changes(client, second)
    assert again.status_code == 200
    again_cover = " ".join(page_texts(again.content)[0].split())
    assert "DUBOIS, Jo MRN-p4 new patient" in again_cover  # the same changes
    assert "BAERT, Jo" in again_cover
    assert PackPrint.objects.count() == 3


def test_a_patient_moved_to_another_bed_is_taken_out_from_the_old_one(client, ward):
    client.force_login(person("marie", "clerk", ward))
    client.get(reverse("printouts:download", args=[ready(ward).pk]))
    load([encounter("e1", "p1", bed="bed-4")])  # ADAMS from bed 1 to bed 4

    cover = " ".join(page_texts(changes(client, ready(ward)).content)[0].split())

    assert "BED-4 ADAMS, Jo MRN-p1 moved bed BED-1: pages 3" in cover


def test_an_older_pack_is_not_printed_against_a_newer_print(client, ward):
    client.force_login(person("marie", "clerk", ward))
    older = ready(ward)
    a_shift_later()
    client.get(reverse("printouts:download", args=[ready(ward).pk]))

    assert changes(client, older).status_code == 302
    assert PackPrint.objects.count() == 1


def test_the_zip_of_every_pack_is_a_copy_not_a_binder_printed(client, ward):
    ready(ward)
    client.force_login(person("ivan", "it"))
    assert client.get(reverse("printouts:zip")).status_code == 200
    assert not PackPrint.objects.exists()


def test_without_a_print_the_ward_is_asked_to_print_in_full(client, ward):
    client.force_login(person("marie", "clerk", ward))
    pack = ready(ward)
    page = client.get(reverse("printouts:packs")).content.decode()
    assert "Binder: no print from this page yet" in page
    assert "Print changes" not in page

    answer = changes(client, pack)

    assert answer.status_code == 302
    assert not PackPrint.objects.exists()


def test_a_nurse_reading_the_pack_does_not_change_what_the_binder_holds(client, ward):
    pack = ready(ward)
    client.force_login(person("nina", "nurse", ward))
    assert client.get(reverse("printouts:download", args=[pack.pk])).status_code == 200
    assert not PackPrint.objects.exists()
    assert changes(client, pack).status_code == 403


def test_another_wards_clerk_gets_nothing(client, ward):
    pack = ready(ward)
    client.force_login(person("marie", "clerk", ward))
    client.get(reverse("printouts:download", args=[pack.pk]))
    load(
        [
            {**ward_with_beds("bed-9")[0], "id": "ward-b", "name": "WARD-B"},
            {**ward_with_beds("bed-9")[1], "partOf": {"reference": "Location/ward-b"}},
            ward_with_beds("bed-9")[2],
        ]
    )
    client.force_login(person("bob", "clerk", Location.objects.get(name="WARD-B")))

    assert changes(client, pack).status_code == 404
    denied = AccessLog.objects.filter(username="bob").get()
    assert (denied.action, denied.outcome) == ("changes", "denied")
    assert not denied.patients


def test_a_new_paper_language_changes_every_page(client, ward):
    client.force_login(person("marie", "clerk", ward))
    client.get(reverse("printouts:download", args=[ready(ward).pk]))
    WardLanguage.objects.create(location=ward, language="fr")

    texts = page_texts(changes(client, ready(ward)).content)

    assert "Modifications pour le classeur" in texts[0]
    assert set(patient_pages(texts)) == {"Adams", "Baert", "Claes"}
