import json

import pytest
from celery import Celery
from django.urls import reverse

from downtime.models import Heartbeat
from tests.processes import (
    app_env,
    celery_worker,
    free_port,
    get,
    redis_server,
    web_server,
)


def test_liveness_answers_without_touching_the_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get(reverse("health-live"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_reports_a_redis_on_the_wrong_port_as_unavailable(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get(reverse("health-ready"), HTTP_ACCEPT="text/html")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "Unable to connect to Redis" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True
    assert client.get(reverse("health-live")).status_code == 200


@pytest.mark.django_db
def test_readiness_in_inline_mode_checks_only_database_and_disk(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = client.get(reverse("health-ready"))

    assert response.status_code == 200
    assert response.json()["tasks"] == "inline"
    assert set(response.json()["checks"]) == {"database", "disk"}


@pytest.mark.django_db
def test_readiness_reports_a_full_disk(client, settings):
    settings.HEALTH_DISK_MIN_FREE_MB = 10**12  # more than any disk has

    response = client.get(reverse("health-ready"))

    assert response.status_code == 503
    assert "MB free on the data disk" in response.json()["checks"]["disk"]["detail"]


def test_a_real_worker_runs_a_task_sent_through_redis_and_readiness_follows_redis(
    tmp_path, test_database_url
):
    """The production path end to end: gunicorn, a Celery worker, Redis, PostgreSQL.

    1. A worker takes the heartbeat task from Redis and writes it to the database;
       the test reads the task's result and the row.
    2. Readiness is then 200 with every check passing.
    3. Redis stops: readiness turns 503 naming Redis, while liveness and the
       pages stay up.
    """
    with redis_server(tmp_path) as (broker_url, redis_process):
        env = app_env(
            CELERY_BROKER_URL=broker_url,
            DATABASE_URL=test_database_url,
            DATA_DIR=str(tmp_path),
        )
        with (
            celery_worker(
                broker_url=broker_url,
                database_url=test_database_url,
                log=tmp_path / "worker.log",
            ),
            web_server(env=env, log=tmp_path / "web.log") as base,
        ):
            sender = Celery(broker=broker_url, backend=broker_url, set_as_current=False)
            # Results are kept only on request (CELERY_TASK_IGNORE_RESULT).
            result = sender.send_task("downtime.tasks.heartbeat", ignore_result=False)
            heartbeat_pk = result.get(timeout=30)
            sender.close()
            assert Heartbeat.objects.get(pk=heartbeat_pk).worker.startswith("test-")

            status, body = get(f"{base}/health/ready/")
            ready = json.loads(body)
            assert status == 200, ready
            assert set(ready["checks"]) == {
                "database",
                "disk",
                "redis",
                "celery",
                "scheduler",
            }

            redis_process.terminate()
            redis_process.wait(timeout=10)

            status, body = get(f"{base}/health/ready/")
            assert status == 503
            checks = json.loads(body)["checks"]
            assert checks["redis"]["ok"] is False
            assert checks["celery"]["ok"] is False
            assert checks["database"]["ok"] is True
            assert get(f"{base}/health/live/")[0] == 200
            assert get(f"{base}/")[0] == 200
