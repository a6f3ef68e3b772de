"""Readiness: "are we ready if it goes dark now?", per ward, for IT and as
JSON for a monitoring system."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from patients.models import FeedState
from printouts.models import Pack
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db
TOKEN = "a-monitoring-token-of-32-characters-at-least"


def ready_pack(ward, *, minutes_old: int) -> Pack:
    """A published pack of the ward whose data is ``minutes_old``."""
    at = timezone.now() - dt.timedelta(minutes=minutes_old)
    return Pack.objects.create(
        kind=Pack.Kind.WARD,
        location=ward,
        title=ward.name,
        language="en",
        status=Pack.Status.READY,
        reason=Pack.Reason.SCHEDULED,
        requested_at=at,
        as_of=at,
        generated_at=at,
        page_count=3,
        size=1000,
        sha256="0" * 64,
    )


def downloaded(ward, *, days_ago: float) -> None:
    """A download of the ward's pack, days ago: written in SQL, the log
    stamps its own rows with the present and refuses changes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_accesslog (at, username, roles, action, target, "
            "locations, patients, outcome) VALUES (%s, 'clerk', 'clerk', %s, "
            "'pack', %s, '[]', %s)",
            [
                timezone.now() - dt.timedelta(days=days_ago),
                AccessLog.Action.DOWNLOAD,
                json.dumps([ward.pk]),
                AccessLog.Outcome.ALLOWED,
            ],
        )


def places(response) -> dict[str, dict]:
    return {place["name"]: place for place in json.loads(response.content)["places"]}


def test_each_ward_is_measured_against_its_thresholds(client, wards, settings):
    ward_a, ward_b = wards
    settings.READINESS_DOWNLOAD_DAYS = 7
    ready_pack(ward_a, minutes_old=5)
    ready_pack(ward_b, minutes_old=settings.FRESHNESS_RED_MINUTES + 5)
    downloaded(ward_a, days_ago=1)
    downloaded(ward_b, days_ago=9)
    client.force_login(person("ivan", "it"))

    response = client.get(reverse("downtime:readiness-json"))
    assert response.status_code == 503  # WARD-B's pack is too old to work from
    data = json.loads(response.content)
    assert data["ready"] is False
    found = places(response)
    assert found["WARD-A"]["level"] == "fresh"
    assert found["WARD-A"]["pack"]["level"] == "fresh"
    assert found["WARD-A"]["last_download"]["level"] == "fresh"
    assert found["WARD-B"]["pack"]["level"] == "red"
    assert found["WARD-B"]["last_download"]["level"] == "red"
    assert found["WARD-B"]["level"] == "red"
    assert {feed["name"] for feed in data["mirror"]["feeds"]} == set(
        FeedState.objects.values_list("name", flat=True)
    )

    page = client.get(reverse("downtime:readiness")).content.decode()
    assert "No: the wards and clinics in red" in page
    assert page.count('class="level-red"') == 1
    assert "Not in 7 days" not in page  # WARD-B was downloaded, 9 days ago

    ready_pack(ward_b, minutes_old=1)
    downloaded(ward_b, days_ago=0)
    response = client.get(reverse("downtime:readiness-json"))
    assert response.status_code == 200
    assert {p["level"] for p in places(response).values()} == {"fresh"}
    page = client.get(reverse("downtime:readiness")).content.decode()
    assert "Yes: every ward and clinic has a pack" in page


def test_a_ward_never_rendered_or_downloaded_is_red(client, wards):
    client.force_login(person("ivan", "it"))
    response = client.get(reverse("downtime:readiness-json"))
    assert response.status_code == 503
    for place in places(response).values():
        assert (place["pack"]["level"], place["pack"]["as_of"]) == ("red", None)
        assert (place["last_download"]["at"], place["level"]) == (None, "red")
    page = client.get(reverse("downtime:readiness")).content.decode()
    assert page.count(">No pack</span>") == 2
    assert "No pack downloaded to print for 7 days or more: WARD-A, WARD-B." in page


def test_json_is_for_it_or_a_monitor_with_the_token(client, wards, settings):
    url = reverse("downtime:readiness-json")
    assert client.get(url).status_code == 403
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    settings.READINESS_TOKEN = TOKEN
    assert client.get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    answer = client.get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 503
    assert "no-cache" in answer["Cache-Control"]
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    assert client.get(url).status_code == 403
    assert client.get(reverse("downtime:readiness")).status_code == 403
