"""A render's claim: kept alive by its heartbeat, taken back once it lapses."""

import datetime as dt
import os
import socket
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from printouts import documents
from printouts.models import Pack
from printouts.services import pack_render, pack_request, packs_take_back

pytestmark = pytest.mark.django_db


def claimed(ward, *, worker: str, started: dt.datetime, beat: dt.datetime | None):
    pack = pack_request(location=ward, reason=Pack.Reason.REQUESTED)
    Pack.objects.filter(pk=pack.pk).update(
        status=Pack.Status.RENDERING,
        worker=worker,
        started_at=started,
        heartbeat_at=beat,
    )
    return pack


@pytest.fixture
def slow_render(monkeypatch, settings):
    """Heartbeats every 1.7 s (the shortest limit allowed), and a ward pack
    that takes 2.5 s longer than it would, to see them."""
    settings.PACK_HEARTBEAT_MAX_AGE = 10
    render = documents.ward_pack

    def slowly(**kwargs):
        time.sleep(2.5)
        return render(**kwargs)

    monkeypatch.setattr(documents, "ward_pack", slowly)


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith(" heartbeat")]


def test_a_claim_whose_heartbeat_stopped_is_taken_back_though_its_process_runs(
    small_ward, settings
):
    """A worker killed whole and restarted in its container may come back
    with the same host name and pid: the name proves nothing, the silence
    of the heartbeat does."""
    silent = timezone.now() - dt.timedelta(seconds=settings.PACK_HEARTBEAT_MAX_AGE + 1)
    alive = f"{socket.gethostname()}:1"  # process 1 exists on every host
    pack = claimed(small_ward, worker=alive, started=silent, beat=silent)

    again = pack_render(pack_id=pack.pk)

    assert (again.status, again.attempts) == (Pack.Status.READY, 1)


def test_the_tick_takes_back_claims_that_stopped_beating_or_ran_past_the_time_limit(
    small_ward, settings
):
    now = timezone.now()
    max_age = dt.timedelta(seconds=settings.PACK_HEARTBEAT_MAX_AGE)
    overdue = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 61)
    minutes_ago = now - dt.timedelta(minutes=5)
    second = dt.timedelta(seconds=1)
    beating = claimed(small_ward, worker="w:1", started=minutes_ago, beat=now - second)
    silent = claimed(
        small_ward, worker="w:2", started=minutes_ago, beat=now - max_age - second
    )
    stuck = claimed(small_ward, worker="w:3", started=overdue, beat=now)
    unbeaten = claimed(small_ward, worker="w:4", started=minutes_ago, beat=None)

    back = packs_take_back(now=now)

    assert sorted(back) == sorted([silent.pk, stuck.pk, unbeaten.pk])
    statuses = dict(Pack.objects.values_list("pk", "status"))
    assert statuses[beating.pk] == Pack.Status.RENDERING
    assert {statuses[pk] for pk in back} == {Pack.Status.QUEUED}
    assert packs_take_back(now=now) == []


@pytest.mark.django_db(transaction=True)
def test_a_render_keeps_its_claim_beating_and_stops_when_it_ends(
    small_ward, slow_render, monkeypatch
):
    pack = pack_request(location=small_ward, reason=Pack.Reason.REQUESTED)
    render = documents.ward_pack
    beats = []

    def watched(**kwargs):
        document = render(**kwargs)
        claim = Pack.objects.get(pk=pack.pk)
        beats.append(claim.heartbeat_at - claim.started_at)
        return document

    monkeypatch.setattr(documents, "ward_pack", watched)

    assert pack_render(pack_id=pack.pk).status == Pack.Status.READY
    assert beats[0] > dt.timedelta(seconds=1)
    assert heartbeat_threads() == []
    with connection.cursor() as cursor:  # the thread's connection is closed
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        assert cursor.fetchone()[0] == 1


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_render_inside_a_transaction_is_not_held_up_by_its_own_heartbeat(
    small_ward, slow_render, settings
):
    """The render's transaction holds its claim's row until the render
    ends, which waits for the heartbeat to end: the heartbeat skips a locked
    row instead of waiting for it."""
    silent = timezone.now() - dt.timedelta(minutes=1)
    me = f"{socket.gethostname()}:{os.getpid()}"  # this very process, crashed
    pack = claimed(small_ward, worker=me, started=silent, beat=silent)

    with transaction.atomic():
        again = pack_render(pack_id=pack.pk)

    assert (again.status, again.attempts) == (Pack.Status.READY, 1)
    assert heartbeat_threads() == []
