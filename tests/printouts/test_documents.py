"""Ward packs as a ward clerk and a nurse check them on paper."""

import datetime as dt
import http.server
import io
import re
import threading
from collections.abc import Iterator

import pypdf
import pytest
from django.core.management import call_command
from django.utils import timezone

from patients.ingest.sources import from_resources
from patients.models import Appointment, Location, QuarantinedResource
from patients.services import fhir_load_import
from printouts import documents
from printouts.pdf import LocalOnlyFetcher, html_to_pdf
from tests.patients.fhir import (
    allergy,
    encounter,
    medication,
    patient,
    ward_with_beds,
)
from tests.printouts.conftest import load
from tests.printouts.pdfs import barcodes, page_texts

pytestmark = pytest.mark.django_db

AS_OF = dt.datetime(2026, 11, 22, 13, 5, tzinfo=dt.UTC)  # 14:05 in Brussels
GENERATED = dt.datetime(2026, 11, 22, 13, 7, tzinfo=dt.UTC)


def lab_order(oid: str, pid: str, number: str, test: str) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "active",
        "intent": "order",
        "priority": "stat",
        "subject": {"reference": f"Patient/{pid}"},
        "identifier": [{"type": {"coding": [{"code": "PLAC"}]}, "value": number}],
        "code": {"text": test},
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "108252007"}]}
        ],
    }


@pytest.fixture
def ward() -> Location:
    """Two patients: one with a severe allergy, medication and a pending
    order; one with nothing recorded at all."""
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            patient("p1", mrn="MRN-4711"),
            {
                **patient("p2", mrn="MRN-4712"),
                "name": [{"family": "Dubois", "given": ["Noël"]}],
            },
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            allergy("a1", "p1", "Penicillin"),
            medication(
                "m1",
                "p1",
                "Paracetamol 1 g tablet",
                timing={"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
            ),
            medication(
                "m2",
                "p1",
                "Morphine 10 mg/mL",
                asNeededCodeableConcept={"text": "pain"},
            ),
            lab_order("o1", "p1", "LAB-000123", "Potassium"),
        ]
    )
    return Location.objects.get(kind=Location.Kind.WARD)


def render(ward: Location, **options) -> documents.Document:
    return documents.ward_pack(
        ward=ward, as_of=AS_OF, generated_at=GENERATED, language="en", **options
    )


def test_every_page_says_downtime_copy_the_as_of_time_and_page_x_of_y(ward):
    pack = render(ward)
    texts = page_texts(pack.pdf)

    assert len(texts) == pack.pages
    for number, text in enumerate(texts, 1):
        assert "DOWNTIME COPY - CONFIDENTIAL" in text
        assert "Data as of 22/11/2026 14:05" in text
        assert f"Page {number} of {pack.pages}" in text


def test_each_patient_page_names_the_patient_mrn_birth_date_and_bed(ward):
    pack = render(ward)
    texts = page_texts(pack.pdf)

    assert len(pack.sections) == 2
    expected = {"MRN-4711": "PEETERS, Anaïs", "MRN-4712": "DUBOIS, Noël"}
    seen = set()
    for first, last in pack.sections.values():
        for text in texts[first - 1 : last]:
            mrn = re.search(r"MRN (MRN-\d+)", text).group(1)
            assert expected[mrn] in text
            assert "born 01/03/1950" in text
            assert re.search(r"Bed BED-[12]", text)
            seen.add(mrn)
    assert seen == set(expected)
    assert pack.pages <= 2 + 3 * 2  # cover, census; at most 3 pages a patient


def by_patient(texts: list[str], pack: documents.Document) -> dict[str, str]:
    """Each patient's pages' text, by MRN."""
    return {
        texts[first - 1].split("MRN ")[1][:8]: "\n".join(texts[first - 1 : last])
        for first, last in pack.sections.values()
    }


def test_allergies_and_empty_lists_are_written_out_never_blank(ward):
    pack = render(ward)
    texts = page_texts(pack.pdf)

    patients = by_patient(texts, pack)
    with_chart, empty = patients["MRN-4711"], patients["MRN-4712"]
    assert "Penicillin - Anaphylaxis (Severe)" in with_chart
    assert "Paracetamol 1 g tablet" in with_chart
    assert "Morphine 10 mg/mL" in with_chart.split("As needed (PRN)")[1]
    # Nothing recorded is not "no known allergies": that only the EHR says.
    assert "None recorded in the electronic record: ask the patient." in empty
    assert "No known allergies" not in empty
    assert "No active medication orders" in empty
    assert "No as-needed orders" in empty
    census = texts[1]
    assert "DUBOIS, Noël" in census
    assert "PEETERS, Anaïs" in census


def test_an_allergy_that_could_not_be_read_is_flagged_never_missing(ward):
    """An allergy held in quarantine (here: an impossible date) must not leave
    the patient looking allergy-free on paper."""
    unreadable = {**allergy("a9", "p2", "Latex"), "recordedDate": "yesterday"}
    fhir_load_import(load=from_resources([unreadable], origin="test"), feed="test")
    assert QuarantinedResource.objects.get().patient_source_id == "p2"

    pack = render(ward)
    texts = page_texts(pack.pdf)

    held = by_patient(texts, pack)["MRN-4712"]
    assert "1 allergy record from the electronic record could not be read" in held
    assert "No known allergies" not in held
    assert "⚠ 1 unreadable: check" in " ".join(texts[1].split())  # the census
    assert "could not be read" not in by_patient(texts, pack)["MRN-4711"]


def test_barcodes_scan_back_to_the_mrn_and_the_order_number(ward):
    pack = render(ward)
    first, last = pack.sections[
        next(pid for pid, pages in pack.sections.items() if pages[0] == 3)
    ]

    assert {"MRN-4711", "MRN-4712"} <= barcodes(pack.pdf, 2)  # census
    on_patient = set().union(*(barcodes(pack.pdf, n) for n in range(first, last + 1)))
    assert "LAB-000123" in on_patient


def test_a_pack_from_the_cache_reads_exactly_as_a_full_render(ward):
    render(ward)  # fills the cache
    load(
        [
            {
                **patient("p2", mrn="MRN-4712"),
                "name": [{"family": "Dubois", "given": ["Léa"]}],
            }
        ]
    )

    incremental = render(ward)
    full = render(ward, use_cache=False)

    assert (incremental.rendered, incremental.cached) == (2, 2)  # census, p2 again
    assert full.rendered == 4
    assert page_texts(incremental.pdf) == page_texts(full.pdf)
    assert "DUBOIS, Léa" in page_texts(incremental.pdf)[1]


@pytest.fixture
def listener() -> Iterator[list[str]]:
    """An HTTP server on 127.0.0.1 that notes every request it gets."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    requests.append(f"http://127.0.0.1:{server.server_port}")
    try:
        yield requests
    finally:
        server.shutdown()
        server.server_close()


def test_ehr_text_with_html_or_urls_is_printed_as_text_and_fetches_nothing(
    listener, tmp_path
):
    base = listener.pop(0)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    hostile = [
        f'<img src="file://{secret}">',
        f'<link rel="stylesheet" href="{base}/a.css">',
        f'<div style="background: url({base}/b.png)">x</div>',
        f"</p><style>@import url({base}/c.css);</style>",
    ]
    load(
        [
            *ward_with_beds("bed-1"),
            {**patient("p1"), "name": [{"family": hostile[0], "given": [hostile[1]]}]},
            encounter("e1", "p1", bed="bed-1"),
            allergy("a1", "p1", hostile[2]),
            {**allergy("a2", "p1", hostile[3]), "id": "a2"},
        ]
    )

    pack = render(Location.objects.get(kind=Location.Kind.WARD))

    assert listener == []
    text = " ".join(page_texts(pack.pdf)).replace("\n", "")
    assert "TOP-SECRET-CONTENT" not in text
    assert f"{base}/b.png" in text  # shown as the text it is


def test_the_renderer_refuses_every_url_but_data(listener, tmp_path):
    base = listener.pop(0)
    (tmp_path / "x.png").write_bytes(b"not fetched")
    html = (
        f'<img src="file://{tmp_path}/x.png"><img src="{base}/y.png">'
        f'<p style="background: url({base}/z.png)">text</p>'
    )

    _pdf, fetcher = html_to_pdf(html)

    assert listener == []
    assert set(fetcher.refused) == {
        f"file://{tmp_path}/x.png",
        f"{base}/y.png",
        f"{base}/z.png",
    }
    with pytest.raises(ValueError, match="fetches nothing"):
        LocalOnlyFetcher().fetch(f"{base}/direct")


def test_times_on_the_pack_are_local_times(ward, settings):
    settings.TIME_ZONE = "Europe/Brussels"
    with timezone.override("Europe/Brussels"):
        text = page_texts(render(ward).pdf)[0]
    assert "Data as of 22/11/2026 14:05" in text
    assert "Pack generated 22/11/2026 14:07" in text


def test_a_clinic_list_is_a_call_list_of_the_day_in_time_order():
    call_command("seed_demo", "--wards", "1", "--beds", "4", stdout=io.StringIO())
    clinic = Location.objects.filter(kind=Location.Kind.CLINIC).order_by("name")[0]
    today = timezone.localdate()
    # The demo books the day's appointments still to come: all of them, here,
    # whatever the time the test runs.
    Appointment.objects.filter(clinic=clinic).update(status="booked")
    seen, off = Appointment.objects.filter(clinic=clinic).order_by("starts_at")[:2]
    Appointment.objects.filter(pk=seen.pk).update(status="fulfilled")
    Appointment.objects.filter(pk=off.pk).update(status="cancelled")
    booked = list(
        Appointment.objects.filter(clinic=clinic, status__in=("booked", "pending"))
        .select_related("patient")
        .order_by("starts_at")
    )
    assert len(booked) >= 10

    listing = documents.clinic_list(
        clinic=clinic, day=today, as_of=AS_OF, generated_at=GENERATED, language="en"
    )
    text = " ".join(" ".join(page_texts(listing.pdf)).split())  # lines joined

    assert listing.patients == len(booked)
    positions = [text.index(a.patient.phone) for a in booked]
    assert positions == sorted(positions)  # by time
    for appointment in booked:
        assert str(appointment.patient) in text
        local = timezone.localtime(appointment.starts_at)
        assert local.strftime("%H:%M") in text
    assert f"Page 1 of {listing.pages}" in text
    # Only what is still to honour: not the fulfilled, arrived, cancelled...
    called = {a.patient_id for a in booked}
    for gone in Appointment.objects.exclude(status__in=("booked", "pending")):
        if gone.clinic_id == clinic.pk and gone.patient_id not in called:
            assert gone.patient.mrn not in text
    assert {seen.patient_id, off.patient_id} - called  # one at least is checked
    tomorrow = documents.clinic_list(
        clinic=clinic,
        day=today + dt.timedelta(days=1),
        as_of=AS_OF,
        generated_at=GENERATED,
        language="en",
    )
    assert "No appointments on this day." in page_texts(tomorrow.pdf)[0]


@pytest.mark.parametrize(
    ("form", "title"),
    [
        ("order", "Order sheet"),
        ("mar", "Medication administration record"),
        ("lab", "Laboratory request"),
        ("progress", "Progress notes"),
        ("registration", "Downtime registration"),
    ],
)
def test_each_blank_form_is_one_page_with_its_title(form, title):
    data = documents.blank_form(form=form, language="en")
    texts = page_texts(data)
    assert len(texts) == 1
    assert "DOWNTIME FORM" in texts[0]
    assert title in texts[0]
    assert "Patient label" in texts[0]


def test_blank_forms_speak_the_hospital_language():
    text = page_texts(documents.blank_form(form="lab", language="nl"))[0]
    assert "STORINGSFORMULIER" in text
    assert "Volledig bloedbeeld" in text


def test_label_sheets_give_each_patient_a_sheet_of_scannable_labels(ward):
    sheets = documents.label_sheets(ward=ward, language="en")
    texts = page_texts(sheets.pdf)

    assert sheets.pages == sheets.patients == 2
    for text, mrn in zip(texts, ("MRN-4711", "MRN-4712"), strict=True):
        assert text.count(f"MRN {mrn}") == documents.LABELS_PER_SHEET
        assert "DOWNTIME COPY" not in text  # nothing printed over the labels
    assert "PEETERS, Anaïs" in texts[0]
    assert barcodes(sheets.pdf, 1) == {"MRN-4711"}


def bold_words(data: bytes) -> set[str]:
    """The text drawn in a bold font, in any page of the PDF ``data``."""
    found: set[str] = set()

    def visit(text, _cm, _tm, font, _size) -> None:
        if font and "Bold" in str(font.get("/BaseFont", "")):
            found.update(text.split())

    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return found


def test_any_recorded_allergy_stands_out_from_no_known_allergies():
    no_known = {
        **allergy("a8", "p2", "No known allergy"),
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "716186003"}],
            "text": "No known allergy",
        },
        "criticality": "low",
    }
    mild = {**allergy("a7", "p1", "Amoxicillin"), "criticality": "low", "reaction": []}
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            patient("p1", mrn="MRN-0001"),
            patient("p2", mrn="MRN-0002"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            mild,
            no_known,
        ]
    )
    pack = render(Location.objects.get(kind=Location.Kind.WARD))
    texts = page_texts(pack.pdf)

    assert "No known allergies" in by_patient(texts, pack)["MRN-0002"]
    bold = bold_words(pack.pdf)
    assert "Amoxicillin" in bold  # on the census and the patient's page
    assert "known" not in bold


def code_status(fid: str, pid: str, text: str) -> dict:
    return {
        "resourceType": "Flag",
        "id": fid,
        "status": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                        "code": "advance-directive",
                    }
                ]
            }
        ],
        "code": {"text": text},
        "subject": {"reference": f"Patient/{pid}"},
    }


def test_a_limited_code_status_and_an_isolation_stand_out_on_paper():
    load(
        [
            *ward_with_beds("bed-1", "bed-2"),
            patient("p1", mrn="MRN-0001"),
            patient("p2", mrn="MRN-0002"),
            encounter("e1", "p1", bed="bed-1"),
            encounter("e2", "p2", bed="bed-2"),
            code_status("f1", "p1", "Do not resuscitate (DNR)"),
            code_status("f2", "p2", "Full resuscitation"),
            {
                "resourceType": "Flag",
                "id": "f3",
                "status": "active",
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "40174006"}
                    ],
                    "text": "Contact isolation (MRSA)",
                },
                "subject": {"reference": "Patient/p2"},
            },
        ]
    )
    pack = render(Location.objects.get(kind=Location.Kind.WARD))
    texts = page_texts(pack.pdf)
    census = " ".join(texts[1].split())
    patients = by_patient(texts, pack)

    assert "⚠ Do not resuscitate (DNR)" in census
    assert "⚠ Full resuscitation" not in census
    assert "⚠ Contact isolation (MRSA)" in census
    assert "⚠ Do not resuscitate (DNR)" in patients["MRN-0001"]
    assert "⚠ Contact isolation (MRSA)" in patients["MRN-0002"]
    assert "⚠ Full" not in patients["MRN-0002"]
