"""The downtime report: timeline, packs with checksums and downloads,
numbers, worklists, the census journal and the access log, as PDF and CSV,
for IT only."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import AccessLog
from downtime.journal import journal_admit, journal_discharge, journal_sync
from downtime.models import DowntimeNumber, WorklistItem
from downtime.numbers import number_text, number_use_record, numbers_allocate
from downtime.services import (
    downtime_declare,
    downtime_recover,
    downtime_render_packs,
)
from downtime.worklists import worklist_item_done
from patients.models import Patient
from printouts.models import Pack
from printouts.services import pack_render, pack_request
from tests.browser.conftest import ARTIFACTS
from tests.downtime.steps import close_leaving_items
from tests.patients.fhir import encounter
from tests.printouts.conftest import load
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def test_the_report_tells_the_whole_downtime(client, wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", "it")
    numbers_allocate(location=ward_a, count=5, user=ivan)
    downtime = downtime_declare(
        user=ivan,
        kind="unplanned",
        reason="=HYPERLINK(evil)",
        systems=["EHR"],
        isolate_feeds=True,
    )
    for pack_id in downtime_render_packs(downtime=downtime):
        pack_render(pack_id=pack_id)
    claire = person("claire", "clerk", ward_a)
    client.force_login(claire)
    pack = Pack.objects.get(downtime=downtime, location=ward_a)
    assert client.get(reverse("printouts:download", args=[pack.pk])).status_code == 200
    number_use_record(
        number=number_text(1),
        location=ward_a,
        used_at=timezone.now(),
        used_by="Nurse Ann",
        user=ivan,
    )
    # The census journal: an admission with a downtime number, which the
    # EHR never confirms, and a discharge, which it does.
    admitted = journal_admit(
        downtime=downtime,
        user=claire,
        ward=ward_a,
        bed=None,
        occurred_at=timezone.now(),
        number=DowntimeNumber.objects.get(number=number_text(2)),
        family="Vandenberghe",
    )
    journal_discharge(
        downtime=downtime,
        user=claire,
        patient=Patient.objects.get(mrn="MRN-4712"),
        disposition="home",
        occurred_at=timezone.now(),
    )
    # The ward's binder gets the pages of these two patients only.
    after = pack_render(pack_id=pack_request(location=ward_a, reason="command").pk)
    changes = client.get(reverse("printouts:changes", args=[after.pk]))
    assert changes.status_code == 200
    changed_pages = len(PdfReader(io.BytesIO(changes.content)).pages)
    downtime = downtime_recover(downtime=downtime, user=ivan, why="EHR back")
    load([encounter("e2", "p2", status="finished", bed="bed-2")])
    journal_sync()
    item = WorklistItem.objects.filter(downtime=downtime, worklist="nursing").first()
    worklist_item_done(item=item, user=claire)
    downtime = close_leaving_items(downtime=downtime, user=ivan, why="All entered")

    assert (
        client.get(reverse("downtime:report", args=[downtime.pk, "csv"])).status_code
        == 403
    )
    client.force_login(ivan)
    response = client.get(reverse("downtime:report", args=[downtime.pk, "csv"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    sections = {}
    for row in rows[1:]:
        sections.setdefault(row[0], []).append(row)
    assert [(r[1], r[3]) for r in sections["state"]] == [
        ("downtime", "ivan"),
        ("recovery", "ivan"),
        ("closed", "ivan"),
    ]
    assert sections["state"][0][4] == "'=HYPERLINK(evil)"  # never a formula
    assert ["downtime", "feeds isolated", "", "", "yes", ""] in rows  # kept
    names = set(Patient.objects.values_list("family", flat=True))
    # The one downtime number not confirmed is listed; no other MRN.
    mrns = set(Patient.objects.values_list("mrn", flat=True)) - {number_text(2)}
    text = response.content.decode()
    assert not [word for word in names | mrns if word and word in text]
    packs = {r[1]: r for r in sections["pack"]}
    assert packs["WARD-A"][3] == "ready"
    assert packs["WARD-A"][4] == pack.sha256
    assert "downloaded 1 times" in packs["WARD-A"][5]
    assert [r[1:] for r in sections["printed"]] == [
        [
            "WARD-A",
            "",
            "",
            f"1 in full, {pack.page_count} pages",
            f"1 as changes, {changed_pages} pages",
        ]
    ]
    assert "downloaded 0 times" in packs["WARD-B"][5]
    assert [r[1] for r in sections["number"]] == [number_text(1), number_text(2)]
    assert ["nursing", "", "", "1/3 done", ""] in [r[1:] for r in sections["worklist"]]
    assert any(r[1] == "download" and r[5] == "1 entries" for r in sections["access"])
    assert [r[1:] for r in sections["journal"]] == [
        [
            "admission",
            "",
            "",
            "WARD-A",
            "1 entries, 0 confirmed by the EHR, 1 not",
        ],
        [
            "discharge",
            "",
            "",
            "WARD-A",
            "1 entries, 1 confirmed by the EHR, 0 not",
        ],
    ]
    assert [r[1:] for r in sections["unconfirmed"]] == [
        [
            "admission",
            timezone.localtime(admitted.occurred_at).isoformat(timespec="seconds"),
            "claire",
            "WARD-A",
            number_text(2),
        ]
    ]
    assert AccessLog.objects.filter(action="report", username="ivan").exists()

    response = client.get(reverse("downtime:report", args=[downtime.pk, "pdf"]))
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
    )
    for expected in (
        "Downtime report",
        "EHR back",
        "All entered",
        "Census journal",
        "Census journal entries no feed of the EHR confirmed",
        "Packs printed from the clerk's page",
    ):
        assert expected in text, expected
    assert pack.sha256 in "".join(text.split())  # wrapped in its cell
    assert "Inbound feeds Cut" in text
    assert not [word for word in names | mrns if word and word in text]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "downtime-report.pdf").write_bytes(response.content)
    assert number_text(1) in text
    assert (
        client.get(reverse("downtime:report", args=[downtime.pk, "xls"])).status_code
        == 404
    )
