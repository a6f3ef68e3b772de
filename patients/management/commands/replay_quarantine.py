from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from patients.management.report import FEED_CHECKS, print_summary, progress_bar
from patients.models import QuarantinedResource
from patients.services import quarantine_replay


class Command(BaseCommand):
    requires_system_checks = FEED_CHECKS
    help = (
        "Apply quarantined resources again, after their cause was fixed (a "
        "missing patient loaded, say). Those that go through are marked "
        "replayed; the others stay held with their new reason."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "ids", nargs="*", type=int, help="Only these (default: every held one)."
        )

    def handle(self, *args, ids: list[int], **options) -> None:
        held = QuarantinedResource.objects.filter(
            status=QuarantinedResource.Status.HELD
        )
        total = held.filter(pk__in=ids).count() if ids else held.count()
        with progress_bar(self, total=total, what=_("Replaying")) as bar:
            summary = quarantine_replay(ids=ids, progress=bar.update)
        print_summary(self, summary)
