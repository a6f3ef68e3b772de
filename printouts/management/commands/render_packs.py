import time
import traceback

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from patients.management.report import progress_bar
from patients.models import Location
from printouts.models import Pack
from printouts.services import pack_path, pack_render, pack_request


class Command(BaseCommand):
    help = (
        "Render ward packs now, in this process: for when Celery or Redis is "
        "down. Each pack is published exactly as a worker would publish it."
    )

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--ward",
            action="append",
            default=[],
            help="A ward, by name or by its id in the mirror (repeatable).",
        )
        which.add_argument("--all", action="store_true", help="Every ward.")
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="Render every patient's pages again, even when unchanged.",
        )

    def handle(self, *args, ward: list[str], all: bool, no_cache: bool, **options):
        wards = self._wards(ward, all)
        failed = 0
        with progress_bar(
            self, total=len(wards), what=_("Rendering"), unit=_("wards")
        ) as bar:
            for location in wards:
                started = time.perf_counter()
                pack = pack_request(location=location, reason=Pack.Reason.COMMAND)
                try:
                    pack = pack_render(pack_id=pack.pk, use_cache=not no_cache)
                except Exception:  # recorded on the pack; go on with the others
                    self.stderr.write(traceback.format_exc())
                    pack.refresh_from_db()
                bar.update(1)
                failed += self._report(pack, time.perf_counter() - started)
        if failed:
            raise CommandError(
                _("%(number)d of %(total)d packs failed; see the errors above.")
                % {"number": failed, "total": len(wards)}
            )

    def _wards(self, names: list[str], every: bool) -> list[Location]:
        wards = Location.objects.filter(kind=Location.Kind.WARD).order_by("name")
        if every:
            found = list(wards)
            if not found:
                raise CommandError(_("The mirror holds no wards yet."))
            return found
        chosen = []
        for name in names:
            match = [w for w in wards if name in (w.name, str(w.pk), w.source_id)]
            if len(match) != 1:
                raise CommandError(
                    _("No single ward is called %(name)s; --all renders every ward.")
                    % {"name": name}
                )
            chosen.extend(match)
        return chosen

    def _report(self, pack: Pack, seconds: float) -> int:
        if pack.status != Pack.Status.READY:
            self.stdout.write(
                self.style.ERROR(
                    _("%(ward)s: failed: %(error)s")
                    % {"ward": pack.title, "error": pack.error}
                )
            )
            return 1
        self.stdout.write(
            _(
                "%(ward)s: %(pages)d pages, %(patients)d patients, "
                "%(seconds).1f s: %(path)s"
            )
            % {
                "ward": pack.title,
                "pages": pack.page_count,
                "patients": pack.patient_count,
                "seconds": seconds,
                "path": pack_path(pack),
            }
        )
        return 0
