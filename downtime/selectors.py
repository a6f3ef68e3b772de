import datetime

from django.utils import timezone

from downtime.models import Downtime, Heartbeat


def heartbeat_age() -> datetime.timedelta | None:
    """How long ago a worker last ran the scheduled heartbeat; None if never."""
    beat_at = (
        Heartbeat.objects.filter(name=Heartbeat.SCHEDULER)
        .values_list("beat_at", flat=True)
        .first()
    )
    return None if beat_at is None else timezone.now() - beat_at


def downtime_active() -> Downtime | None:
    """The downtime in progress (in downtime or in recovery), if any."""
    return Downtime.objects.filter(state__in=Downtime.ACTIVE).first()
