"""IT's station pages: add a station and read its code once, see what each
holds, make a new code, revoke. Each action asks for the password again."""

import re

import pytest
from django.urls import reverse

from stations.models import Station
from stations.services import code_normalised, digest, station_heartbeat
from tests.printouts.test_views import person
from tests.stations.conftest import enrolled, published

pytestmark = pytest.mark.django_db
PASSWORD = "pw-long-enough-1"  # tests.printouts.test_views.person's


def test_only_it_sees_the_station_pages(client, small_ward):
    url = reverse("stations:list")
    assert client.get(url).status_code == 302  # to the sign-in page
    for role in ("nurse", "clerk"):
        client.force_login(person(f"a-{role}", role, small_ward))
        assert client.get(url).status_code == 403
        assert client.post(url, {"name": "x"}).status_code == 403


def test_it_adds_a_station_and_reads_its_code_once(
    client, small_ward, other_ward, django_assert_max_num_queries
):
    client.force_login(person("ivan", "it"))

    answer = client.post(
        reverse("stations:list"),
        {
            "name": "3A nurses' station",
            "locations": [small_ward.pk, other_ward.pk],
            "notes": "HP LaserJet by the door; UPS under the desk",
            "password": PASSWORD,
        },
    )

    assert answer.status_code == 200
    page = answer.content.decode()
    code = re.search(r"<code>([A-Z0-9-]+)</code>", page).group(1)
    assert f"downtime-station enrol http://testserver {code}" in page
    station = Station.objects.get()
    assert station.code_hash == digest(code_normalised(code))
    assert set(station.locations.all()) == {small_ward, other_ward}
    assert "no-store" in answer["Cache-Control"]

    enrolled("Other PC", [small_ward], station.created_by)
    with django_assert_max_num_queries(10):
        listing = client.get(reverse("stations:list")).content.decode()
    assert "3A nurses&#x27; station" in listing
    assert "Waiting to be enrolled" in listing
    assert code not in listing  # shown once, never again


def test_a_wrong_password_or_a_taken_name_adds_nothing(client, small_ward):
    client.force_login(person("ivan", "it"))
    form = {"name": "PC", "locations": [small_ward.pk], "password": "not-mine"}

    wrong = client.post(reverse("stations:list"), form)
    assert wrong.status_code == 400
    assert "That is not your password." in wrong.content.decode()
    assert not Station.objects.exists()

    client.post(reverse("stations:list"), {**form, "password": PASSWORD})
    taken = client.post(
        reverse("stations:list"), {**form, "name": "pc", "password": PASSWORD}
    )
    assert taken.status_code == 400
    assert "A station of this name exists already." in taken.content.decode()
    assert Station.objects.count() == 1


def test_it_sees_what_a_station_holds_makes_a_new_code_and_revokes_it(
    client, small_ward
):
    it = person("ivan", "it")
    pack = published(small_ward)
    station, token = enrolled("3A PC", [small_ward], it)
    station_heartbeat(
        station=station,
        report={"holdings": [{"item": f"pack-{pack.pk}", "sha256": pack.sha256}]},
        address="10.1.2.3",
    )
    client.force_login(it)
    url = reverse("stations:detail", args=[station.pk])

    page = client.get(url).content.decode()
    assert f"pack-{pack.pk}" in page
    assert small_ward.name in page
    assert "10.1.2.3" in page

    code_url = reverse("stations:code", args=[station.pk])
    assert client.post(code_url, {"code-password": "no"}).status_code == 400
    answer = client.post(code_url, {"code-password": PASSWORD})
    assert answer.status_code == 200
    station.refresh_from_db()
    assert station.code_expires_at
    assert station.token_hash

    revoke_url = reverse("stations:revoke", args=[station.pk])
    assert client.post(revoke_url, {"revoke-password": "no"}).status_code == 400
    station.refresh_from_db()
    assert not station.is_revoked
    answer = client.post(revoke_url, {"revoke-password": PASSWORD}, follow=True)
    assert "its token no longer works" in answer.content.decode()
    station.refresh_from_db()
    assert station.is_revoked
    assert station.token_hash is None
    assert station.revoked_by == it
    manifest = client.get(
        reverse("station_api:manifest"), HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert manifest.status_code == 401
