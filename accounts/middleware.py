"""Sessions on a shared ward computer: cut after a while without activity,
and after a maximum lifetime whatever the activity."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout, user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

STARTED = "session_started_at"
SEEN = "session_seen_at"
# Activity is stamped at most once a minute, so a session row is written
# that often, not on every page (the idle limit counts in minutes anyway).
STAMP_SECONDS = 60


@receiver(user_logged_in)
def _session_start(sender, request, user, **kwargs) -> None:
    now = time.time()
    request.session[STARTED] = request.session[SEEN] = now


class SessionLimitsMiddleware:
    """Signs the user out after ``SESSION_IDLE_MINUTES`` without a request or
    ``SESSION_MAX_HOURS`` after signing in, and sends them to the sign-in
    page, which says why."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            reason = _expired(request.session, time.time())
            if reason:
                logout(request)
                query = urlencode({"next": request.get_full_path(), "ended": reason})
                return redirect(f"{reverse(settings.LOGIN_URL)}?{query}")
        return self.get_response(request)


def _expired(session, now: float) -> str:
    """ "idle", "lifetime", or "" while the session may go on; a session that
    goes on is marked as seen now, to the minute (``STAMP_SECONDS``)."""
    started = session.get(STARTED, now)
    seen = session.get(SEEN, now)
    if now - seen > settings.SESSION_IDLE_MINUTES * 60:
        return "idle"
    if now - started > settings.SESSION_MAX_HOURS * 3600:
        return "lifetime"
    if STARTED not in session:
        session[STARTED] = started
    if SEEN not in session or now - seen >= STAMP_SECONDS:
        session[SEEN] = now
    return ""
