import uuid

import pytest
import redis
from django.db import transaction

from config.celery import app as celery_app
from downtime.tasks import heartbeat


@pytest.fixture
def queue(redis_url):
    """A queue of this test's own on the suite's Redis, and a client to read it."""
    name = f"test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    yield name, client
    client.delete(name)
    client.close()


def test_the_app_is_configured_for_idempotent_late_acknowledged_tasks():
    conf = celery_app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility
    assert set(conf.beat_schedule) == {"heartbeat"}


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_transaction_reaches_redis_only_after_commit(queue):
    name, client = queue
    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=name)
        assert client.llen(name) == 0
    assert client.llen(name) == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_rolled_back_transaction_never_reaches_redis(queue):
    name, client = queue

    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=name)
        transaction.set_rollback(True)

    assert client.llen(name) == 0
