"""The demo hospital's packs read as a nurse checks them: every page of a
patient's section carries the band, and like names on a ward are flagged."""

import pytest
from django.utils import timezone

from patients.models import Encounter, Location
from patients.names import similar_family_names
from printouts import documents
from tests.printouts.pdfs import page_texts
from tests.printouts.test_abbreviations import demo  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_every_patient_page_of_the_demo_packs_carries_the_band(demo):  # noqa: F811
    now = timezone.now()
    alike = 0
    for ward in Location.objects.filter(kind=Location.Kind.WARD):
        stays = list(
            Encounter.objects.on_census()
            .filter(ward=ward)
            .select_related("patient", "bed")
            .order_by("pk")
        )
        pack = documents.ward_pack(
            ward=ward, language="en", as_of=now, generated_at=now
        )
        texts = page_texts(pack.pdf)
        by_patient = {stay.patient_id: stay for stay in stays}

        for patient_id, (first, last) in pack.sections.items():
            stay = by_patient[patient_id]
            for text in texts[first - 1 : last]:
                assert str(stay.patient) in text
                assert f"MRN {stay.patient.mrn}" in text
                assert f"Bed {stay.bed.name}" in text
                assert "ALLERGIES:" in text
                assert "CODE STATUS:" in text
                assert "Data as of" in text

        flagged = {
            stay.patient_id
            for stay in stays
            for other in stays
            if other.patient_id != stay.patient_id
            and similar_family_names(stay.patient.family, other.patient.family)
        }
        alike += len(flagged)
        start = min(first for first, _last in pack.sections.values())
        census = " ".join(" ".join(texts[1 : start - 1]).split())  # after the cover
        assert census.count("NAME ALERT") == len(flagged)
        for patient_id in flagged:
            first, _last = pack.sections[patient_id]
            assert "NAME ALERT" in texts[first - 1]
    assert alike  # the demo has like names to flag
