"""IT's downtime page: only IT sees it and acts on it, every action asks
for the password again, and declaring queues the final set of packs."""

import datetime as dt
import json

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from downtime.models import Downtime, Transition
from downtime.numbers import numbers_allocate
from downtime.selectors import downtime_feeds_isolated, downtime_items_left
from downtime.services import downtime_declare
from printouts.models import Pack
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db
PASSWORD = "pw-long-enough-1"  # tests.printouts.test_views.person's


def declaration(**changes) -> dict:
    return {
        "kind": "unplanned",
        "reason": "Ransomware on the EHR servers",
        "systems": "EHR\nLab system\n\nEHR",
        "expected_end": "",
        "password": PASSWORD,
        **changes,
    }


def test_only_it_sees_the_page_and_only_it_can_act(client, wards):
    ward_a, _ward_b = wards
    ivan = person("ivan", "it", ward_a)
    downtime = downtime_declare(user=ivan, kind="planned", reason="Upgrade")
    block = numbers_allocate(location=ward_a, count=1, user=ivan)
    planned = downtime_declare(
        user=ivan,
        kind="planned",
        reason="Later",
        starts_at=timezone.now() + dt.timedelta(days=1),
    )
    actions = [
        ("get", reverse("downtime:readiness"), {}),
        ("get", reverse("downtime:numbers"), {}),
        ("get", reverse("downtime:number-labels", args=[block.pk]), {}),
        ("get", reverse("downtime:report", args=[downtime.pk, "pdf"]), {}),
        ("get", reverse("downtime:report", args=[downtime.pk, "csv"]), {}),
        ("post", reverse("downtime:cancel", args=[planned.pk]), {}),
        ("get", reverse("downtime:page"), {}),
        ("get", reverse("downtime:progress", args=[downtime.pk]), {}),
        ("post", reverse("downtime:declare"), declaration()),
        ("post", reverse("downtime:recover", args=[downtime.pk]), {"why": "x"}),
        ("post", reverse("downtime:close", args=[downtime.pk]), {"why": "x"}),
    ]
    for method, url, data in actions:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("accounts:login")), url
    for role in ("nurse", "clerk"):
        someone = person(f"{role}-1", role, ward_a)
        client.force_login(someone)
        for method, url, data in actions:
            data = {**data, "password": PASSWORD}
            assert getattr(client, method)(url, data).status_code == 403, (role, url)
        home = client.get(reverse("patients:home")).content.decode()
        assert "DOWNTIME" in home  # the banner, for everyone
        # but no way to the controls (the census journal is theirs)
        assert f'href="{reverse("downtime:page")}"' not in home
    downtime.refresh_from_db()
    assert downtime.state == Downtime.State.DOWNTIME
    assert Transition.objects.filter(downtime=downtime).count() == 1
    planned.refresh_from_db()
    assert planned.state == Downtime.State.SCHEDULED

    client.force_login(ivan)
    home = client.get(reverse("patients:home")).content.decode()
    assert f'href="{reverse("downtime:page")}"' in home
    ivan.is_staff = True
    ivan.save()
    assert (
        reverse("downtime:page") in client.get(reverse("admin:index")).content.decode()
    )


def test_it_declares_with_its_password_and_every_ward_and_clinic_is_queued(
    client, wards, django_capture_on_commit_callbacks
):
    ward_a, ward_b = wards
    ivan = person("ivan", "it")
    client.force_login(ivan)
    page = client.get(reverse("downtime:page")).content.decode()
    assert "Declare a downtime" in page
    assert 'type="password"' in page

    with django_capture_on_commit_callbacks() as sent:
        response = client.post(
            reverse("downtime:declare"),
            declaration(
                expected_end=(timezone.localtime() + dt.timedelta(hours=4)).strftime(
                    "%Y-%m-%dT%H:%M"
                )
            ),
        )
    assert response.status_code == 302
    downtime = Downtime.objects.get()
    assert downtime.state == Downtime.State.DOWNTIME
    assert downtime.kind == Downtime.Kind.UNPLANNED
    assert downtime.systems == ["EHR", "Lab system"]
    assert downtime.expected_end > timezone.now()
    assert not downtime.feeds_isolated
    step = Transition.objects.get()
    assert (step.user, step.state, step.why) == (
        ivan,
        "downtime",
        "Ransomware on the EHR servers",
    )
    packs = Pack.objects.filter(downtime=downtime)
    assert {(p.location, p.kind) for p in packs} == {
        (ward_a, Pack.Kind.WARD),
        (ward_b, Pack.Kind.WARD),
    }
    assert {p.reason for p in packs} == {Pack.Reason.DOWNTIME}
    assert {p.status for p in packs} == {Pack.Status.QUEUED}
    assert len(sent) == 1  # the renders are sent once the declaration is committed

    page = client.get(reverse("downtime:page")).content.decode()
    assert "Downtime in progress" in page
    assert "Ransomware on the EHR servers" in page  # IT sees its reason here
    assert "0 of 2 ready." in page
    assert "Start the recovery" in page
    progress = client.get(reverse("downtime:progress", args=[downtime.pk]))
    assert "no-store" in progress["Cache-Control"]
    data = json.loads(progress.content)
    assert (data["total"], data["complete"], data["counts"]) == (
        2,
        False,
        {"queued": 2},
    )
    assert "0 of 2 ready." in data["summary"]


def test_the_final_renders_go_first_and_a_queued_pack_joins_the_set(
    wards, settings, django_capture_on_commit_callbacks
):
    """At top priority on the real broker: the Redis list a worker reads
    first holds the downtime's renders, an ordinary task waits behind."""
    import redis

    from config.celery import app
    from downtime.services import downtime_render_packs
    from printouts.services import pack_request
    from printouts.tasks import prune_packs

    ward_a, _ward_b = wards
    queue = redis.Redis.from_url(app.conf.broker_url)
    lists = ["celery", *(f"celery\x06\x16{n}" for n in range(10))]
    queue.delete(*lists)
    earlier = pack_request(location=ward_a, reason=Pack.Reason.SCHEDULED)
    downtime = downtime_declare(user=person("ivan", "it"), kind="planned", reason="x")
    prune_packs.delay()  # an ordinary task, queued first
    with django_capture_on_commit_callbacks(execute=True):
        ids = downtime_render_packs(downtime=downtime)
    assert earlier.pk in ids  # the ward's queued pack is part of the set
    assert Pack.objects.get(pk=earlier.pk).downtime == downtime
    first = [json.loads(m)["headers"] for m in queue.lrange("celery", 0, -1)]
    assert sorted(h["argsrepr"] for h in first) == sorted(f"({i},)" for i in ids)
    waiting = queue.lrange("celery\x06\x163", 0, -1)  # priority 5's list
    assert [json.loads(m)["headers"]["task"] for m in waiting] == [
        "printouts.tasks.prune_packs"
    ]
    queue.delete(*lists)


# Declares as the page does, in a process whose broker is out of reach.
DECLARE_WITHOUT_BROKER = (
    "import django; django.setup()\n"
    "from django.contrib.auth import get_user_model\n"
    "from downtime.services import downtime_declare\n"
    "it = get_user_model().objects.create_user('ivan-offline')\n"
    "downtime_declare(user=it, kind='unplanned', reason='Crash')\n"
)


@pytest.mark.django_db(transaction=True)  # the other process must see the wards
def test_a_final_set_the_broker_refused_is_sent_again_at_top_priority(
    wards, test_database_url, tmp_path
):
    """Redis down at the declaration: the downtime stands, and the
    scheduler's next minute sends the final set at top priority."""
    import subprocess
    import sys

    import redis

    from config.celery import app
    from printouts.tasks import queue_due_packs
    from tests.processes import REPO, app_env, free_port

    done = subprocess.run(
        [sys.executable, "-c", DECLARE_WITHOUT_BROKER],
        cwd=REPO,
        env=app_env(
            DATABASE_URL=test_database_url,
            CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
            DATA_DIR=str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 renders not sent: the broker is out of reach" in done.stderr
    downtime = Downtime.objects.get()
    packs = Pack.objects.filter(downtime=downtime)
    assert packs.count() == 2
    assert not packs.filter(queued_at__isnull=False).exists()  # none was sent

    queue = redis.Redis.from_url(app.conf.broker_url)
    lists = ["celery", *(f"celery\x06\x16{n}" for n in range(10))]
    queue.delete(*lists)
    ids = sorted(packs.values_list("pk", flat=True))
    assert sorted(queue_due_packs()) == ids
    first = [json.loads(m)["headers"] for m in queue.lrange("celery", 0, -1)]
    assert sorted(h["argsrepr"] for h in first) == [f"({i},)" for i in ids]
    assert not packs.filter(queued_at__isnull=True).exists()
    queue.delete(*lists)


def test_a_wrong_password_declares_nothing_and_counts_towards_the_lockout(
    client, wards
):
    client.force_login(person("ivan", "it"))
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(
            reverse("downtime:declare"), declaration(password="not-it")
        )
        assert response.status_code == 400, attempt
        assert "That is not your password." in response.content.decode()
    assert not Downtime.objects.exists()
    response = client.post(reverse("downtime:declare"), declaration(password="x"))
    assert response.status_code == 429  # django-axes' lockout, as at sign-in
    response = client.post(reverse("downtime:declare"), declaration())
    assert response.status_code == 429  # even with the right one, for a while
    assert not Downtime.objects.exists()


def test_bad_fields_are_named_and_nothing_is_declared(client, wards):
    client.force_login(person("ivan", "it"))
    response = client.post(
        reverse("downtime:declare"),
        declaration(
            reason="",
            drill="on",
            isolate_feeds="on",
            expected_end=(timezone.localtime() - dt.timedelta(hours=1)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
        ),
    )
    text = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in text
    assert "A drill does not cut the feeds" in text
    assert "The expected end must be in the future." in text
    assert not Downtime.objects.exists()


def test_a_second_declaration_is_refused_while_one_is_active(client, wards):
    ivan = person("ivan", "it")
    downtime_declare(user=ivan, kind="planned", reason="First")
    client.force_login(ivan)
    response = client.post(reverse("downtime:declare"), declaration())
    assert response.status_code == 409
    assert "Another downtime is already active." in response.content.decode()
    assert Downtime.objects.count() == 1


def test_recovery_then_close_each_with_password_and_why(client, wards):
    ivan = person("ivan", "it")
    client.force_login(ivan)
    client.post(reverse("downtime:declare"), declaration(isolate_feeds="on"))
    downtime = Downtime.objects.get()
    assert downtime.feeds_isolated
    recover = reverse("downtime:recover", args=[downtime.pk])
    close = reverse("downtime:close", args=[downtime.pk])

    assert client.post(recover, {"why": "", "password": PASSWORD}).status_code == 400
    assert client.post(recover, {"why": "back", "password": "no"}).status_code == 400
    assert client.post(close, {"why": "early", "password": PASSWORD}).status_code == 409
    downtime.refresh_from_db()
    assert downtime.state == Downtime.State.DOWNTIME

    response = client.post(recover, {"why": "EHR back at 14:00", "password": PASSWORD})
    assert response.status_code == 302
    page = client.get(reverse("downtime:page")).content.decode()
    assert "Recovery in progress" in page
    assert "Close the downtime" in page
    left = str(downtime_items_left(downtime=downtime))
    closing = {"why": "All re-entered", "password": PASSWORD, "left_accepted": left}
    response = client.post(close, closing)
    assert response.status_code == 302
    downtime.refresh_from_db()
    assert downtime.state == "closed"
    assert downtime.feeds_isolated  # it did cut them: the record says so
    assert not downtime_feeds_isolated()  # and they flow again
    assert list(
        Transition.objects.filter(downtime=downtime).values_list("state", "why")
    ) == [
        ("downtime", "Ransomware on the EHR servers"),
        ("recovery", "EHR back at 14:00"),
        ("closed", "All re-entered"),
    ]
    page = client.get(reverse("downtime:page")).content.decode()
    assert "Declare a downtime" in page
    assert "Past downtimes" in page
