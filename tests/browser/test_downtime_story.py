"""A whole downtime with the real parts: gunicorn serving the app, a Celery
worker on a Redis of its own, the MLLP listener, PostgreSQL, and IT in
Chromium. Declared with the feeds cut, every pack rendered and marked with
the frozen time, the banner everywhere, HL7 refused while isolated, downtime
numbers issued and recorded, recovery worklists worked to the end, closed,
and the report made."""

import csv
import io
import re

import pytest
from django.utils import timezone
from pypdf import PdfReader

from accounts.services import demo_accounts_ensure
from downtime.models import Downtime, DowntimeNumber, WorklistItem
from patients.models import Encounter, FeedState, Patient
from printouts.models import Pack
from tests.browser.conftest import ARTIFACTS
from tests.patients.fhir import medication
from tests.patients.hl7 import Sender, adt, listener
from tests.patients.test_pages import (
    lab_order,
    wards,  # noqa: F401 - the fixture
)
from tests.printouts.conftest import load
from tests.processes import hospital_served

pytestmark = pytest.mark.django_db(transaction=True)


def mirror() -> tuple:
    """What a nurse would see change: patients and stays."""
    return (
        sorted(Patient.objects.values_list("pk", "mrn", "family")),
        sorted(Encounter.objects.values_list("pk", "status", "ward_id", "bed_id")),
    )


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()


def confirm(page, password: str, button: str) -> None:
    """Fill the password of the form whose button this is, and send it."""
    pressed = page.get_by_role("button", name=button)
    page.locator("form", has=pressed).get_by_label("Your password").fill(password)
    pressed.click()


@pytest.fixture
def hospital(wards):  # noqa: F811 - the fixture
    """Two wards, three patients, a medication and a pending lab order more."""
    load(
        [
            lab_order("o1", "p1", "LAB-1", "stat"),
            medication("m9", "p9", "Amoxicillin 500 mg capsule"),
        ]
    )
    return wards


def test_a_whole_downtime_from_declaration_to_report(
    browser, hospital, tmp_path, test_database_url
):
    passwords = {
        c.username: c.password for c in demo_accounts_ensure(reset_passwords=True)
    }
    it_password = passwords["it"]
    with (
        hospital_served(tmp_path, database_url=test_database_url) as served,
        listener(test_database_url, tmp_path / "mllp.log") as (port, _mllp),
    ):
        base = served.base
        hl7 = Sender(port)
        assert hl7.send(adt("A08", "S0", place="WARD-A^R1^bed-1"))["code"] == "AA"
        it = browser.new_context(viewport={"width": 1280, "height": 900})
        page = it.new_page()
        page.set_default_timeout(20_000)
        sign_in(page, base, "it", it_password)

        # 1. IT declares: feeds cut.
        page.get_by_role("link", name="Downtime page").click()
        page.get_by_label("Unplanned").check()
        page.get_by_label("Reason (seen by IT only)").fill("Ransomware")
        page.get_by_label(re.compile("Cut the inbound feeds")).check()
        confirm(page, it_password, "Declare the downtime")
        page.get_by_role("heading", name="Downtime in progress").wait_for()
        downtime = Downtime.objects.get()
        assert downtime.feeds_isolated
        frozen = downtime.frozen_at

        # 2. The worker renders the final set; the page follows it.
        page.locator(".final-summary").get_by_text(
            re.compile(r"All \d+ packs are ready")
        ).wait_for(timeout=120_000)
        packs = list(Pack.objects.filter(downtime=downtime))
        assert {p.reason for p in packs} == {Pack.Reason.DOWNTIME}
        assert {p.status for p in packs} == {Pack.Status.READY}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "story-declared.png", full_page=True)

        # 3. A clerk prints WARD-A's pack: every page says data frozen.
        clerk = browser.new_context()
        clerk_page = clerk.new_page()
        sign_in(clerk_page, base, "clerk", passwords["clerk"])
        assert "DOWNTIME" in clerk_page.locator(".downtime-banner").inner_text()
        assert clerk_page.get_by_role("link", name="Downtime page").count() == 0
        pack = next(p for p in packs if p.title == "WARD-A")
        response = clerk_page.request.get(f"{base}/packs/{pack.pk}.pdf")
        assert response.status == 200
        reader = PdfReader(io.BytesIO(response.body()))
        local = timezone.localtime(frozen)
        stamp = f"DOWNTIME - data frozen at {local:%d/%m/%Y %H:%M}"
        for number, sheet in enumerate(reader.pages, start=1):
            assert stamp in " ".join(sheet.extract_text().split()), number

        # 4. The EHR's feed is refused while isolated; nothing changes.
        before = mirror()
        answer = hl7.send(adt("A01", "S1", mrn="NEW-1", place="WARD-B^R9^bed-9"))
        assert answer["code"] == "AR"
        assert "isolated" in answer["text"]
        assert mirror() == before

        # 5. Downtime numbers: a block for WARD-A, printed, one used.
        page.goto(f"{base}/downtime/numbers/")
        page.get_by_label("For the ward or department").select_option(label="WARD-A")
        page.get_by_label("How many numbers").fill("21")
        page.get_by_role("button", name="Allocate").click()
        page.get_by_text(re.compile("allocated to WARD-A")).wait_for()
        link = page.get_by_role("link", name="Label sheets (PDF)")
        labels = page.request.get(base + link.get_attribute("href"))
        assert labels.status == 200
        assert labels.body().startswith(b"%PDF")
        first = DowntimeNumber.objects.order_by("sequence").first().number
        page.get_by_label("Downtime number").fill(first)
        page.get_by_label("Used on ward or department").select_option(label="WARD-A")
        page.get_by_label("Used at (from the paper)").fill(
            f"{timezone.localtime():%Y-%m-%dT%H:%M}"
        )
        page.get_by_label("Used by (from the paper)").fill("Nurse Ann")
        page.get_by_role("button", name="Record").click()
        page.screenshot(path=ARTIFACTS / "story-numbers.png", full_page=True)
        page.get_by_text(f"{first} recorded.").wait_for()

        # 6. Recovery: every worklist worked to the end, in the browser.
        page.goto(f"{base}/downtime/")
        page.get_by_label("Why now").fill("EHR restored from backup")
        confirm(page, it_password, "Start the recovery")
        page.get_by_role("heading", name="Recovery in progress").wait_for()
        page.get_by_role("link", name="Recovery worklists").first.click()
        for name in ("Pharmacy", "Laboratory", "Nursing", "Registration"):
            page.get_by_role("link", name=name, exact=True).click()
            while page.get_by_role("button", name="Done").count():
                page.get_by_role("button", name="Done").first.click()
                page.wait_for_load_state()
            page.get_by_role("link", name="Recovery worklists").first.click()
        assert not WorklistItem.objects.filter(done_at__isnull=True).exists()
        kinds = set(WorklistItem.objects.values_list("worklist", flat=True))
        assert kinds == {"pharmacy", "laboratory", "nursing", "registration"}
        page.screenshot(path=ARTIFACTS / "story-worklists.png", full_page=True)

        # 7. Closed: the feed flows again; the report tells it all.
        page.goto(f"{base}/downtime/")
        page.get_by_label("Why now").fill("Everything re-entered")
        confirm(page, it_password, "Close the downtime")
        page.get_by_role("heading", name="Declare a downtime").wait_for()
        assert hl7.send(adt("A08", "S2", place="WARD-A^R1^bed-1"))["code"] == "AA"
        hl7.close()
        report = page.request.get(f"{base}/downtime/{downtime.pk}/report.csv")
        rows = list(csv.reader(io.StringIO(report.text())))
        states = [row[1] for row in rows if row[0] == "state"]
        assert states == ["downtime", "recovery", "closed"]
        assert [r[1] for r in rows if r[0] == "number"] == [first]
        done = [r[4] for r in rows if r[0] == "worklist"]
        assert all(d.split("/")[0] == d.split("/")[1].split()[0] for d in done)
        assert any(r[0] == "pack" and r[4] == pack.sha256 for r in rows)
        report = page.request.get(f"{base}/downtime/{downtime.pk}/report.pdf")
        assert report.body().startswith(b"%PDF")
        it.close()
        clerk.close()
    assert FeedState.objects.exists()
