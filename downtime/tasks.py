import socket

from celery import shared_task

from downtime.numbers import number_labels_due, number_labels_publish
from downtime.recovery import journal_sync_due
from downtime.services import downtime_tick, heartbeat_record


@shared_task(bind=True)
def heartbeat(self) -> int:
    """Scheduled every minute (config/celery.py); returns the heartbeat's pk."""
    worker = self.request.hostname or socket.gethostname()
    return heartbeat_record(worker=worker).pk


@shared_task
def tick() -> list[int]:
    """Every minute (config/celery.py): scheduled downtimes' packs and starts,
    and the label sheets of newly allocated downtime numbers for the ward
    stations."""
    if number_labels_due():
        publish_number_labels.delay()
    return downtime_tick()


@shared_task(acks_late=True)
def publish_number_labels() -> list[int]:
    return [number_labels_publish(block=b).pk for b in number_labels_due()]


@shared_task
def sync_journal() -> dict:
    """Every minute (config/celery.py): the census journal against what the
    EHR's feeds say now; returns counts of what it did."""
    return journal_sync_due()
