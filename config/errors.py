"""Error pages that say what happened."""

import sys

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

# PostgreSQL's query_canceled (statement_timeout) and lock_not_available
# (lock_timeout): settings.DB_STATEMENT_TIMEOUT and DB_LOCK_TIMEOUT.
TIME_LIMITS = {"57014", "55P03"}


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 page; a request that reached a database time limit gets
    503 and a page saying the database is busy. Its transaction was rolled
    back, its access-log row with it, so nothing of the data was shown."""
    if not _time_limit(sys.exc_info()[1]):
        return defaults.server_error(request)
    # Rendered without the request: the banner's and the freshness strip's
    # queries could wait on the same lock.
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
