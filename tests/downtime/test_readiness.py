"""Readiness: "are we ready if it goes dark now?", per ward, for IT and as
JSON for a monitoring system."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from patients.models import FeedState
from printouts.models import Pack
from stations.models import Station
from stations.services import station_create, station_enrol, station_heartbeat
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


def on_a_station(*wards, name: str = "Ward PC", minutes_silent: int = 0) -> Station:
    """A ward station serving these wards, holding their newest packs."""
    it = User.objects.get_or_create(username="it-station-maker")[0]
    station, code = station_create(name=name, locations=wards, notes="", user=it)
    station, _token = station_enrol(code=code, address=None, version="test")
    newest = [ward.packs.order_by("-generated_at").first() for ward in wards]
    station_heartbeat(
        station=station,
        report={
            "holdings": [
                {"item": f"pack-{pack.pk}", "sha256": pack.sha256}
                for pack in newest
                if pack
            ]
        },
        address=None,
    )
    Station.objects.filter(pk=station.pk).update(
        last_seen_at=timezone.now() - dt.timedelta(minutes=minutes_silent)
    )
    station.refresh_from_db()
    return station


def places(response) -> dict[str, dict]:
    return {place["name"]: place for place in json.loads(response.content)["places"]}


def test_each_ward_is_measured_against_its_thresholds(client, wards, settings):
    ward_a, ward_b = wards
    settings.READINESS_DOWNLOAD_DAYS = 7
    ready_pack(ward_a, minutes_old=5)
    ready_pack(ward_b, minutes_old=settings.FRESHNESS_RED_MINUTES + 5)
    downloaded(ward_a, days_ago=1)
    downloaded(ward_b, days_ago=9)
    on_a_station(ward_a)
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
    assert found["WARD-B"]["last_download"]["level"] == "amber"
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
    assert response.status_code == 503  # no ward station holds B's pack yet
    assert places(response)["WARD-B"]["station"]["level"] == "red"
    on_a_station(ward_b, name="B's PC")
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


def test_a_ward_no_station_holds_a_recent_copy_of_is_red(client, wards, settings):
    ward_a, ward_b = wards
    settings.STATION_COPY_MAX_MINUTES = 30
    older = ready_pack(ward_a, minutes_old=40)
    downloaded(ward_a, days_ago=0)
    downloaded(ward_b, days_ago=0)
    on_a_station(ward_a)  # holds A's pack of 40 minutes ago
    newest_a = ready_pack(ward_a, minutes_old=2)
    ready_pack(ward_b, minutes_old=2)
    client.force_login(person("ivan", "it"))

    response = client.get(reverse("downtime:readiness-json"))

    assert response.status_code == 503
    found = places(response)
    assert found["WARD-A"]["station"] == {
        "level": "red",  # its copy is older than 30 minutes
        "stations": ["Ward PC"],
        "holds_newest": False,
        "best_as_of": older.as_of.isoformat(),
        "best_held_by": ["Ward PC"],
    }
    assert found["WARD-B"]["station"]["level"] == "red"
    assert found["WARD-B"]["station"]["stations"] == []
    page = client.get(reverse("downtime:readiness")).content.decode()
    assert ">No station<" in page
    assert "No ward station holds a copy of these wards' packs from the last " in page
    assert "WARD-A, WARD-B." in page

    on_a_station(ward_a, ward_b, name="Second PC")  # holds both newest packs

    response = client.get(reverse("downtime:readiness-json"))
    assert response.status_code == 200
    found = places(response)
    assert found["WARD-A"]["station"]["holds_newest"] is True
    assert found["WARD-A"]["station"]["best_as_of"] == newest_a.as_of.isoformat()
    assert found["WARD-A"]["station"]["best_held_by"] == ["Second PC"]
    assert found["WARD-A"]["station"]["stations"] == ["Second PC", "Ward PC"]
    assert {p["station"]["level"] for p in found.values()} == {"fresh"}


def test_a_silent_station_is_named(client, wards, settings):
    ward_a, _ward_b = wards
    settings.STATION_SILENT_MINUTES = 10
    ready_pack(ward_a, minutes_old=1)
    on_a_station(ward_a, name="Quiet PC", minutes_silent=11)
    on_a_station(ward_a, name="Lively PC", minutes_silent=2)
    client.force_login(person("ivan", "it"))

    data = json.loads(client.get(reverse("downtime:readiness-json")).content)
    page = client.get(reverse("downtime:readiness")).content.decode()

    assert [s["name"] for s in data["silent_stations"]] == ["Quiet PC"]
    assert "Ward stations not heard from for 10 minutes or more:" in page
    assert ">Quiet PC</a>" in page
    assert ">Lively PC</a>" not in page


def test_the_verdict_agrees_with_every_row(client, wards, settings):
    """Packs fresh here and on a station, but none downloaded to print: each
    row says ready with a warning, and so does the page; never "Yes" beside
    a red row."""
    ward_a, ward_b = wards
    ready_pack(ward_a, minutes_old=5)
    ready_pack(ward_b, minutes_old=5)
    on_a_station(ward_a, ward_b)
    client.force_login(person("ivan", "it"))

    response = client.get(reverse("downtime:readiness-json"))
    page = client.get(reverse("downtime:readiness")).content.decode()

    assert response.status_code == 200
    assert {p["level"] for p in places(response).values()} == {"amber"}
    assert "Yes: every ward and clinic has a pack" in page
    assert page.count('class="level-amber"') == 2
    assert page.count('<span class="age amber">Yes, with a warning</span>') == 2
    assert "red" not in page.split('<table class="grid readiness')[1]
    assert "No pack downloaded to print for 7 days or more: WARD-A, WARD-B." in page

    ready_pack(ward_b, minutes_old=settings.FRESHNESS_RED_MINUTES + 5)
    Pack.objects.filter(
        location=ward_b, as_of__gt=timezone.now() - dt.timedelta(minutes=10)
    ).delete()
    page = client.get(reverse("downtime:readiness")).content.decode()
    assert "No: the wards and clinics in red" in page
    assert '<span class="age red">No</span>' in page
