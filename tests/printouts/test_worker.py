"""A real Celery worker renders packs; one killed mid-render loses nothing."""

import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
import time
from functools import partial

import pytest
from celery import Celery
from django.utils import timezone

from patients.demo.hospital import demo_hospital
from patients.ingest.sources import from_resources
from patients.models import Location
from patients.services import fhir_load_import
from printouts.models import Pack
from printouts.services import pack_path, pack_render, pack_request
from tests.processes import (
    celery_beat,
    celery_worker,
    celery_worker_process,
    redis_server,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def renamed(ward: Location, name: str) -> dict:
    """The ward's Location resource as the EHR would send it renamed: every
    page of the pack changes, so nothing comes from the cache."""
    return {
        "resourceType": "Location",
        "id": ward.source_id,
        "name": name,
        "physicalType": {"coding": [{"code": "wa"}]},
    }


@pytest.fixture
def changed_ward(test_database_url) -> tuple[Pack, Pack]:
    """A ward's ready pack, and a pack queued after a change that leaves
    nothing to the cache: a render of 40 patients, 8 s or more."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    resources = demo_hospital(wards=1, beds=48, seed=3, now=now, clinics=0)
    fhir_load_import(load=from_resources(resources, origin="t"), feed="demo")
    ward = Location.objects.get(kind=Location.Kind.WARD)
    previous = pack_render(pack_id=pack_request(location=ward, reason="command").pk)
    fhir_load_import(
        load=from_resources([renamed(ward, "Ward renamed")], origin="t"),
        feed="demo",
        replace_sets=False,
    )
    return previous, pack_request(location=ward, reason=Pack.Reason.REQUESTED)


def render_sent(broker_url: str, pack: Pack) -> None:
    """The render of ``pack`` sent, as the clerk's page sends it; returns
    once a worker has claimed it."""
    sender = Celery(broker=broker_url, set_as_current=False)
    sender.send_task("printouts.tasks.render_pack", args=[pack.pk])
    sender.close()
    wait_for(
        lambda: Pack.objects.get(pk=pack.pk).status == Pack.Status.RENDERING,
        timeout=60,
        what="the worker taking the pack",
    )


def rendered_again(pack: Pack, *, log) -> Pack:
    """``pack`` once ready, on its second attempt, within two minutes (well
    under CELERY_TASK_TIME_LIMIT), its file whole and published alone."""
    wait_for(
        lambda: Pack.objects.get(pk=pack.pk).status == Pack.Status.READY,
        timeout=120,
        what=f"the pack rendered again (log: {log})",
    )
    pack.refresh_from_db()
    assert pack.attempts == 2
    assert hashlib.sha256(pack_path(pack).read_bytes()).hexdigest() == pack.sha256
    assert not list(pack_path(pack).parent.glob(".tmp-*"))
    return pack


def test_a_worker_killed_mid_render_leaves_the_last_pack_and_the_render_completes(
    tmp_path, test_database_url, changed_ward
):
    previous, pack = changed_ward
    with (
        redis_server(tmp_path) as (broker_url, _redis),
        celery_worker(
            broker_url=broker_url,
            database_url=test_database_url,
            log=tmp_path / "worker.log",
            extra_env={"DATA_DIR": str(tmp_path)},
        ),
    ):
        render_sent(broker_url, pack)
        time.sleep(1.5)  # well into the render (about 10 s)
        child = int(Pack.objects.get(pk=pack.pk).worker.rsplit(":", 1)[1])
        os.kill(child, signal.SIGKILL)

        previous.refresh_from_db()
        assert previous.status == Pack.Status.READY
        data = pack_path(previous).read_bytes()
        assert hashlib.sha256(data).hexdigest() == previous.sha256
        assert Pack.objects.get(pk=pack.pk).status != Pack.Status.READY

        pack = rendered_again(pack, log=tmp_path / "worker.log")

    assert int(pack.worker.rsplit(":", 1)[1]) != child
    assert pack.generated_at > previous.generated_at - dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    "beat",
    [
        pytest.param(True, id="restarted-at-once-with-beat"),
        pytest.param(False, id="restarted-after-its-heartbeat-lapsed"),
    ],
)
def test_a_worker_killed_whole_and_restarted_renders_its_pack_again_within_minutes(
    tmp_path, test_database_url, changed_ward, beat
):
    """Parent and children killed (a container or a machine gone): no task
    comes back (Redis would hand it out again only after
    CELERY_VISIBILITY_TIMEOUT), and the worker comes back under the same
    name, its claim's "host:pid" maybe that of a live process. The claim's
    heartbeat stops, so beat's next tick, or the worker starting again
    once it has lapsed (a rebooted machine), queues the pack again."""
    previous, pack = changed_ward
    max_age = 10  # the shortest allowed: a beat every 1.7 s
    env = {"DATA_DIR": str(tmp_path), "PACK_HEARTBEAT_MAX_AGE": str(max_age)}
    with redis_server(tmp_path) as (broker_url, _redis):
        worker = partial(
            celery_worker_process,
            broker_url=broker_url,
            database_url=test_database_url,
            extra_env=env,
        )
        with worker(log=tmp_path / "worker.log") as (node, process):
            render_sent(broker_url, pack)
            wait_for(
                lambda: (
                    (claim := Pack.objects.get(pk=pack.pk)).heartbeat_at
                    > claim.started_at
                ),
                timeout=30,
                what="the claim's first heartbeat",
            )
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # As in a restarted container, where pids start again from 1: the
        # claim names a process that runs.
        Pack.objects.filter(pk=pack.pk).update(
            worker=f"{socket.gethostname()}:{os.getpid()}"
        )
        claim = Pack.objects.get(pk=pack.pk)
        assert claim.status == Pack.Status.RENDERING
        if not beat:  # the machine takes longer to come back than the limit
            lapsed = claim.heartbeat_at + dt.timedelta(seconds=max_age + 1)
            time.sleep(max(0, (lapsed - timezone.now()).total_seconds()))

        with contextlib.ExitStack() as restarted:
            restarted.enter_context(worker(log=tmp_path / "again.log", node=node))
            if beat:
                restarted.enter_context(
                    celery_beat(
                        broker_url=broker_url, log=tmp_path / "beat.log", extra_env=env
                    )
                )
            pack = rendered_again(pack, log=tmp_path / "again.log")

    assert pack.generated_at > claim.started_at
    assert pack.sha256 != previous.sha256  # a new file, of the renamed ward
