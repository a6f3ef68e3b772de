import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from patients.ingest.pull import PullError
from patients.management.report import FEED_CHECKS, print_summary, progress_bar
from patients.services import FeedsIsolated, fhir_server_pull

# FHIR's id datatype.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class Command(BaseCommand):
    requires_system_checks = FEED_CHECKS
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
        parser.add_argument(
            "--bulk",
            action="store_true",
            help="By a Bulk Data export ($export) rather than by search; by "
            "search where the server cannot export.",
        )
        parser.add_argument(
            "--group", default="", help="With --bulk: export this Group's patients."
        )
        parser.add_argument(
            "--patients",
            action="store_true",
            help="With --bulk: a patient-level export (Patient/$export), for "
            "servers that export patients' data only.",
        )

    def handle(
        self, *args, base_url, feed, full, page_size, bulk, group, patients, **options
    ) -> None:
        if (group or patients) and not bulk:
            raise CommandError(_("--group and --patients go with --bulk."))
        if group and patients:
            raise CommandError(_("Give --group or --patients, not both."))
        if group and not FHIR_ID.fullmatch(group):
            raise CommandError(
                _("--group takes a Group's id: letters, digits, '-' and '.'.")
            )
        base_url = base_url or settings.FHIR_BASE_URL
        if not base_url:
            raise CommandError(_("Set FHIR_BASE_URL or give --base-url."))
        try:
            with progress_bar(self, total=None, what=_("Pulling")) as bar:
                summary = fhir_server_pull(
                    feed=feed,
                    base_url=base_url,
                    full=full,
                    page_size=page_size,
                    bulk=bulk,
                    group=group,
                    patients=patients,
                    progress=lambda kind, number: bar.update(number),
                    status=bar.set_description_str,
                    notice=self.stdout.write,
                )
        except FeedsIsolated as error:
            raise CommandError(str(error)) from None
        except PullError as error:
            raise CommandError(
                _(
                    "The pull stopped: %(error)s The next pull starts again from "
                    "the last successful one."
                )
                % {"error": error}
            ) from None
        print_summary(self, summary)
