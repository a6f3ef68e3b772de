import socket
import subprocess
import sys
import uuid

import pytest
import redis
from django.db import transaction

from config.celery import app as celery_app
from downtime.tasks import heartbeat
from tests.processes import REPO, app_env, free_port


def keys(name: str) -> list[str]:
    """A queue's Redis lists: one per priority step (kombu's 0, 3, 6, 9)."""
    return [name, *(f"{name}\x06\x16{step}" for step in (3, 6, 9))]


def waiting(client, name: str) -> int:
    return sum(client.llen(key) for key in keys(name))


@pytest.fixture
def queue(redis_url):
    """A queue of this test's own on the suite's Redis, and a client to read it."""
    name = f"test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    yield name, client
    client.delete(*keys(name))
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
    assert set(conf.beat_schedule) == {
        "heartbeat",
        "queue-due-packs",
        "downtime-tick",
        "sync-journal",
        "prune-packs",
    }


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_transaction_reaches_redis_only_after_commit(queue):
    name, client = queue
    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=name)
        assert waiting(client, name) == 0
    assert waiting(client, name) == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_in_a_rolled_back_transaction_never_reaches_redis(queue):
    name, client = queue

    with transaction.atomic():
        heartbeat.apply_async_on_commit(queue=name)
        transaction.set_rollback(True)

    assert waiting(client, name) == 0


# Prints the name of the error queueing raised; a hang ends in the timeout.
QUEUE_ONE_TASK = (
    "import django; django.setup(); from downtime.tasks import heartbeat\n"
    "try:\n    heartbeat.delay()\n"
    "except Exception as error:\n    print(type(error).__name__)"
)


def queue_one_task(tmp_path, broker_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", QUEUE_ONE_TASK],
        cwd=REPO,
        env=app_env(CELERY_BROKER_URL=broker_url, DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_queueing_a_task_fails_instead_of_hanging_when_redis_is_down(tmp_path):
    queued = queue_one_task(tmp_path, f"redis://127.0.0.1:{free_port()}/0")

    assert queued.stdout.split()[0] == "OperationalError", queued.stderr


def test_queueing_a_task_fails_instead_of_hanging_when_redis_does_not_answer(
    tmp_path,
):
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        queued = queue_one_task(tmp_path, f"redis://127.0.0.1:{port}/0")

    assert queued.stdout.split()[0] in {"OperationalError", "TimeoutError"}, (
        queued.stderr
    )
