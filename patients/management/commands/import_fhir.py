from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from patients.management.report import FEED_CHECKS, print_summary, progress_bar
from patients.services import fhir_files_import


class Command(BaseCommand):
    requires_system_checks = FEED_CHECKS
    help = (
        "Import FHIR R4 bundles (.json) and Bulk Data exports (folders of .ndjson, "
        "with or without their manifest) into the mirror. What cannot be read (not "
        "UTF-8, not JSON, nested too deep, NaN, a NUL) is quarantined with the "
        "reason and the rest imported. Exits with status 1 when anything was "
        "quarantined."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders.")
        parser.add_argument(
            "--feed", default="fhir-files", help="Feed name recorded on every row."
        )
        parser.add_argument(
            "--partial",
            action="store_true",
            help="The input is not a complete record of its patients: never "
            "remove allergies, problems or medication orders it does not list.",
        )

    def handle(self, *args, paths: list[Path], feed: str, partial: bool, **options):
        for path in paths:
            if not path.exists():
                raise CommandError(_("%(path)s does not exist.") % {"path": path})
        bar = progress_bar(self, total=None, what=_("Importing"))
        with bar:
            summary = fhir_files_import(
                paths=paths,
                feed=feed,
                replace_sets=not partial,
                on_total=lambda total: setattr(bar, "total", total),
                progress=bar.update,
            )
        print_summary(self, summary)
