"""The downtime banner: on every page, for every user, while a downtime or
its recovery lasts; a drill says it is one."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from downtime.models import Downtime
from downtime.services import downtime_declare, downtime_recover
from patients.models import FeedState
from tests.downtime.steps import close_leaving_items
from tests.patients.test_pages import mrn, pages
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def every_page(ward, patient_id) -> list[str]:
    return [
        reverse("patients:home"),
        *pages(ward, patient_id),
        reverse("patients:pending-labs", args=[ward.pk]),
        reverse("patients:search"),
        reverse("printouts:packs"),
    ]


def banner(text: str) -> str:
    """The banner's text, whitespace collapsed; "" if there is none."""
    start = text.find('<div class="downtime-banner')
    if start < 0:
        return ""
    return " ".join(text[start : text.index("</div>", start)].split())


def test_every_page_shows_the_downtime_to_every_user_and_hides_no_data(client, wards):
    ward_a, _ward_b = wards
    frozen = timezone.localtime().replace(hour=3, minute=5, second=0)
    assert FeedState.objects.update(last_success_at=frozen)
    ivan = person("ivan", "it", ward_a)
    anne = person("anne", "nurse", ward_a)
    client.force_login(anne)
    for url in every_page(ward_a, mrn("MRN-4711")):
        assert banner(client.get(url).content.decode()) == "", url

    downtime_declare(
        user=ivan,
        kind=Downtime.Kind.UNPLANNED,
        reason="Ransomware",
        # Tomorrow morning: always after the declaration, whatever the hour.
        expected_end=(frozen + dt.timedelta(days=1)).replace(hour=9, minute=30),
    )
    for user in (anne, person("claire", "clerk", ward_a), ivan):
        client.force_login(user)
        for url in (reverse("patients:home"), reverse("printouts:packs")):
            text = banner(client.get(url).content.decode())
            assert "DOWNTIME" in text, (user, url)
            assert "data frozen at 03:05" in text
            assert re.search(r"Expected end: \d+ \w+ 09:30", text), text
            assert "work on paper" in text
            assert "Ransomware" not in text  # IT's reason is not for every screen
    client.force_login(anne)
    for url in every_page(ward_a, mrn("MRN-4711")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "DOWNTIME" in banner(response.content.decode()), url
    census = client.get(pages(ward_a, mrn("MRN-4711"))[0]).content.decode()
    assert "MRN-4711" in census  # the mirror keeps working
    assert "check the feeds" not in census  # old data is expected now

    client.logout()
    sign_in = client.get(reverse("accounts:login")).content.decode()
    assert "DOWNTIME" in banner(sign_in)
    client.force_login(ivan)
    ivan.is_staff = True
    ivan.save()
    assert "DOWNTIME" in banner(client.get(reverse("admin:index")).content.decode())


def test_recovery_and_close_change_the_banner_then_remove_it(client, wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", "it", ward_a)
    client.force_login(person("anne", "nurse", ward_a))
    downtime = downtime_declare(
        user=ivan, kind=Downtime.Kind.PLANNED, reason="Upgrade", systems=["Lab"]
    )
    home = banner(client.get(reverse("patients:home")).content.decode())
    assert "Unavailable: Lab." in home
    assert "data frozen at" in home

    downtime = downtime_recover(downtime=downtime, user=ivan, why="Lab back")
    home = banner(client.get(reverse("patients:home")).content.decode())
    assert "RECOVERY" in home
    assert "enter what was done on paper" in home

    close_leaving_items(downtime=downtime, user=ivan, why="All entered")
    assert banner(client.get(reverse("patients:home")).content.decode()) == ""


def test_a_drill_is_labelled_as_one_and_says_the_ehr_works(client, wards):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    declared = timezone.now() - dt.timedelta(days=1)
    drill = downtime_declare(
        user=person("ivan", "it"), kind="unplanned", reason="Drill", drill=True
    )
    Downtime.objects.filter(pk=drill.pk).update(declared_at=declared)
    text = client.get(reverse("patients:home")).content.decode()
    assert 'class="downtime-banner downtime drill"' in text
    home = banner(text)
    assert home.startswith('<div class="downtime-banner downtime drill" role="status">')
    assert "DRILL · DOWNTIME" in " ".join(
        home.replace("<strong>", "").replace("</strong>", "").split()
    )
    assert "the EHR is working" in home
    assert "frozen" not in home  # the feeds flow during a drill
    since = timezone.localtime(declared)
    assert f"since {since.day} {since:%b %H:%M}" in home  # another day: dated


def test_a_closed_drills_worklists_show_no_banner(client, wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", "it", ward_a)
    client.force_login(person("anne", "nurse", ward_a))
    drill = downtime_declare(user=ivan, kind="unplanned", reason="Drill", drill=True)
    drill = downtime_recover(downtime=drill, user=ivan, why="Over")
    close_leaving_items(downtime=drill, user=ivan, why="Done")

    for page in (
        reverse("downtime:worklists", args=[drill.pk]),
        reverse("downtime:worklist", args=[drill.pk, "nursing"]),
    ):
        response = client.get(page)
        assert response.status_code == 200
        assert banner(response.content.decode()) == "", page
