import socket

from celery import shared_task

from downtime.services import heartbeat_record


@shared_task(bind=True)
def heartbeat(self) -> int:
    """Scheduled every minute (config/celery.py); returns the heartbeat's pk."""
    worker = self.request.hostname or socket.gethostname()
    return heartbeat_record(worker=worker).pk
