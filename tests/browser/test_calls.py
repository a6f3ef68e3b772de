"""Postponement calls in a real browser, on a phone, during a declared
downtime: a cardiology clerk calls her patients and records each call;
dermatology's clerk sees none of them."""

import re

import pytest

from accounts.models import AccessLog
from downtime.models import Call
from downtime.services import downtime_declare
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_census_journal import (
    PHONE,
    no_sideways_scroll,
    signed_in,
    staff,
)
from tests.downtime.test_calls import (
    by_id,
    clinics,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clerk_calls_her_clinics_patients_and_records_each_call(
    browser,
    live_server,
    clinics,  # noqa: F811 - the fixture
):
    card, derm = clinics
    ivan = staff("ivan", "it", None, "Ivan Itten")
    downtime_declare(user=ivan, kind="unplanned", reason="Ransomware")
    staff("claire", "clerk", card, "Claire Clerk")
    staff("dora", "clerk", derm, "Dora Other")
    visit = by_id("a1")

    page = signed_in(browser, live_server, "claire", viewport=PHONE)
    page.get_by_role("link", name="Postponement calls: patients to call").click()
    page.get_by_role("heading", name="Postponement calls").wait_for()
    row = page.locator(f'tr[data-appointment="{visit.pk}"]')
    assert "+32 470 11 11 11" in row.inner_text()
    assert "MRN-P9" not in page.content()  # dermatology's
    assert no_sideways_scroll(page)

    row.get_by_label("Not reached: try again").check()
    row.get_by_placeholder("Note (optional)").fill("voicemail")
    row.get_by_role("button", name="Record the call").click()
    page.get_by_text("Call recorded.").wait_for()
    row = page.locator(f'tr[data-appointment="{visit.pk}"]')
    assert "1 try without reaching" in row.inner_text()

    row.get_by_label("Reached: postponed").check()
    row.get_by_label("New date, if given").fill("2027-01-15")
    row.get_by_role("button", name="Record the call").click()
    page.get_by_text("Call recorded.").wait_for()
    # Done: no longer still to call; the day's list shows its outcome.
    assert page.locator(f'tr[data-appointment="{visit.pk}"]').count() == 0
    page.locator("table.call-progress a").first.click()  # tomorrow, cardiology
    page.get_by_role("heading", name=re.compile("Appointments of")).wait_for()
    row = page.locator(f'tr[data-appointment="{visit.pk}"]')
    assert "Reached: postponed: 15/01/2027" in row.inner_text()
    assert no_sideways_scroll(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "calls-phone.png", full_page=True)

    calls = Call.objects.filter(appointment=visit).order_by("pk")
    assert [(c.outcome, c.called_by.username) for c in calls] == [
        ("not_reached", "claire"),
        ("postponed", "claire"),
    ]
    assert (
        AccessLog.objects.filter(
            action="calls", username="claire", target=f"call {visit.pk}"
        ).count()
        == 2
    )

    other = signed_in(browser, live_server, "dora", viewport=PHONE)
    other.get_by_role("link", name="Postponement calls: patients to call").click()
    other.get_by_role("heading", name="Postponement calls").wait_for()
    assert "MRN-P1" not in other.content()
    assert "MRN-P9" in other.content()
