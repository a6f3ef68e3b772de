from django.http import HttpRequest
from django.utils import timezone

from accounts.models import NURSING, Role
from accounts.selectors import user_roles
from patients.selectors import freshness_level, mirror_as_of


def freshness(request: HttpRequest) -> dict:
    """How old the mirror's data is, for the strip on every signed-in page,
    whether the user may browse patients and run a downtime (the menu's
    links)."""
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
        "can_declare": Role.IT in user_roles(user=request.user),
    }
