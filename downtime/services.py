from django.utils import timezone

from downtime.models import Heartbeat


def heartbeat_record(*, worker: str) -> Heartbeat:
    heartbeat, _created = Heartbeat.objects.update_or_create(
        name=Heartbeat.SCHEDULER,
        defaults={"beat_at": timezone.now(), "worker": worker},
    )
    return heartbeat
