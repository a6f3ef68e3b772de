"""A real Celery worker renders packs; one killed mid-render loses nothing."""

import datetime as dt
import hashlib
import os
import signal
import time

import pytest
from celery import Celery
from django.utils import timezone

from patients.demo.hospital import demo_hospital
from patients.ingest.sources import from_resources
from patients.models import Location
from patients.services import fhir_load_import
from printouts.models import Pack
from printouts.services import pack_path, pack_render, pack_request
from tests.processes import celery_worker, redis_server, wait_for

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


def test_a_worker_killed_mid_render_leaves_the_last_pack_and_the_render_completes(
    tmp_path, test_database_url
):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    resources = demo_hospital(wards=1, beds=24, seed=3, now=now)
    fhir_load_import(load=from_resources(resources, origin="t"), feed="demo")
    ward = Location.objects.get(kind=Location.Kind.WARD)
    previous = pack_render(pack_id=pack_request(location=ward, reason="command").pk)
    fhir_load_import(
        load=from_resources([renamed(ward, "Ward renamed")], origin="t"),
        feed="demo",
        replace_sets=False,
    )
    pack = pack_request(location=ward, reason=Pack.Reason.REQUESTED)

    with (
        redis_server(tmp_path) as (broker_url, _redis),
        celery_worker(
            broker_url=broker_url,
            database_url=test_database_url,
            log=tmp_path / "worker.log",
            extra_env={"DATA_DIR": str(tmp_path)},
        ),
    ):
        sender = Celery(broker=broker_url, set_as_current=False)
        sender.send_task("printouts.tasks.render_pack", args=[pack.pk])
        sender.close()
        wait_for(
            lambda: Pack.objects.get(pk=pack.pk).status == Pack.Status.RENDERING,
            timeout=60,
            what="the worker taking the pack",
        )
        time.sleep(1.5)  # well into the render (about 10 s)
        child = int(Pack.objects.get(pk=pack.pk).worker.rsplit(":", 1)[1])
        os.kill(child, signal.SIGKILL)

        previous.refresh_from_db()
        assert previous.status == Pack.Status.READY
        data = pack_path(previous).read_bytes()
        assert hashlib.sha256(data).hexdigest() == previous.sha256
        assert Pack.objects.get(pk=pack.pk).status != Pack.Status.READY

        wait_for(
            lambda: Pack.objects.get(pk=pack.pk).status == Pack.Status.READY,
            timeout=120,
            what=f"the render to complete after the kill (log: {tmp_path}/worker.log)",
        )

    pack.refresh_from_db()
    assert pack.attempts == 2
    assert int(pack.worker.rsplit(":", 1)[1]) != child
    assert hashlib.sha256(pack_path(pack).read_bytes()).hexdigest() == pack.sha256
    assert pack.generated_at > previous.generated_at - dt.timedelta(seconds=1)
    assert not list(pack_path(pack).parent.glob(".tmp-*"))
