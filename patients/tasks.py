import logging

from celery import shared_task
from django.conf import settings

from patients.ingest.pull import PullError
from patients.services import FeedsIsolated, feed_pull_lock, fhir_server_pull

logger = logging.getLogger(__name__)

FEED = "fhir-pull"  # the feed `manage.py pull_fhir` keeps, by default


@shared_task(ignore_result=True)
def pull_fhir_bulk() -> str:
    """Every FHIR_BULK_EVERY_MINUTES (config/celery.py): a Bulk Data export
    of what changed, for servers where that is the only way to see changes.
    One at a time: an export still running when the next is due is left to
    finish. What stops one is in the feed's state (the feeds page)."""
    if not settings.FHIR_BASE_URL:
        return "no FHIR_BASE_URL"
    with feed_pull_lock(FEED) as mine:
        if not mine:
            return "the previous export is still running"
        try:
            fhir_server_pull(feed=FEED, base_url=settings.FHIR_BASE_URL, bulk=True)
        except (PullError, FeedsIsolated) as error:
            # Written to be shown; recorded in the feed's state already.
            logger.warning("Scheduled Bulk Data export stopped: %s", error)
            return "stopped"
    return "done"
