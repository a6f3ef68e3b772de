from django.http import HttpRequest
from django.utils import timezone

from accounts.models import NURSING
from accounts.selectors import user_roles
from patients.selectors import freshness_level, mirror_as_of


def freshness(request: HttpRequest) -> dict:
    """How old the mirror's data is, for the strip on every signed-in page,
    and whether the user may browse patients (the menu's links)."""
    if not request.user.is_authenticated:
        return {}
    as_of, now = mirror_as_of(), timezone.now()
    return {
        "mirror": {
            "as_of": as_of,
            "minutes": int((now - as_of).total_seconds() // 60) if as_of else None,
            "level": freshness_level(as_of, now),
        },
        "can_browse": bool(set(NURSING) & set(user_roles(user=request.user))),
    }
