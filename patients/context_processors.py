from django.http import HttpRequest
from django.utils import timezone

from patients.selectors import freshness_level, mirror_as_of


def freshness(request: HttpRequest) -> dict:
    """How old the mirror's data is, for the strip on every signed-in page."""
    if not request.user.is_authenticated:
        return {}
    as_of, now = mirror_as_of(), timezone.now()
    return {
        "mirror": {
            "as_of": as_of,
            "minutes": int((now - as_of).total_seconds() // 60) if as_of else None,
            "level": freshness_level(as_of, now),
        }
    }
