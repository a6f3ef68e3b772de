"""The station API: enrolment, the manifest, files, heartbeats and the local
log, each with the station's token only, scoped to its wards."""

import datetime as dt
import hashlib
import json
import uuid

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog
from downtime.numbers import number_labels_publish, numbers_allocate
from printouts.models import Pack, Printout
from printouts.published import forms_due, forms_publish
from printouts.services import pack_path
from printouts.signing import statement_verify
from stations.models import Station
from stations.services import digest, station_create, station_revoke
from tests.stations.conftest import bearer, enrolled, published

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits():
    """The rate limits count in the cache: each test starts at zero."""
    cache.clear()
    yield
    cache.clear()


def enrol(client, code: str):
    return client.post(
        reverse("station_api:enrol"),
        json.dumps({"code": code, "version": "9.9"}),
        content_type="application/json",
    )


def test_a_one_time_code_is_exchanged_for_a_token_and_the_servers_keys(
    client, small_ward, it_user
):
    station, code = station_create(
        name="3A nurses' station", locations=[small_ward], notes="", user=it_user
    )

    typed = " " + code.lower().replace("-", " ") + " "  # as a person types it
    answer = enrol(client, typed)

    assert answer.status_code == 201
    body = answer.json()
    assert body["station"] == {"id": station.pk, "name": "3A nurses' station"}
    assert body["token"].startswith("dst_")
    assert len(body["keys"]) == 1
    assert body["keys"][0]["public_key"]
    station.refresh_from_db()
    assert station.token_hash == digest(body["token"])  # only its hash is kept
    assert body["token"] not in json.dumps(list(Station.objects.values()), default=str)
    assert (station.code_hash, station.version) == ("", "9.9")

    again = enrol(client, code)
    assert again.status_code == 403
    assert "unknown or already used" in again.json()["error"]
    station.refresh_from_db()
    assert station.token_hash == digest(body["token"])  # unchanged


def test_an_expired_or_malformed_enrolment_says_why_and_changes_nothing(
    client, small_ward, it_user
):
    station, code = station_create(
        name="PC", locations=[small_ward], notes="", user=it_user
    )
    Station.objects.filter(pk=station.pk).update(
        code_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    expired = enrol(client, code)
    garbage = client.post(
        reverse("station_api:enrol"), "code=1", content_type="text/plain"
    )
    missing = client.post(
        reverse("station_api:enrol"), "{}", content_type="application/json"
    )

    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]
    assert (garbage.status_code, garbage.json()["error"]) == (
        400,
        "the body is not JSON",
    )
    assert missing.status_code == 400
    assert "code" in missing.json()["error"]
    station.refresh_from_db()
    assert station.token_hash is None
    assert station.enrolled_at is None


def test_the_manifest_lists_the_newest_signed_pack_of_the_stations_wards_only(
    client, small_ward, other_ward, it_user
):
    published(small_ward)
    newest = published(small_ward)
    published(other_ward)
    _station, token = enrolled("PC", [small_ward], it_user)

    answer = client.get(reverse("station_api:manifest"), **bearer(token))

    assert answer.status_code == 200
    assert (
        "no-cache" in answer["Cache-Control"] or "no-store" in answer["Cache-Control"]
    )
    body = answer.json()
    packs = [item for item in body["items"] if item["item"].startswith("pack-")]
    assert [item["item"] for item in packs] == [f"pack-{newest.pk}"]
    item = packs[0]
    key = {entry["id"]: entry["public_key"] for entry in body["keys"]}[item["key_id"]]
    assert statement_verify(
        statement=item["statement"], signature=item["signature"], public_key=key
    )
    statement = json.loads(item["statement"])
    assert statement["sha256"] == newest.sha256
    assert statement["location"] == {"id": small_ward.pk, "name": small_ward.name}
    assert (
        statement["as_of"]
        == newest.as_of.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    )
    assert [place["id"] for place in body["station"]["locations"]] == [small_ward.pk]
    assert body["downtime"] is None
    assert body["intervals"] == {"check": 15, "sync": 120, "downtime": 30}

    unchanged = client.get(
        reverse("station_api:manifest"),
        HTTP_IF_NONE_MATCH=answer["ETag"],
        **bearer(token),
    )
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    published(small_ward)
    changed = client.get(
        reverse("station_api:manifest"),
        HTTP_IF_NONE_MATCH=answer["ETag"],
        **bearer(token),
    )
    assert changed.status_code == 200
    assert changed["ETag"] != answer["ETag"]


def test_unknown_or_revoked_tokens_and_sessions_get_401(
    client, small_ward, it_user, admin_client
):
    station, token = enrolled("PC", [small_ward], it_user)
    url = reverse("station_api:manifest")

    assert client.get(url).status_code == 401
    assert client.get(url, **bearer("dst_not-a-token")).status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    # A signed-in IT session is no station.
    assert admin_client.get(url).status_code == 401
    assert client.get(url, **bearer(token)).status_code == 200

    station_revoke(station=station, user=it_user)
    revoked = client.get(url, **bearer(token))

    assert revoked.status_code == 401
    assert "enrol it again" in revoked.json()["error"]
    assert revoked["WWW-Authenticate"].startswith("Bearer")


def test_a_file_of_its_ward_is_served_and_logged_as_the_stations_download(
    client, small_ward, it_user
):
    pack = published(small_ward)
    station, token = enrolled("3A PC", [small_ward], it_user)

    answer = client.get(
        reverse("station_api:file", args=[f"pack-{pack.pk}"]), **bearer(token)
    )

    assert answer.status_code == 200
    assert answer.content == pack_path(pack).read_bytes()
    assert hashlib.sha256(answer.content).hexdigest() == pack.sha256
    entry = AccessLog.objects.get()
    assert (entry.station, entry.action, entry.outcome, entry.user) == (
        station,
        AccessLog.Action.STATION_DOWNLOAD,
        AccessLog.Outcome.ALLOWED,
        None,
    )
    assert entry.username == "station:3A PC"
    assert entry.locations == [small_ward.pk]
    assert sorted(entry.patients) == sorted(pack.patients)
    assert pack.patients


def test_another_wards_file_answers_404_like_a_missing_one_and_is_logged(
    client, small_ward, other_ward, it_user
):
    theirs = published(other_ward)
    station, token = enrolled("3A PC", [small_ward], it_user)

    other = client.get(
        reverse("station_api:file", args=[f"pack-{theirs.pk}"]), **bearer(token)
    )
    missing = client.get(
        reverse("station_api:file", args=["pack-999999"]), **bearer(token)
    )

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    denied = AccessLog.objects.filter(station=station, outcome="denied")
    assert sorted(denied.values_list("target", flat=True)) == [
        f"pack-{theirs.pk}",
        "pack-999999",
    ]
    assert all(entry.patients == [] for entry in denied)


def test_a_damaged_file_is_not_served(client, small_ward, it_user):
    pack = published(small_ward)
    _station, token = enrolled("PC", [small_ward], it_user)
    path = pack_path(pack)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")

    answer = client.get(
        reverse("station_api:file", args=[f"pack-{pack.pk}"]), **bearer(token)
    )

    assert answer.status_code == 503
    assert AccessLog.objects.get().outcome == AccessLog.Outcome.FAILED
    again = Pack.objects.exclude(pk=pack.pk).get()  # rendered again
    assert (again.location, again.status) == (small_ward, Pack.Status.QUEUED)


def test_a_printout_whose_file_is_gone_is_made_again(
    client, small_ward, it_user, pack_dir
):
    form = next(p for p in forms_publish() if p.key == "mar")
    form_path = pack_dir / "files" / form.file_name
    form_path.unlink()
    _station, token = enrolled("PC", [small_ward], it_user)

    answer = client.get(
        reverse("station_api:file", args=[f"form-{form.pk}"]), **bearer(token)
    )

    assert answer.status_code == 503
    assert forms_due() == ["mar"]
    remade = next(iter(forms_publish()))
    assert remade.key == "mar"
    assert form_path.exists()  # the same bytes, made again


def heartbeat(client, token: str, body: dict):
    return client.post(
        reverse("station_api:heartbeat"),
        json.dumps(body),
        content_type="application/json",
        **bearer(token),
    )


def test_a_heartbeat_keeps_only_holdings_the_server_can_confirm(
    client, small_ward, other_ward, it_user
):
    mine = published(small_ward)
    theirs = published(other_ward)
    station, token = enrolled("PC", [small_ward], it_user)

    answer = heartbeat(
        client,
        token,
        {
            "version": "0.1.0",
            "free_disk": 12_000_000_000,
            "last_error": "",
            "holdings": [
                {"item": f"pack-{mine.pk}", "sha256": mine.sha256},
                {"item": f"pack-{mine.pk}", "sha256": "0" * 64},  # not what we sent
                {"item": f"pack-{theirs.pk}", "sha256": theirs.sha256},  # not its ward
                {"item": "pack-424242", "sha256": "1" * 64},
            ],
        },
    )

    assert answer.status_code == 200
    station.refresh_from_db()
    assert station.holdings == [
        {
            "item": f"pack-{mine.pk}",
            "location": small_ward.pk,
            "kind": "ward",
            "day": None,
            "as_of": mine.as_of.isoformat(),
        }
    ]
    assert station.free_disk == 12_000_000_000
    assert station.version == "0.1.0"


def test_a_malformed_heartbeat_says_which_field_and_changes_nothing(
    client, small_ward, it_user
):
    mine = published(small_ward)
    station, token = enrolled("PC", [small_ward], it_user)
    good = {"item": f"pack-{mine.pk}", "sha256": mine.sha256}

    not_a_list = heartbeat(client, token, {"holdings": "everything"})
    bad_log = heartbeat(
        client,
        token,
        {"holdings": [good], "version": "2.0", "log": [{"id": "x", "person": "A"}]},
    )

    assert not_a_list.status_code == 400
    assert not_a_list.json()["error"] == "holdings: must be a list"
    assert bad_log.status_code == 400
    assert bad_log.json()["error"] == "entries[0].id: must be a UUID"
    station.refresh_from_db()
    assert (station.holdings, station.version) == ([], "test")
    assert not AccessLog.objects.exists()


def test_the_stations_log_reaches_the_access_log_once(client, small_ward, it_user):
    pack = published(small_ward)
    station, token = enrolled("PC", [small_ward], it_user)
    when = "2026-11-20T03:12:00+00:00"
    entries = [
        {
            "id": str(uuid.uuid4()),
            "at": when,
            "person": "Nurse Jane",
            "action": "print",
            "item": f"pack-{pack.pk}",
            "outcome": "allowed",
        },
        {
            "id": str(uuid.uuid4()),
            "at": when,
            "person": "Nurse Jane",
            "action": "open",
            "item": f"pack-{pack.pk}",
            "outcome": "refused",
            "reason": "its file was changed on disk",
        },
    ]

    first = heartbeat(client, token, {"holdings": [], "log": entries})
    again = heartbeat(client, token, {"holdings": [], "log": entries})

    assert (first.json()["logged"], again.json()["logged"]) == (2, 0)
    rows = AccessLog.objects.filter(station=station).order_by("action")
    assert [(r.action, r.outcome, r.username) for r in rows] == [
        ("station_open", "failed", "Nurse Jane"),
        ("station_print", "allowed", "Nurse Jane"),
    ]
    assert all(r.at.isoformat() == when and r.reported_at for r in rows)
    assert all(r.locations == [small_ward.pk] for r in rows)
    assert all(sorted(r.patients) == sorted(pack.patients) for r in rows)


def test_too_many_requests_or_failed_tokens_wait_a_minute(
    client, small_ward, it_user, settings
):
    settings.STATION_RATE_PER_MINUTE = 10
    settings.STATION_AUTH_FAILURES_PER_MINUTE = 3
    _station, token = enrolled("PC", [small_ward], it_user)
    url = reverse("station_api:manifest")

    guesses = [client.get(url, **bearer("dst_guess")).status_code for _ in range(4)]
    statuses = [client.get(url, **bearer(token)).status_code for _ in range(11)]

    assert guesses == [401, 401, 401, 429]
    # A good token from the same address (the proxy's) is not held back.
    assert statuses == [200] * 10 + [429]
    blocked = client.get(url, **bearer(token))
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "60"


def test_the_manifest_brings_label_sheets_downtime_numbers_and_blank_forms(
    client, small_ward, other_ward, it_user
):
    station, token = enrolled("PC", [small_ward], it_user)
    enrolled("Their PC", [other_ward], it_user)
    pack = published(small_ward)
    published(other_ward)
    forms_publish()
    block = numbers_allocate(location=small_ward, count=21, user=it_user)
    number_labels_publish(block=block)
    theirs = numbers_allocate(location=other_ward, count=21, user=it_user)
    their_numbers = number_labels_publish(block=theirs)
    their_labels = Printout.objects.get(kind="labels", location=other_ward)

    body = client.get(reverse("station_api:manifest"), **bearer(token)).json()

    kinds = sorted((item["kind"], item["location"]) for item in body["items"])
    assert kinds == [
        ("form", None),
        ("form", None),
        ("form", None),
        ("form", None),
        ("form", None),
        ("labels", small_ward.pk),
        ("numbers", small_ward.pk),
        ("ward", small_ward.pk),
    ]
    keys = {entry["id"]: entry["public_key"] for entry in body["keys"]}
    for item in body["items"]:
        assert statement_verify(
            statement=item["statement"],
            signature=item["signature"],
            public_key=keys[item["key_id"]],
        )
        answer = client.get(item["url"], **bearer(token))
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == item["sha256"]
    labels = next(i for i in body["items"] if i["kind"] == "labels")
    entry = AccessLog.objects.get(target=labels["item"])
    assert sorted(entry.patients) == sorted(pack.patients)

    for other in (f"labels-{their_labels.pk}", f"numbers-{their_numbers.pk}"):
        answer = client.get(reverse("station_api:file", args=[other]), **bearer(token))
        assert answer.status_code == 404
    assert AccessLog.objects.filter(station=station, outcome="denied").count() == 2
