from django.http import HttpRequest

from downtime.selectors import downtime_active


def downtime(request: HttpRequest) -> dict:
    """The active downtime, if any, for the banner on every page and for
    every visitor, signed in or not. Not named ``downtime``: a page about
    another downtime (a closed drill's worklists) names its own so."""
    return {"active_downtime": downtime_active()}
