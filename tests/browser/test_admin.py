"""IT in the admin, in a real browser: an HL7 message's page shows what it
is, and its raw content only after a click that says it is logged."""

import re

import pytest

from accounts.models import AccessLog
from accounts.services import demo_accounts_ensure
from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import InboundMessage
from tests.browser.conftest import ARTIFACTS
from tests.patients.hl7 import adt, wards

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reads_a_raw_hl7_message_after_a_click_that_logs_it(page, live_server):
    wards("WARD-A")
    hl7_receive(raw=adt("A01", "C1", place="WARD-A^R1^B1"))
    message = InboundMessage.objects.get()
    password = {c.username: c.password for c in demo_accounts_ensure()}["it"]
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("it")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/admin/patients/inboundmessage/{message.pk}/change/")
    assert "PEETERS" not in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "admin-inbound-message.png", full_page=True)
    assert not AccessLog.objects.exists()

    page.get_by_role(
        "button", name="Show the raw message (this is logged in the access log)"
    ).click()

    page.get_by_text(re.compile("This look is in the access log")).wait_for()
    assert (
        "PID|1||MRN-1^^^GENERAL^MR||PEETERS^Anaïs" in page.locator("pre").inner_text()
    )
    page.screenshot(path=ARTIFACTS / "admin-inbound-message-raw.png", full_page=True)
    entry = AccessLog.objects.get()
    assert (entry.username, entry.action, entry.outcome) == (
        "it",
        "hl7_message",
        "allowed",
    )
