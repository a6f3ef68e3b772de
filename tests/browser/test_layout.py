"""Every page at a ward desk (1366 px wide) and on a phone (390 px): nothing
scrolls sideways, and what must stand out on the census and the patient page
(a recorded allergy, a code status other than full resuscitation, an
isolation) says so to a screen reader too, not only by its looks."""

import dataclasses
import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.services import demo_accounts_ensure
from downtime.models import Downtime
from downtime.numbers import number_text, number_use_record, numbers_allocate
from downtime.services import downtime_declare, downtime_recover
from patients.models import Location, Patient
from stations.services import station_create, station_enrol
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_downtime import sign_in
from tests.downtime.steps import close_leaving_items
from tests.downtime.test_worklists import pharmacy_items
from tests.patients.fhir import allergy
from tests.patients.test_pages import (
    lab_order,
    wards,  # noqa: F401 - the fixture
)
from tests.printouts.conftest import load
from tests.printouts.test_documents import code_status

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = [1366, 390]


@dataclasses.dataclass
class Hospital:
    passwords: dict[str, str]
    ward: Location  # WARD-A: the patients whose flags the tests know
    demo_ward: Location  # a ward of the demo hospital, as full as a real one
    clinic: Location
    downtime: Downtime
    station_id: int

    def patient(self, mrn: str) -> int:
        return Patient.objects.get(mrn=mrn).pk


def isolation(fid: str, pid: str, text: str) -> dict:
    return {
        "resourceType": "Flag",
        "id": fid,
        "status": "active",
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "40174006"}],
            "text": text,
        },
        "subject": {"reference": f"Patient/{pid}"},
    }


@pytest.fixture
def hospital(wards) -> Hospital:  # noqa: F811
    """WARD-A (one patient severely allergic to penicillin and not for
    resuscitation, one allergic to amoxicillin and isolated), a ward and
    the clinics of the demo hospital, a closed drill and a recovery under
    way with a worklist of several pages, downtime numbers and a ward
    station."""
    ward_a, _ward_b = wards
    call_command("seed_demo", "--wards", "1", "--beds", "10", stdout=io.StringIO())
    load(
        [
            {
                **allergy("a5", "p2", "Amoxicillin"),
                "criticality": "low",
                "reaction": [],
            },
            code_status("f1", "p1", "Do not resuscitate (DNR)"),
            code_status("f2", "p2", "Full resuscitation"),
            isolation("f3", "p2", "Contact isolation (MRSA)"),
            lab_order("o1", "p1", "LAB-1", "stat"),
            lab_order("o2", "p2", "LAB-2"),
        ]
    )
    passwords = {
        c.username: c.password for c in demo_accounts_ensure(reset_passwords=True)
    }
    it = User.objects.get(username="it")
    drill = downtime_declare(user=it, kind="planned", reason="Drill", drill=True)
    downtime_recover(downtime=drill, user=it, why="Drill over")
    close_leaving_items(downtime=drill, user=it, why="Done")
    downtime = downtime_declare(
        user=it, kind="unplanned", reason="Storage failure", systems=["EHR", "PACS"]
    )
    downtime_recover(downtime=downtime, user=it, why="Storage replaced")
    pharmacy_items(downtime, ward_a, 150)  # more than a page
    numbers_allocate(location=ward_a, count=20, user=it)
    number_use_record(
        number=number_text(2),
        location=ward_a,
        used_at=timezone.now(),
        used_by="Nurse on the night shift",
        user=it,
    )
    station, code = station_create(
        name="Ward A station by the nurses' desk", locations=[ward_a], notes="", user=it
    )
    station_enrol(code=code, address="127.0.0.1", version="test")
    places = Location.objects.exclude(pk__in=[ward_a.pk, _ward_b.pk])
    return Hospital(
        passwords=passwords,
        ward=ward_a,
        demo_ward=places.filter(kind=Location.Kind.WARD).order_by("name").first(),
        clinic=places.filter(kind=Location.Kind.CLINIC).order_by("name").first(),
        downtime=downtime,
        station_id=station.pk,
    )


def pages(hospital: Hospital) -> dict[str, list[tuple[str, str, int]]]:
    """Per user: each page's name, address and status."""
    worklists = hospital.downtime.pk
    busiest = (
        Patient.objects.filter(encounters__ward=hospital.demo_ward)
        .order_by("-pk")
        .first()
    )
    return {
        "nurse": [
            ("home", reverse("patients:home"), 200),
            ("census", reverse("patients:census", args=[hospital.ward.pk]), 200),
            (
                "census-demo",
                reverse("patients:census", args=[hospital.demo_ward.pk]),
                200,
            ),
            (
                "patient",
                reverse("patients:patient", args=[hospital.patient("MRN-4711")]),
                200,
            ),
            ("patient-demo", reverse("patients:patient", args=[busiest.pk]), 200),
            (
                "pending-labs",
                reverse("patients:pending-labs", args=[hospital.ward.pk]),
                200,
            ),
            ("search", reverse("patients:search"), 200),
            ("packs", reverse("printouts:packs"), 200),
            ("worklists", reverse("downtime:worklists", args=[worklists]), 200),
            (
                "worklist",
                reverse("downtime:worklist", args=[worklists, "pharmacy"]),
                200,
            ),
            (
                "worklist-page-2",
                reverse("downtime:worklist", args=[worklists, "pharmacy"])
                + f"?ward={hospital.ward.pk}&page=2",
                200,
            ),
            ("403", reverse("downtime:page"), 403),
            ("404", reverse("patients:patient", args=[0]), 404),
        ],
        "clerk": [
            ("clinic", reverse("patients:clinic", args=[hospital.clinic.pk]), 200),
            ("packs-clerk", reverse("printouts:packs"), 200),
        ],
        "it": [
            ("downtime", reverse("downtime:page"), 200),
            ("numbers", reverse("downtime:numbers"), 200),
            ("readiness", reverse("downtime:readiness"), 200),
            ("stations", reverse("stations:list"), 200),
            (
                "station",
                reverse("stations:detail", args=[hospital.station_id]),
                200,
            ),
            (
                "worklist-it",
                reverse("downtime:worklist", args=[worklists, "nursing"]),
                200,
            ),
            ("500", "/fail/", 500),
        ],
    }


def sideways(page) -> int:
    """How many pixels the page scrolls sideways (0: it does not)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


# The outermost elements that reach past the right edge: what to fix.
CULPRITS = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.parentElement.closest("*") ||
    e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 3)
  .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))"""


# Data tables that do not say what they list, to a screen reader either.
UNCAPTIONED = """() => [...document.querySelectorAll("main table")]
  .filter(t => !(t.caption && t.caption.textContent.trim())).length"""

# The first thing the Tab key reaches.
FIRST_FOCUSABLE = """() => document.querySelector(
  "a[href], button, input:not([type=hidden]), select, textarea, [tabindex='0']"
).className"""


def screenshot(page, width: int, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"layout-{width}-{name}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(browser, live_server, hospital, settings, width):
    settings.ROOT_URLCONF = "tests.config.failing_urls"
    wide = []
    for username, visits in pages(hospital).items():
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, live_server, username, hospital.passwords[username])
        for name, url, status in visits:
            response = page.goto(live_server.url + url)
            assert response.status == status, name
            if name == "search":
                page.get_by_label(re.compile("Name, MRN or birth date")).fill("aal")
                page.get_by_role("button", name="Search").click()
                page.locator("table.census").wait_for()
            assert page.evaluate(UNCAPTIONED) == 0, name
            assert page.evaluate(FIRST_FOCUSABLE) == "skip-link", name
            if sideways(page) > 0:
                wide.append((name, sideways(page), page.evaluate(CULPRITS)))
            screenshot(page, width, name)
        context.close()

    assert wide == [], (
        f"pages that scroll sideways (name, pixels, what reaches past the edge): {wide}"
    )


def spoken(locator) -> str:
    """What a screen reader reads of an element: the text of its
    accessibility tree (Playwright's ARIA snapshot), without what it is
    told to skip (aria-hidden)."""
    lines = locator.aria_snapshot().splitlines()
    words = (re.sub(r"^\s*- [\w-]+:?\s*", "", line).strip('"') for line in lines)
    return " ".join(" ".join(words).split())


def boxed_and_bold(locator) -> bool:
    """Set apart by more than a colour: bold and with a border or bar."""
    return locator.evaluate(
        """e => { const s = getComputedStyle(e);
          return parseInt(s.fontWeight) >= 700 && (parseFloat(s.borderLeftWidth) > 0
            || parseFloat(s.borderTopWidth) > 0); }"""
    )


def marked(page, selector: str, *, symbol: bool = True) -> list[str]:
    """What a screen reader reads of each element ``selector`` finds, each
    one checked to be visible, set apart by more than its colour and shown
    with the ⚠ (or without, ``symbol=False``) that a black-and-white
    printout keeps."""
    found = page.locator(selector).all()
    for element in found:
        assert element.is_visible(), selector
        assert boxed_and_bold(element), selector
        assert ("⚠" in element.inner_text()) == symbol, selector
    return [spoken(element) for element in found]


@pytest.mark.parametrize("width", WIDTHS)
def test_what_must_stand_out_says_so_to_a_screen_reader_too(
    page, live_server, hospital, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "nurse", hospital.passwords["nurse"])

    page.goto(live_server.url + reverse("patients:census", args=[hospital.ward.pk]))
    assert marked(page, "table.census .allergy-tag.severe") == [
        "Severe allergy: Penicillin"
    ]
    assert marked(page, "table.census .allergy-tag:not(.severe)", symbol=False) == [
        "Allergy: Amoxicillin"
    ]
    assert marked(page, "table.census .flag-strong") == [
        "Warning: Do not resuscitate (DNR)",
        "Warning: Contact isolation (MRSA)",
    ]
    assert "Full resuscitation" in page.locator("table.census").inner_text()
    screenshot(page, width, "emphasis-census")

    penicillin = reverse("patients:patient", args=[hospital.patient("MRN-4711")])
    page.goto(live_server.url + penicillin)
    assert marked(page, "p.allergy.severe") == [
        "Severe allergy: Penicillin - Anaphylaxis (Severe)"
    ]
    assert marked(page, ".flag-strong") == ["Warning: Do not resuscitate (DNR)"]

    amoxicillin = reverse("patients:patient", args=[hospital.patient("MRN-4712")])
    page.goto(live_server.url + amoxicillin)
    assert marked(page, "p.allergy", symbol=False) == ["Allergy: Amoxicillin"]
    assert marked(page, ".flag-strong") == ["Warning: Contact isolation (MRSA)"]
    assert "Full resuscitation" in page.locator("dl.facts").first.inner_text()
    screenshot(page, width, "emphasis-patient")


def test_the_keyboard_reaches_skip_to_content_first(page, live_server, hospital):
    page.set_viewport_size({"width": 390, "height": 900})
    sign_in(page, live_server, "nurse", hospital.passwords["nurse"])
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.bounding_box()["y"] < 0  # out of sight until needed

    page.keyboard.press("Tab")

    assert skip.evaluate("e => e === document.activeElement")
    box = skip.bounding_box()
    assert box["y"] >= 0
    assert box["x"] + box["width"] <= 390
    screenshot(page, 390, "skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")  # on to the page's own first link
    assert page.evaluate("document.activeElement.closest('main') !== null")
