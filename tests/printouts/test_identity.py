"""Who each sheet is about, as a nurse checks it at 3 a.m.: every page of a
patient's section names them, their bed, allergies and code status at the
top, with the time of the data; like names on one ward are flagged; weight
and height are there for dosing; a table never loses its heading."""

import io
import re

import pypdf
import pytest

from patients.models import Location
from tests.patients.fhir import allergy, encounter, medication, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_documents import by_patient, code_status, render

pytestmark = pytest.mark.django_db


def named(pid: str, mrn: str, family: str, given: str = "Jan") -> dict:
    return {**patient(pid, mrn=mrn), "name": [{"family": family, "given": [given]}]}


def measured(oid: str, pid: str, code: str, value, unit: str, when: str, **extra):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/"
                        "observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
        **extra,
    }


def top_texts(data: bytes, *, points: float = 40) -> list[str]:
    """Per page, the text drawn in its top ``points``."""
    found = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        height = float(page.mediabox.height)
        parts: list[str] = []

        def visit(text, cm, tm, _font, _size, parts=parts, height=height) -> None:
            if text.strip() and cm[5] + tm[5] * cm[3] > height - points:
                parts.append(text)

        page.extract_text(visitor_text=visit)
        found.append(" ".join(parts))
    return found


@pytest.fixture
def long_stay() -> Location:
    """One patient whose section runs over several pages, and a neighbour."""
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            named("p1", "MRN-0001", "Wouters", "Lies"),
            named("p2", "MRN-0002", "Claes"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            {**allergy("a1", "p1", "Penicillin"), "criticality": "high"},
            {**allergy("a2", "p1", "Latex"), "criticality": "low", "reaction": []},
            code_status("f1", "p1", "Do not resuscitate (DNR)"),
            *(
                medication(f"m{n}", "p1", f"Drug number {n:02d} 10 mg tablet")
                for n in range(30)
            ),
            *(
                medication(
                    f"r{n}",
                    "p1",
                    f"Rescue drug {n:02d} 5 mg tablet",
                    asNeededCodeableConcept={"text": "pain"},
                )
                for n in range(12)
            ),
        ]
    )
    return Location.objects.get(kind=Location.Kind.WARD)


def test_every_page_of_a_section_carries_the_patients_band_and_data_time(long_stay):
    pack = render(long_stay)
    texts = page_texts(pack.pdf)
    first, last = pack.sections[next(iter(pack.sections))]
    assert last - first >= 2  # the case that matters: a section of pages

    tops = top_texts(pack.pdf)
    for number in range(1, pack.pages + 1):
        assert "Data as of 22/11/2026 14:05" in tops[number - 1], number
    for text in texts[first - 1 : last]:
        assert "WOUTERS, Lies" in text
        assert "MRN MRN-0001" in text
        assert "Bed BED-1" in text
        band = text.split("Bed BED-1")[1].replace(" ,", ",")  # its second line
        assert re.match(r"\s*ALLERGIES: Latex, ⚠ Penicillin", band), band[:80]
        assert "CODE STATUS: ⚠ Do not resuscitate (DNR)" in band


def test_a_table_carries_its_heading_onto_every_page_it_runs_onto(long_stay):
    pack = render(long_stay)
    texts = page_texts(pack.pdf)
    first, last = pack.sections[next(iter(pack.sections))]
    headings = {
        "Drug number": "Medication administration record",
        "Rescue drug": "As needed (PRN)",
    }
    pages_of = dict.fromkeys(headings, 0)
    for text in texts[first - 1 : last]:
        for row, heading in headings.items():
            if row in text:
                pages_of[row] += 1
                assert heading in text.split(row)[0]  # above the first row
    assert pages_of["Drug number"] >= 2  # it did run onto another page


def test_like_family_names_on_a_ward_are_flagged_on_the_census_and_pages():
    load(
        [
            *ward_with_beds("bed-1", "bed-2", "bed-3"),
            named("p1", "MRN-0001", "Lambert", "Thibault"),
            named("p2", "MRN-0002", "Dubois"),
            named("p3", "MRN-0003", "LAMBERTS", "Thibault"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            encounter("e3", "p3", bed="bed-3"),
        ]
    )
    pack = render(Location.objects.get(kind=Location.Kind.WARD))
    texts = page_texts(pack.pdf)
    census = " ".join(texts[1].split())
    sections = by_patient(texts, pack)

    assert "LAMBERT, Thibault ⚠ NAME ALERT similar name in bed BED-3" in census
    assert "LAMBERTS, Thibault ⚠ NAME ALERT similar name in bed BED-1" in census
    assert census.count("NAME ALERT") == 2
    assert "similar name in bed BED-3" in sections["MRN-0001"]
    assert "similar name in bed BED-1" in sections["MRN-0003"]
    assert "NAME ALERT" not in sections["MRN-0002"]


def test_weight_and_height_are_the_newest_whatever_their_category():
    filed_as_lab = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/"
                    "observation-category",
                    "code": "laboratory",
                }
            ]
        }
    ]
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            named("p1", "MRN-0001", "Wouters"),
            named("p2", "MRN-0002", "Claes"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            measured("w1", "p1", "29463-7", 81.0, "kg", "2026-11-01T08:00:00Z"),
            measured("w2", "p1", "3141-9", 76.4, "kg", "2026-11-20T08:00:00Z"),
            # Filed as a lab result months ago: still the height.
            measured(
                "h1",
                "p1",
                "8302-2",
                178,
                "cm",
                "2026-06-01T08:00:00Z",
                category=filed_as_lab,
            ),
        ]
    )
    pack = render(Location.objects.get(kind=Location.Kind.WARD))
    sections = by_patient(page_texts(pack.pdf), pack)

    text = " ".join(sections["MRN-0001"].split())
    assert "76.4 kg (20/11/2026)" in text
    assert "81" not in text.replace("MRN-0001", "")
    assert "178 cm (01/06/2026)" in text
    nobody = " ".join(sections["MRN-0002"].split())
    assert nobody.count("not recorded") == 2
