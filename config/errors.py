"""Error pages that say what happened."""

import sys

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

# PostgreSQL's query_canceled (statement_timeout) and lock_not_available
# (lock_timeout): settings.DB_STATEMENT_TIMEOUT and DB_LOCK_TIMEOUT.
TIME_LIMITS = {"57014", "55P03"}


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A page the user's role does not open (``roles_required`` has logged
    the refusal by then), with the banner and the way home."""
    return render(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its valid token: most often a page left open
    past the sign-in that made a new one. Says what to do; never echoes
    Django's reason, which is for developers."""
    return render(request, "csrf.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """One page for a missing patient and another ward's: it says neither
    which, and never echoes the address or the reason."""
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page; a request that reached a database time limit gets 503
    and a page saying the database is busy. Its transaction was rolled back,
    its access-log row with it, so nothing of the data was shown.

    Both are rendered without the request: no context processor runs, so
    the banner's and the freshness strip's queries can neither wait on the
    same lock nor fail as the request did."""
    if not _time_limit(sys.exc_info()[1]):
        return HttpResponse(render_to_string("500.html"), status=500)
    response = HttpResponse(render_to_string("busy.html"), status=503)
    response["Retry-After"] = "30"
    response["Cache-Control"] = "no-store"
    return response


def _time_limit(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 10:  # Django's wrapper, then psycopg's
        if getattr(error, "sqlstate", None) in TIME_LIMITS:
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False
