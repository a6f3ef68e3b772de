"""A transfer summary: one patient's pages, to go with them to another
hospital, made on demand for the staff of the patient's ward."""

import pytest
from django.urls import reverse

from accounts.models import AccessLog
from patients.models import Patient
from printouts.models import WardLanguage
from tests.patients.fhir import encounter, patient
from tests.patients.test_pages import wards  # noqa: F401 - the fixture
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_documents import code_status
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def url(mrn: str) -> str:
    patient = Patient.objects.get(mrn=mrn)
    return reverse("printouts:transfer-summary", args=[patient.pk])


def text_of(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    return " ".join(" ".join(page.split()) for page in page_texts(response.content))


def test_the_summary_holds_the_patients_allergies_and_code_status_only(client, wards):  # noqa: F811 - the fixture
    ward_a, _ward_b = wards
    load([code_status("f1", "p1", "Do not resuscitate (DNR)")])
    client.force_login(person("ann", "nurse", ward_a))

    text = text_of(client.get(url("MRN-4711")))

    assert "TRANSFER SUMMARY · WARD-A" in text
    assert "PEETERS, Anaïs" in text
    assert "MRN-4711" in text
    assert "Penicillin" in text
    assert "Do not resuscitate (DNR)" in text
    assert "Paracetamol 1 g tablet" in text
    assert "Printed by Marie Dupont at" in text
    # Nothing of the ward's other patient, nor of another ward's.
    assert "AALST" not in text
    assert "MRN-4712" not in text
    assert "MRN-9" not in text
    entry = AccessLog.objects.get()
    assert (entry.action, entry.outcome) == ("transfer", "allowed")
    assert entry.patients == [Patient.objects.get(mrn="MRN-4711").pk]


def test_it_is_printed_in_the_wards_language(client, wards):  # noqa: F811 - the fixture
    ward_a, _ward_b = wards
    WardLanguage.objects.create(location=ward_a, language="fr")
    client.force_login(person("ivan", "it"))
    text = text_of(client.get(url("MRN-4711")))
    assert "RÉSUMÉ DE TRANSFERT · WARD-A" in text
    assert "Imprimé par" in text


def test_another_wards_staff_and_strangers_get_nothing(client, wards):  # noqa: F811 - the fixture
    _ward_a, ward_b = wards
    client.force_login(person("bob", "nurse", ward_b))
    assert client.get(url("MRN-4711")).status_code == 404
    denied = AccessLog.objects.get()
    assert (denied.action, denied.outcome) == ("transfer", "denied")
    client.logout()
    assert client.get(url("MRN-4711")).status_code == 302  # to sign in


def test_a_clerk_picks_the_bed_of_the_patient_who_leaves(client, wards):  # noqa: F811 - the fixture
    ward_a, _ward_b = wards
    client.force_login(person("cleo", "clerk", ward_a))

    page = client.get(reverse("printouts:packs")).content.decode()
    picker = page[page.index('id="transfer-bed"') :]
    picker = picker[: picker.index("</select>")]
    patient = Patient.objects.get(mrn="MRN-4712").pk
    assert f'<option value="{patient}">BED-2</option>' in picker
    assert "BED-1" in picker
    assert "BED-9" not in picker  # another ward's
    assert "AALST" not in page  # beds, not names

    chosen = client.get(reverse("printouts:transfer-pick"), {"patient": patient})
    assert chosen.status_code == 302
    text = text_of(client.get(chosen["Location"]))
    assert "AALST, Zoë" in text
    assert client.get(url("MRN-9")).status_code == 404  # WARD-B's patient
    for wrong in ("x", "²", ""):
        answer = client.get(reverse("printouts:transfer-pick"), {"patient": wrong})
        assert answer.status_code == 404


def test_a_patient_without_a_bed_is_picked_by_mrn(client, wards):  # noqa: F811 - the fixture
    ward_a, _ward_b = wards
    load(
        [
            patient("p3", mrn="MRN-4713"),
            {
                **encounter("e3", "p3"),
                "location": [{"location": {"reference": "Location/ward-a"}}],
            },
        ]
    )
    client.force_login(person("cleo", "clerk", ward_a))

    page = client.get(reverse("printouts:packs")).content.decode()
    picker = page[page.index('id="transfer-bed"') :]
    picker = picker[: picker.index("</select>")]

    waiting = Patient.objects.get(mrn="MRN-4713").pk
    assert f'<option value="{waiting}">no bed · MRN MRN-4713</option>' in picker
    assert picker.index("BED-2") < picker.index("no bed")  # beds first
