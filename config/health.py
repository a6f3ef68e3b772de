"""Liveness and readiness for monitors and container health checks.

Liveness answers 200 while the process serves requests and touches nothing else:
pages must stay up when Redis or a worker is down. Readiness runs every check in
parallel, each with its own short timeout, and answers 200 only if all pass,
else 503. Both answer JSON; check messages never carry credentials or host names.
"""

import asyncio
import dataclasses
import datetime
import shutil
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient

from config.celery import app as celery_app
from downtime.selectors import heartbeat_age

_PROBE_TIMEOUT = datetime.timedelta(seconds=1)


@dataclasses.dataclass
class FreeDisk(HealthCheck):
    """Enough free space where packs and the demo database are written."""

    path: Path = dataclasses.field(repr=False)
    min_free_mb: int = dataclasses.field(repr=False)

    def run(self) -> None:
        free_mb = shutil.disk_usage(self.path).free // 2**20
        if free_mb < self.min_free_mb:
            raise ServiceUnavailable(
                f"{free_mb} MB free on the data disk, below {self.min_free_mb} MB"
            )


@dataclasses.dataclass
class SchedulerHeartbeat(HealthCheck):
    """Beat queued, and a worker ran, the heartbeat task recently."""

    max_age: datetime.timedelta = dataclasses.field(repr=False)

    async def run(self) -> None:
        try:
            # Through asgiref, so Django closes the connection with the request.
            age = await sync_to_async(heartbeat_age)()
        except DatabaseError as error:
            raise ServiceUnavailable("heartbeat unreadable: database error") from error
        if age is None:
            raise ServiceUnavailable("no scheduler heartbeat recorded yet")
        if age > self.max_age:
            raise ServiceUnavailable(
                f"last scheduler heartbeat {int(age.total_seconds())} s ago"
            )


@dataclasses.dataclass
class CeleryWorkers(Ping):
    """At least one worker answers a ping, and every queue has a worker."""

    def run(self) -> None:
        # Fail fast on an unreachable broker instead of waiting on retries.
        with self.app.connection_for_read() as connection:
            try:
                connection.ensure_connection(max_retries=1, timeout=1)
            except Exception as error:  # kombu raises several unrelated types
                raise ServiceUnavailable("broker unreachable") from error
        super().run()


def readiness_checks() -> dict[str, HealthCheck]:
    """The checks that apply to this configuration, read at request time."""
    checks: dict[str, HealthCheck] = {
        "database": Database(),
        "disk": FreeDisk(
            path=settings.DATA_DIR, min_free_mb=settings.HEALTH_DISK_MIN_FREE_MB
        ),
    }
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        broker_url = settings.CELERY_BROKER_URL
        checks["redis"] = Redis(
            client_factory=lambda: RedisClient.from_url(
                broker_url, socket_connect_timeout=1, socket_timeout=1
            )
        )
        checks["celery"] = CeleryWorkers(app=celery_app, timeout=_PROBE_TIMEOUT)
        checks["scheduler"] = SchedulerHeartbeat(
            max_age=datetime.timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE)
        )
    return checks


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class ReadinessView(HealthCheckView):
    """All checks at once; JSON whatever the Accept header, 503 on any failure."""

    async def get(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        checks = readiness_checks()
        with self.get_executor() as executor:
            results = await asyncio.gather(
                *(check.get_result(executor) for check in checks.values())
            )
        body = {
            name: {
                "ok": result.error is None,
                "detail": "OK" if result.error is None else str(result.error),
                "seconds": round(result.time_taken, 3),
            }
            for name, result in zip(checks, results, strict=True)
        }
        ready = all(check["ok"] for check in body.values())
        return JsonResponse(
            {
                "status": "ok" if ready else "unavailable",
                "tasks": "inline" if settings.CELERY_TASK_ALWAYS_EAGER else "celery",
                "checks": body,
            },
            status=200 if ready else 503,
        )
