"""Doses already given and reports: from the feeds to the patient page, the
pack's MAR, the transfer summary and the census journal."""

import base64
import datetime as dt
import html
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from downtime.journal import journal_transfer
from downtime.services import downtime_declare
from patients.demo.overlay import synthea_overlay
from patients.ingest import text
from patients.ingest.sources import from_resources, read_paths
from patients.models import (
    Encounter,
    MedicationAdministration,
    MedicationOrder,
    Patient,
    QuarantinedResource,
    Report,
)
from patients.services import fhir_load_import
from patients.summary import ward_content, ward_sources
from printouts.documents import ward_digests
from printouts.models import ReportPrinting
from tests.patients.fhir import (
    BULK,
    BUNDLES,
    SHARED,
    encounter,
    location,
    medication,
)
from tests.patients.test_pages import wards  # noqa: F401 - the nurses' wards
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db

NOTES = SHARED / "notes-ndjson-10-patients"


def at_local(hour: int, minute: int = 0) -> dt.datetime:
    """The last moment at that clock time that is past (today's, else
    yesterday's)."""
    now = timezone.localtime()
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment <= now else moment - dt.timedelta(days=1)


def day_month(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m %H:%M")


def administration(aid: str, order: dict, when: dt.datetime, **extra) -> dict:
    """A dose as Synthea writes MedicationAdministration: the order's drug,
    patient and stay, a time, completed; no reference to the order."""
    return {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": "completed",
        "medicationCodeableConcept": order["medicationCodeableConcept"],
        "subject": order["subject"],
        "context": order.get("encounter"),
        "effectiveDateTime": when.isoformat(timespec="seconds"),
        **extra,
    }


def pdf_text(response) -> str:
    data = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    return " ".join(" ".join(page_texts(data)).split())


def test_a_dose_given_at_eight_shows_on_the_page_and_on_the_transfer_summary(client):
    now = timezone.now()
    resources = synthea_overlay(BUNDLES.glob("*.json"), seed=1, now=now)
    load(resources)
    # The shared Synthea bundles' reports are mirrored, lab panels and all.
    assert Report.objects.filter(kind=Report.Kind.DIAGNOSTIC).count() == sum(
        r["resourceType"] == "DiagnosticReport" for r in resources
    )
    stays = Encounter.objects.on_census()
    active = MedicationOrder.objects.filter(
        status="active", patient__encounters__in=stays, as_needed=False
    ).order_by("pk")
    first = active.first()
    assert first is not None, "the overlay admits patients on active orders"
    orders = {r["id"]: r for r in resources if r["resourceType"] == "MedicationRequest"}
    shared = orders[first.source_id]
    other = next(
        o
        for o in active.filter(patient=first.patient).exclude(pk=first.pk)
        if o.drug != first.drug
    )
    eight, refused = at_local(8), timezone.now() - dt.timedelta(hours=3)
    load(
        [
            administration("ma-8", shared, eight),
            # An older dose of the same order: the 08:00 one stays the last.
            administration("ma-7", shared, eight - dt.timedelta(hours=8)),
            # One the EHR links to its order, not given, with why.
            {
                **administration("ma-no", orders[other.source_id], refused),
                "status": "not-done",
                "statusReason": [{"text": "Patient refused"}],
                "request": {"reference": f"MedicationRequest/{other.source_id}"},
            },
        ]
    )
    assert MedicationAdministration.objects.get(source_id="ma-no").order == other
    stay = stays.get(patient=first.patient)
    client.force_login(person("nina", "nurse", stay.ward))

    page = client.get(reverse("patients:patient", args=[first.patient_id]))

    shown = " ".join(html.unescape(page.content.decode()).split())
    assert f"Last given {day_month(eight)}" in shown
    assert "not given: Patient refused" in shown
    summary = pdf_text(
        client.get(reverse("printouts:transfer-summary", args=[first.patient_id]))
    )
    assert f"Last given {day_month(eight)}" in summary
    assert "not given: Patient refused" in summary


def test_a_dose_changes_the_wards_digest_and_shows_after_a_journal_transfer(
    client,
    wards,  # noqa: F811
):
    ward_a, ward_b = wards
    before = ward_sources(now=timezone.now())
    order = MedicationOrder.objects.get(source_id="m1")
    eight = at_local(8)
    load(
        [
            {
                **administration(
                    "ma1",
                    {
                        "medicationCodeableConcept": {"text": order.drug},
                        "subject": {"reference": "Patient/p1"},
                    },
                    eight,
                ),
                "request": {"reference": "MedicationRequest/m1"},
                "dosage": {"dose": {"value": 1, "unit": "g"}},
            }
        ]
    )
    assert ward_sources(now=timezone.now())[ward_a.pk] != before[ward_a.pk]
    load(
        [
            location("room-bed-8", "ro", part_of="ward-b"),
            location("bed-8", "bd", part_of="room-bed-8"),
        ]
    )
    downtime = downtime_declare(user=person("ivan", "it"), kind="unplanned", reason="R")
    journal_transfer(
        downtime=downtime,
        user=person("ann", "nurse", ward_a),
        patient=order.patient,
        ward=ward_b,
        bed=None,
        occurred_at=timezone.now() - dt.timedelta(minutes=5),
    )
    client.force_login(person("bob", "nurse", ward_b))

    page = client.get(reverse("patients:patient", args=[order.patient_id]))

    assert f"Last given {day_month(eight)}" in html.unescape(page.content.decode())


def test_the_shared_notes_are_mirrored_as_text_and_read_in_full_on_their_page(
    client,
    wards,  # noqa: F811
):
    summary = fhir_load_import(
        load=read_paths([BULK, NOTES]), feed="bulk", replace_sets=False
    )

    assert summary.quarantined == 0, summary.as_dict()
    lines = (NOTES / "DocumentReference.000.ndjson").read_text().splitlines()
    notes = Report.objects.filter(kind=Report.Kind.DOCUMENT)
    assert notes.count() == len(lines) == 1215
    assert not notes.filter(text="").exists()
    first = json.loads(lines[0])
    kept = notes.get(source_id=first["id"])
    sent = base64.b64decode(first["content"][0]["attachment"]["data"]).decode()
    assert kept.text == text.tidy(sent)
    assert kept.title == "History and physical note"
    assert kept.author == "Dr. Liane379 Kunze215"
    # One of the export's patients is admitted to WARD-A's free bed.
    patient = Patient.objects.get(source_id=first["subject"]["reference"][8:])
    load([location("bed-3", "bd", part_of="room-bed-1")])
    load([encounter("stay", patient.source_id, bed="bed-3")], feed="bulk")
    ward_a, _ = wards
    client.force_login(person("nina", "nurse", ward_a))

    page = client.get(reverse("patients:patient", args=[patient.pk])).content.decode()

    theirs = notes.filter(patient=patient).exclude(status="entered-in-error")
    newest = theirs.order_by("-issued_at").first()
    links = [
        reverse("patients:report", args=[patient.pk, r.pk])
        for r in theirs.order_by("-issued_at")[:3]
    ]
    assert page.index(links[0]) < page.index(links[1]) < page.index(links[2])
    full = client.get(reverse("patients:report", args=[patient.pk, newest.pk]))
    assert html.escape(newest.text.splitlines()[-1]) in full.content.decode()
    entry = AccessLog.objects.filter(action=AccessLog.Action.CLINICAL_REPORT).get()
    assert (entry.outcome, entry.patients, entry.target) == (
        "allowed",
        [patient.pk],
        f"report {newest.pk}",
    )
    # Another patient's report, through this patient's address: refused, logged.
    stranger = Report.objects.exclude(patient=patient).first()
    refused = client.get(reverse("patients:report", args=[patient.pk, stranger.pk]))
    assert refused.status_code == 404
    assert AccessLog.objects.filter(
        action=AccessLog.Action.CLINICAL_REPORT, outcome="denied"
    ).exists()


SCRIPT = "<script>alert('x')</script>"
IMAGE = '<img src="file:///etc/passwd">'


def report(rid: str, pid: str, issued: dt.datetime, **extra) -> dict:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": {"text": f"CT chest {rid}"},
        "subject": {"reference": f"Patient/{pid}"},
        "issued": issued.isoformat(timespec="seconds"),
        **extra,
    }


def inline(content: str, content_type: str) -> dict:
    return {
        "contentType": content_type,
        "data": base64.b64encode(content.encode()).decode(),
    }


def test_markup_in_a_report_reaches_no_page_or_pdf_as_markup(
    client,
    wards,  # noqa: F811
):
    ward_a, _ = wards
    issued = timezone.now() - dt.timedelta(hours=3)
    load(
        [
            report(
                "r-html",
                "p1",
                issued,
                conclusion=f"Said as text: {SCRIPT} {IMAGE}",
                presentedForm=[
                    inline(
                        f"<p>Findings<br>line two</p>{SCRIPT}{IMAGE}<p>&lt;end&gt;</p>",
                        "text/html; charset=utf-8",
                    )
                ],
            )
        ]
    )
    kept = Report.objects.get(source_id="r-html")
    # HTML is read as text: its script and image are gone, its lines kept.
    assert kept.text == "Findings\nline two\n\n<end>"
    client.force_login(person("nina", "nurse", ward_a))
    patient_id = kept.patient_id

    for address in (
        reverse("patients:patient", args=[patient_id]),
        reverse("patients:report", args=[patient_id, kept.pk]),
    ):
        body = client.get(address).content.decode()
        assert "<script>alert" not in body
        assert "file:///etc/passwd" not in body.replace(html.escape(IMAGE), ""), (
            "the image is only ever shown as text"
        )
        assert html.escape(SCRIPT) in body
    summary = pdf_text(
        client.get(reverse("printouts:transfer-summary", args=[patient_id]))
    )
    assert f"Said as text: {SCRIPT} {IMAGE}" in summary


def test_a_pack_prints_about_a_page_of_reports_unless_the_ward_asks_for_full_text(
    client,
    wards,  # noqa: F811
):
    ward_a, _ = wards
    client.force_login(person("nina", "nurse", ward_a))
    patient = Patient.objects.get(source_id="p1")

    def summary() -> tuple[int, str]:
        response = client.get(reverse("printouts:transfer-summary", args=[patient.pk]))
        return len(page_texts(response.content)), pdf_text(response)

    pages, _ = summary()
    now = timezone.now()
    long = "\n".join(f"Paragraph {n}: " + "finding " * 40 for n in range(30))
    load(
        [
            report(
                f"r{n}",
                "p1",
                now - dt.timedelta(hours=n + 1),
                conclusion=f"Conclusion {n}.",
                presentedForm=[inline(long + f"\nLast line {n}.", "text/plain")],
            )
            for n in range(25)
        ]
        + [report("r-old", "p1", now - dt.timedelta(days=8), conclusion="Old one.")]
    )

    with_reports, printed = summary()

    assert with_reports <= pages + 1
    assert "Conclusion 0." in printed
    assert "older reports not printed here" in printed
    assert "Old one." not in printed  # older than PACK_REPORT_DAYS
    assert "Last line 0." not in printed
    ReportPrinting.objects.create(location=ward_a, full_text=True)

    in_full, printed = summary()

    assert in_full > pages + 10
    assert "Last line 0." in printed
    assert "Last line 24." in printed
    assert "Old one." not in printed


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (
            {
                "resourceType": "MedicationAdministration",
                "id": "no-time",
                "status": "completed",
                "medicationCodeableConcept": {"text": "Paracetamol"},
                "subject": {"reference": "Patient/p1"},
            },
            "MedicationAdministration.effective[x] is missing",
        ),
        (
            {
                "resourceType": "MedicationAdministration",
                "id": "bad-status",
                "status": "given",
                "medicationCodeableConcept": {"text": "Paracetamol"},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2026-12-01T08:00:00+01:00",
            },
            "MedicationAdministration.status must be one of",
        ),
        (
            {
                "resourceType": "DocumentReference",
                "id": "bad-data",
                "status": "current",
                "type": {"text": "Discharge letter"},
                "subject": {"reference": "Patient/p1"},
                "content": [
                    {"attachment": {"contentType": "text/plain", "data": "%%"}}
                ],
            },
            "DocumentReference.content.attachment.data is not valid base64",
        ),
        (
            {
                "resourceType": "DocumentReference",
                "id": "bad-html",
                "status": "current",
                "type": {"text": "Discharge letter"},
                "subject": {"reference": "Patient/p1"},
                "content": [
                    {"attachment": inline("<p>Letter</p><![foo bar]>", "text/html")}
                ],
            },
            "DocumentReference.content.attachment.data is not HTML that can be read",
        ),
        (
            {
                "resourceType": "MedicationAdministration",
                "id": "no-drug",
                "status": "completed",
                "request": {"reference": "MedicationRequest/not-here"},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2026-12-01T08:00:00+01:00",
            },
            "MedicationAdministration.request: the order is not in the mirror",
        ),
        (
            {
                "resourceType": "DiagnosticReport",
                "id": "no-code",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
            },
            "DiagnosticReport.code is missing",
        ),
    ],
)
def test_a_broken_dose_or_report_is_quarantined_with_why(
    wards,  # noqa: F811
    resource,
    reason,
):
    rows = (MedicationAdministration.objects.count(), Report.objects.count())

    summary = fhir_load_import(
        load=from_resources([resource], origin="test"), feed="test", replace_sets=False
    )

    assert summary.quarantined == 1
    held = QuarantinedResource.objects.get(resource_id=resource["id"])
    assert held.reason.startswith(reason), held.reason
    assert (MedicationAdministration.objects.count(), Report.objects.count()) == rows


def test_html_is_read_as_the_text_a_reader_sees():
    markup = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<h1>CT&nbsp;chest</h1><p>Line&#160;one<br/>Line   two</p>"
        "<ul><li>a</li><li>b</li></ul><table><tr><td>x</td><td>y</td></tr></table>"
        "<script>var s = '<p>';</script><img src=x onerror=alert(1)>"
        "</body></html>"
    )

    assert text.from_html(markup) == "CT chest\n\nLine one\nLine two\n\na\nb\n\nx y"


def test_a_dose_names_the_practitioner_who_gave_it_and_an_unsure_match_stays_apart(
    wards,  # noqa: F811
):
    ward_a, _ = wards
    load(
        [
            {
                "resourceType": "Practitioner",
                "id": "nurse",
                "name": [{"family": "Janssens", "given": ["Lotte"]}],
            },
            # The same drug as needed beside the scheduled one (m1).
            {
                **medication("m2", "p1", "Paracetamol 1 g tablet"),
                "dosageInstruction": [{"asNeededBoolean": True}],
            },
        ]
    )
    eight = at_local(8)
    dose = {
        "medicationCodeableConcept": {"text": "Paracetamol 1 g tablet"},
        "subject": {"reference": "Patient/p1"},
    }
    load(
        [
            {
                **administration("linked", dose, eight),
                "request": {"reference": "MedicationRequest/m1"},
                "performer": [
                    {"actor": {"reference": "PractitionerRole/ward-nurse"}},
                    {"actor": {"reference": "Practitioner/nurse"}},
                ],
            },
            # Which of the two orders? Not guessed: listed on its own.
            administration("unlinked", dose, eight + dt.timedelta(minutes=30)),
        ]
    )

    section = next(
        p for p in ward_content(ward=ward_a).patients if p["mrn"] == "MRN-4711"
    )

    m1 = MedicationOrder.objects.get(source_id="m1")
    assert section["doses"][str(m1.pk)]["last"]["by"] == "L. Janssens"
    assert [d["at"] for d in section["doses"][str(m1.pk)]["recent"]] == [
        eight.isoformat()
    ]
    (apart,) = section["other_doses"]
    assert apart["drug"] == "Paracetamol 1 g tablet"


def test_report_printing_makes_a_pack_due_and_empty_panels_take_no_room(
    wards,  # noqa: F811
):
    ward_a, ward_b = wards
    now = timezone.now()
    load(
        [
            # A lab panel: its results are the labs; nothing of its own to read.
            report("panel", "p1", now - dt.timedelta(hours=2)),
            report("ct", "p1", now - dt.timedelta(hours=1), conclusion="No bleed."),
        ]
    )
    before = ward_digests(now=now, language="en")

    ReportPrinting.objects.create(location=ward_a, full_text=True)

    after = ward_digests(now=now, language="en")
    assert after[ward_a.pk] != before[ward_a.pk]
    assert after[ward_b.pk] == before[ward_b.pk]
    section = next(
        p for p in ward_content(ward=ward_a, now=now).patients if p["mrn"] == "MRN-4711"
    )
    assert [r["title"] for r in section["reports"]] == ["CT chest ct"]
