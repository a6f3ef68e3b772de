"""The census journal in a real browser, during a declared downtime: a
clerk admits a new patient with a number of the ward's block, a nurse
transfers one patient and discharges another, and corrects an entry; the
census and patient pages mark what was entered; another ward's nurse finds
no such journal."""

import io
import re

import pytest
from django.contrib.auth.models import Group, User
from pypdf import PdfReader

from accounts.models import WardMembership
from downtime.numbers import numbers_allocate
from downtime.services import downtime_declare
from patients.models import Location, Patient
from printouts.services import pack_render, pack_request
from tests.browser.conftest import ARTIFACTS
from tests.patients.fhir import location
from tests.patients.test_pages import wards  # noqa: F401 - the fixture
from tests.printouts.conftest import load

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-long-enough-1"
PHONE = {"width": 390, "height": 844}


def staff(username: str, role: str, ward: Location | None, name: str) -> User:
    first, last = name.split()
    user = User.objects.create_user(
        username, password=PASSWORD, first_name=first, last_name=last
    )
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    if ward is not None:
        WardMembership.objects.create(user=user, location=ward)
    return user


@pytest.fixture
def downtime_hospital(wards):  # noqa: F811 - the fixture
    """WARD-A (MRN-4711 in BED-1, MRN-4712 in BED-2, BED-3 free) with a
    block of downtime numbers, WARD-B (MRN-9 in BED-9, BED-8 free), and a
    downtime declared by IT."""
    load(
        [
            location("room-bed-3", "ro", part_of="ward-a"),
            location("bed-3", "bd", part_of="room-bed-3"),
            location("room-bed-8", "ro", part_of="ward-b"),
            location("bed-8", "bd", part_of="room-bed-8"),
        ]
    )
    ward_a, ward_b = wards
    ivan = staff("ivan", "it", None, "Ivan Itten")
    block = numbers_allocate(location=ward_a, count=3, user=ivan)
    downtime_declare(user=ivan, kind="unplanned", reason="Ransomware")
    staff("cleo", "clerk", ward_a, "Cleo Clerk")
    staff("ann", "nurse", ward_a, "Ann Nurse")
    staff("bob", "nurse", ward_b, "Bob Other")
    return ward_a, ward_b, block.numbers.first().number


def signed_in(browser, live_server, username: str, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
    return page


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_ward_keeps_its_census_in_the_journal(
    browser, live_server, downtime_hospital
):
    ward_a, _ward_b, number = downtime_hospital
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The clerk admits a new patient with the next label of the block.
    clerk = signed_in(browser, live_server, "cleo")
    clerk.get_by_role("link", name="Census journal").click()
    clerk.get_by_role("heading", name="Census journal: WARD-A").wait_for()
    clerk.get_by_role("link", name="Admit a patient").click()
    clerk.screenshot(path=ARTIFACTS / "journal-admit.png", full_page=True)
    new = clerk.locator("form", has=clerk.get_by_role("button", name="Admit with"))
    new.get_by_label("Downtime number").select_option(label=number)
    new.get_by_label("Family name").fill("Unknown")
    new.get_by_label("Given names").fill("Man about 40")
    beds = new.get_by_label("Bed").locator("option").all_inner_texts()
    assert beds == ["No bed yet", "BED-3"]  # the free beds only
    new.get_by_label("Bed").select_option(label="BED-3")
    new.get_by_label("Paper form reference").fill("ADM-7")
    new.get_by_role("button", name="Admit with this number").click()
    message = clerk.locator("ul.messages")
    assert f"Admission entered with downtime number {number}" in message.inner_text()
    labels = message.get_by_role("link", name="label sheet").get_attribute("href")
    sheet = clerk.request.get(f"{live_server.url}{labels}")
    assert sheet.status == 200
    assert sheet.headers["content-type"] == "application/pdf"

    # A nurse of the ward transfers one patient and discharges another.
    nurse = signed_in(browser, live_server, "ann")
    nurse.get_by_role("link", name="WARD-A").first.click()
    census = nurse.locator("table.census")
    assert number in census.inner_text()
    assert "entered during downtime by Cleo Clerk" in census.inner_text()
    nurse.goto(_patient_url(live_server, "MRN-4711"))
    nurse.get_by_role("link", name="Transfer", exact=True).click()
    nurse.get_by_label("To ward").select_option(label="WARD-B")
    nurse.get_by_label("Bed").select_option(label="BED-8")
    nurse.get_by_role("button", name="Enter the transfer").click()
    assert "Transfer entered." in nurse.locator("ul.messages").inner_text()
    nurse.goto(_patient_url(live_server, "MRN-4712"))
    nurse.get_by_role("link", name="Discharge").click()
    nurse.get_by_label("Home").check()
    nurse.get_by_role("button", name="Enter the discharge").click()
    journal = nurse.locator("table.journal").inner_text()
    assert "from WARD-A to WARD-B" in journal
    assert "Home" in journal
    assert "ADM-7" in journal

    # The census of WARD-A: the new patient only.
    nurse.get_by_role("link", name="Census: WARD-A").click()
    rows = nurse.locator("table.census tbody tr")
    assert rows.count() == 1
    assert number in rows.inner_text()

    # The other ward's nurse sees the patient arrive, marked; and no journal
    # of WARD-A, nor its forms.
    other = signed_in(browser, live_server, "bob")
    other.get_by_role("link", name="WARD-B").first.click()
    arrived = other.locator("table.census").inner_text()
    assert "MRN-4711" in arrived
    assert "from WARD-A at" in arrived
    assert "entered during downtime by Ann Nurse" in arrived
    other.goto(_patient_url(live_server, "MRN-4711"))
    assert (
        "transferred from WARD-A to WARD-B"
        in other.locator(".journal-marks").inner_text()
    )
    other.screenshot(path=ARTIFACTS / "journal-patient.png", full_page=True)
    for path in ("", "admit/", "transfer/", "discharge/"):
        answer = other.goto(f"{live_server.url}/downtime/journal/{ward_a.pk}/{path}")
        assert answer.status == 404

    # The nurse corrects the admission's bed: both entries are shown.
    nurse.goto(f"{live_server.url}/downtime/journal/{ward_a.pk}/")
    admission = nurse.locator("tbody.journal-entry", has_text=number)
    admission.get_by_role("link", name="Correct").click()
    nurse.get_by_label("Right bed").select_option(label="BED-1")
    nurse.get_by_role("button", name="Enter the correction").click()
    admission = nurse.locator("tbody.journal-entry", has_text=number)
    assert "BED-3" in admission.inner_text()
    assert "right bed: BED-1" in admission.inner_text()
    nurse.screenshot(path=ARTIFACTS / "journal.png", full_page=True)
    nurse.goto(f"{live_server.url}/wards/{ward_a.pk}/")
    assert "BED-1" in nurse.locator("table.census").inner_text()
    nurse.screenshot(path=ARTIFACTS / "journal-census.png", full_page=True)

    # A freshly rendered pack (as the worker renders it) shows the ward as
    # the journal has it; the clerk prints it.
    pack = pack_render(pack_id=pack_request(location=ward_a, reason="command").pk)
    printed = clerk.request.get(f"{live_server.url}/packs/{pack.pk}.pdf")
    assert printed.status == 200
    pages = [
        " ".join((sheet.extract_text() or "").split())
        for sheet in PdfReader(io.BytesIO(printed.body())).pages
    ]
    text = " ".join(pages)
    assert number in text
    assert "MRN-4711" not in text
    assert "MRN-4712" not in text
    assert "entered during downtime by Cleo Clerk" in text
    assert "correction of the admission" in text  # both entries, marked
    assert all("BED-1" in page for page in pages if number in page)

    # On a phone: the journal and the census, without sideways scrolling.
    phone = signed_in(browser, live_server, "ann", viewport=PHONE)
    for path, name in (
        (f"/downtime/journal/{ward_a.pk}/", "journal"),
        (f"/wards/{ward_a.pk}/", "census"),
    ):
        phone.goto(f"{live_server.url}{path}")
        phone.screenshot(path=ARTIFACTS / f"journal-{name}-390.png", full_page=True)
        assert no_sideways_scroll(phone), path


def _patient_url(live_server, mrn: str) -> str:
    return f"{live_server.url}/patients/{Patient.objects.get(mrn=mrn).pk}/"
