import socket

from celery import shared_task

from downtime.services import downtime_tick, heartbeat_record


@shared_task(bind=True)
def heartbeat(self) -> int:
    """Scheduled every minute (config/celery.py); returns the heartbeat's pk."""
    worker = self.request.hostname or socket.gethostname()
    return heartbeat_record(worker=worker).pk


@shared_task
def tick() -> list[int]:
    """Every minute (config/celery.py): scheduled downtimes' packs and starts."""
    return downtime_tick()
