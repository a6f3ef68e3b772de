"""IT declares a downtime in a real browser, follows the final set of packs
as they become ready without a reload, and moves it to recovery."""

import re

import pytest

from accounts.services import demo_accounts_ensure
from downtime.models import Downtime
from printouts.models import Pack
from printouts.services import pack_render
from tests.browser.conftest import ARTIFACTS
from tests.patients.test_pages import wards  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def passwords(wards) -> dict[str, str]:  # noqa: F811
    return {c.username: c.password for c in demo_accounts_ensure(reset_passwords=True)}


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(live_server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()


def test_it_declares_and_watches_every_ward_get_its_pack(page, live_server, passwords):
    sign_in(page, live_server, "it", passwords["it"])
    page.get_by_role("link", name="Downtime page").click()
    page.get_by_role("heading", name="Declare a downtime").wait_for()
    page.get_by_label("Unplanned").check()
    page.get_by_label("Reason (seen by IT only)").fill("EHR down: storage failure")
    page.get_by_label("Affected systems").fill("EHR")
    page.get_by_label("Your password").fill("wrong password")
    page.get_by_role("button", name="Declare the downtime").click()
    assert "That is not your password." in page.locator("main").inner_text()
    assert not Downtime.objects.exists()

    page.get_by_label("Your password").fill(passwords["it"])
    page.get_by_role("button", name="Declare the downtime").click()
    page.get_by_role("heading", name="Downtime in progress").wait_for()
    banner = page.locator(".downtime-banner").inner_text()
    assert "DOWNTIME" in banner
    assert "Unavailable: EHR." in banner
    summary = page.locator(".final-summary")
    assert "0 of 2 ready." in summary.inner_text()

    # IT starts typing the recovery note while the packs render: the page
    # follows them without a reload, and keeps what was typed.
    page.get_by_label("Why now").fill("Storage replaced")
    downtime = Downtime.objects.get()
    for pack in Pack.objects.filter(downtime=downtime):
        pack_render(pack_id=pack.pk)  # as the worker does
    summary.get_by_text(re.compile("All 2 packs are ready")).wait_for()
    rows = page.locator("#final-set tbody tr")
    assert rows.count() == 2
    for index in range(2):
        assert "Ready" in rows.nth(index).locator("td.status").inner_text()
    assert page.get_by_label("Why now").input_value() == "Storage replaced"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "downtime-page.png", full_page=True)

    recovery = page.get_by_role("button", name="Start the recovery")
    page.locator("form", has=recovery).get_by_label("Your password").fill(
        passwords["it"]
    )
    recovery.click()
    page.get_by_role("heading", name="Recovery in progress").wait_for()
    assert "RECOVERY" in page.locator(".downtime-banner").inner_text()
    downtime.refresh_from_db()
    assert downtime.state == Downtime.State.RECOVERY


def test_a_nurse_sees_the_banner_and_no_controls(page, live_server, passwords):
    from django.contrib.auth import get_user_model

    from downtime.services import downtime_declare

    it = get_user_model().objects.get(username="it")
    downtime_declare(user=it, kind="unplanned", reason="Crash")
    sign_in(page, live_server, "nurse", passwords["nurse"])
    assert "DOWNTIME" in page.locator(".downtime-banner").inner_text()
    assert page.get_by_role("link", name="Downtime page").count() == 0
    response = page.goto(f"{live_server.url}/downtime/")
    assert response.status == 403
