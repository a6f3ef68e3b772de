from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from patients.ingest.pull import FhirClient, PullError, fhir_pull
from patients.management.report import print_summary, progress_bar
from patients.models import FeedState
from patients.services import feed_state_record


class Command(BaseCommand):
    help = (
        "Pull what changed on the EHR's FHIR server since the last successful "
        "pull (everything the first time) into the mirror."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url", default="", help="FHIR base URL (default: FHIR_BASE_URL)."
        )
        parser.add_argument("--feed", default="fhir-pull", help="Feed name.")
        parser.add_argument(
            "--full", action="store_true", help="Pull everything, not only changes."
        )
        parser.add_argument("--page-size", type=int, default=0, help="Per page.")

    def handle(self, *args, base_url, feed, full, page_size, **options) -> None:
        base_url = base_url or settings.FHIR_BASE_URL
        if not base_url:
            raise CommandError(_("Set FHIR_BASE_URL or give --base-url."))
        state = FeedState.objects.filter(name=feed).first()
        since = "" if full or state is None else state.cursor
        try:
            client = FhirClient(
                base_url,
                token=settings.FHIR_BEARER_TOKEN,
                timeout=settings.FHIR_TIMEOUT,
            )
            with progress_bar(self, total=None, what=_("Pulling")) as bar:
                summary, cursor = fhir_pull(
                    client=client,
                    feed=feed,
                    since=since,
                    page_size=page_size or settings.FHIR_PAGE_SIZE,
                    progress=lambda kind, number: bar.update(number),
                )
        except PullError as error:
            feed_state_record(feed=feed, error=str(error))
            raise CommandError(
                _(
                    "The pull stopped: %(error)s The next pull starts again from "
                    "the last successful one."
                )
                % {"error": error}
            ) from None
        feed_state_record(feed=feed, summary=summary, cursor=cursor)
        print_summary(self, summary)
