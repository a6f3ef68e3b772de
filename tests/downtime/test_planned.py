"""A planned downtime: scheduled by IT, its packs rendered again shortly
before its start, and beginning by itself at the start."""

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from downtime.models import Downtime
from downtime.selectors import downtime_active
from downtime.services import downtime_declare, downtime_tick
from patients.models import FeedState
from printouts.models import Pack
from tests.downtime.test_banner import banner
from tests.downtime.test_page import PASSWORD, declaration
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_planned_downtime_is_refreshed_before_and_begins_at_its_start(client, wards):
    ward_a, ward_b = wards
    ivan = person("ivan", "it")
    client.force_login(ivan)
    now = timezone.now().replace(second=0, microsecond=0)
    start, end = now + dt.timedelta(minutes=60), now + dt.timedelta(hours=3)
    response = client.post(
        reverse("downtime:declare"),
        declaration(
            kind="planned",
            reason="EHR upgrade to 2027.1",
            starts_at=local(start),
            expected_end=local(end),
        ),
    )
    assert response.status_code == 302
    planned = Downtime.objects.get()
    assert (planned.state, planned.starts_at, planned.expected_end) == (
        "scheduled",
        start,
        end,
    )
    assert downtime_active() is None
    assert not Pack.objects.exists()
    home = client.get(reverse("patients:home")).content.decode()
    assert banner(home) == ""  # nothing has happened yet
    page = client.get(reverse("downtime:page")).content.decode()
    assert "Scheduled downtimes" in page
    assert "EHR upgrade to 2027.1" in page
    assert "Declare a downtime" in page  # an unplanned one can still come first

    lead = dt.timedelta(minutes=settings.DOWNTIME_REFRESH_MINUTES)
    assert downtime_tick(now=start - lead - dt.timedelta(minutes=1)) == []
    assert not Pack.objects.exists()
    assert downtime_tick(now=start - lead) == []
    packs = Pack.objects.filter(downtime=planned)
    assert {p.location for p in packs} == {ward_a, ward_b}
    assert {p.reason for p in packs} == {Pack.Reason.DOWNTIME}
    planned.refresh_from_db()
    assert planned.packs_queued_at is not None
    assert planned.state == "scheduled"
    assert downtime_tick(now=start - dt.timedelta(minutes=1)) == []
    assert Pack.objects.count() == 2  # queued once only

    frozen = now - dt.timedelta(minutes=3)
    assert FeedState.objects.update(last_success_at=frozen)
    assert downtime_tick(now=start) == [planned.pk]
    planned.refresh_from_db()
    assert planned.state == "downtime"
    assert planned.declared_at == start
    assert planned.frozen_at == frozen
    assert list(planned.transitions.values_list("state", "user", "why")) == [
        ("scheduled", ivan.pk, "EHR upgrade to 2027.1"),
        ("downtime", ivan.pk, "Scheduled start"),
    ]
    assert downtime_active() == planned
    assert "DOWNTIME" in banner(client.get(reverse("patients:home")).content.decode())


def test_only_a_planned_downtime_starts_later_and_it_can_be_cancelled(client, wards):
    ivan = person("ivan", "it")
    client.force_login(ivan)
    later = local(timezone.now() + dt.timedelta(hours=2))
    response = client.post(
        reverse("downtime:declare"), declaration(kind="unplanned", starts_at=later)
    )
    assert response.status_code == 400
    assert "Only a planned downtime can start later." in response.content.decode()
    response = client.post(
        reverse("downtime:declare"),
        declaration(
            kind="planned",
            starts_at=later,
            expected_end=local(timezone.now() + dt.timedelta(hours=1)),
        ),
    )
    assert "The expected end must come after the start." in response.content.decode()
    earlier = local(timezone.now() - dt.timedelta(hours=2))
    response = client.post(
        reverse("downtime:declare"), declaration(kind="planned", starts_at=earlier)
    )
    assert "cannot be declared in the past" in response.content.decode()
    assert not Downtime.objects.exists()

    client.post(
        reverse("downtime:declare"), declaration(kind="planned", starts_at=later)
    )
    planned = Downtime.objects.get()
    cancel = reverse("downtime:cancel", args=[planned.pk])
    prefix = f"cancel-{planned.pk}"
    response = client.post(cancel, {f"{prefix}-why": "Vendor postponed"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    response = client.post(
        cancel, {f"{prefix}-why": "Vendor postponed", f"{prefix}-password": PASSWORD}
    )
    assert response.status_code == 302
    planned.refresh_from_db()
    assert planned.state == "cancelled"
    assert downtime_tick(now=timezone.now() + dt.timedelta(hours=3)) == []
    page = client.get(reverse("downtime:page")).content.decode()
    assert "Cancelled before it began" in page


def test_a_scheduled_start_waits_while_another_downtime_is_active(wards, caplog):
    ivan = person("ivan", "it")
    start = timezone.now() + dt.timedelta(minutes=30)
    planned = downtime_declare(
        user=ivan, kind="planned", reason="Upgrade", starts_at=start
    )
    unplanned = downtime_declare(user=ivan, kind="unplanned", reason="Crash")
    assert downtime_tick(now=start) == []
    planned.refresh_from_db()
    assert planned.state == "scheduled"
    assert downtime_active() == unplanned
    assert f"scheduled downtime {planned.pk} cannot begin" in caplog.text
