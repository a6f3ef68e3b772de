"""A name holding a right-to-left override or zero-width characters shows
them as marks, on the nurse's pages and in the pack, so that it cannot
display as another name."""

import pytest
from django.urls import reverse

from config.invisible import shown
from patients.models import Location, Patient
from tests.patients.fhir import encounter, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_documents import render
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db

# Displays as "Jansen" followed by "eoR" reversed: "Jansen Roe" to the eye.
NAME = "Jans\u200ben \u202eeoR"


@pytest.fixture
def ward() -> Location:
    load(
        [
            *ward_with_beds("bed-1"),
            {**patient("p1"), "name": [{"family": NAME, "given": ["Ann\u200d"]}]},
            encounter("e1", "p1", bed="bed-1"),
        ]
    )
    return Location.objects.get(kind=Location.Kind.WARD)


def test_the_stored_name_is_kept_as_received(ward):
    assert Patient.objects.get().family == NAME


def test_pages_show_invisible_characters_as_marks(client, ward):
    client.force_login(person("anne", "nurse", ward))

    for url in (
        reverse("patients:census", args=[ward.pk]),
        reverse("patients:patient", args=[Patient.objects.get().pk]),
    ):
        page = client.get(url).content.decode()
        assert "[U+200B]EN [U+202E]" in page.upper()
        assert "Ann[U+200D]" in page
        assert "\u202e" not in page
        assert "\u200b" not in page


def test_the_pack_prints_invisible_characters_as_marks(ward):
    text = " ".join(page_texts(render(ward).pdf))

    assert "[U+202E]" in text
    assert "[U+200B]" in text
    assert "\u202e" not in text


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("Ab\u2066c\u2069", "Ab[U+2066]c[U+2069]"),
        ("\ufeffBOM", "[U+FEFF]BOM"),
        ("Zoë Müller-Łukasz", "Zoë Müller-Łukasz"),  # letters stay letters
        ("محمد", "محمد"),  # so does another script
        ("flag\U000e0067", "flag[U+E0067]"),
    ],
)
def test_marks(text, marked):
    assert shown(text) == marked
