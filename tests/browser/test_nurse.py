"""A nurse at a ward PC, in a real browser: sign in, census, patient, search,
sign out; and the idle timeout on a shared computer."""

import re
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from accounts.middleware import SEEN
from accounts.services import demo_accounts_ensure
from patients.models import Location
from tests.browser.conftest import ARTIFACTS
from tests.patients.test_pages import wards  # noqa: F401 - the fixture

# The live server's thread reads committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nurse(wards) -> str:  # noqa: F811
    """The demo nurse's password; she works on every ward of the mirror."""
    passwords = {
        c.username: c.password for c in demo_accounts_ensure(reset_passwords=True)
    }
    return passwords["nurse"]


def sign_in(page, live_server, password: str) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill("nurse")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()


def test_a_nurse_finds_her_patient_and_signs_out(page, live_server, nurse):
    sign_in(page, live_server, nurse)
    assert "Data as of" in page.locator(".freshness").inner_text()

    page.get_by_role("link", name="WARD-A").click()
    census = page.locator("table.census")
    assert "Penicillin" in census.inner_text()
    assert "MRN-4711" in census.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "census.png", full_page=True)

    page.locator("table.census a").first.click()
    page.get_by_role("heading", name="Allergies and intolerances").wait_for()
    assert "MRN-4711" in page.locator(".identity").inner_text()
    assert "/patients/" in page.url
    assert "MRN" not in page.url
    page.screenshot(path=ARTIFACTS / "patient.png", full_page=True)

    page.get_by_role("link", name="Find a patient").click()
    page.get_by_label(re.compile("Name, MRN or birth date")).fill("zoe aal")
    page.get_by_role("button", name="Search").click()
    results = page.locator("table.census")
    assert "MRN-4712" in results.inner_text()
    assert "zoe" not in page.url

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    ward = Location.objects.get(name="WARD-A")
    page.goto(f"{live_server.url}/wards/{ward.pk}/")
    assert "/accounts/login/" in page.url


def test_an_idle_session_ends_and_says_so(page, live_server, nurse, settings):
    sign_in(page, live_server, nurse)
    # Sixteen minutes pass without a click.
    for session in Session.objects.all():
        store = SessionStore(session_key=session.session_key)
        store[SEEN] = time.time() - 16 * 60
        store.save()

    page.get_by_role("link", name="WARD-A").click()

    assert "/accounts/login/" in page.url
    assert "signed out after 15 minutes without activity" in page.content()
    assert "Penicillin" not in page.content()


def test_a_declared_downtime_shows_on_the_page_the_nurse_has_open(
    page, live_server, nurse
):
    from downtime.services import downtime_declare

    sign_in(page, live_server, nurse)
    page.get_by_role("link", name="WARD-A").click()
    assert page.locator(".downtime-banner").count() == 0

    downtime_declare(user=demo_it(), kind="unplanned", reason="Ransomware")
    page.reload()  # her next click

    banner = page.locator(".downtime-banner")
    assert banner.is_visible()
    assert "DOWNTIME" in banner.inner_text()
    assert "work on paper" in banner.inner_text()
    assert "Penicillin" in page.locator("table.census").inner_text()
    box = banner.bounding_box()
    assert box["y"] == 0  # the first thing on the screen
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "downtime.png", full_page=True)


def demo_it():
    from django.contrib.auth.models import User

    return User.objects.get(username="it")
