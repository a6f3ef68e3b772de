import contextlib
import datetime as dt
import multiprocessing
import os
import resource
import time
import traceback
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.management.report import progress_bar
from patients.models import Location
from printouts.models import Pack
from printouts.pdf import html_to_pdf, tune_gc
from printouts.published import forms_publish
from printouts.services import pack_path, pack_render, pack_request, packs_due


class Command(BaseCommand):
    help = (
        "Render ward packs (and clinic lists) now, in this process: for when "
        "Celery or Redis is down. Each pack is published exactly as a worker "
        "would publish it."
    )

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--ward",
            action="append",
            default=[],
            help="A ward, by name or by its id in the mirror (repeatable).",
        )
        which.add_argument(
            "--all",
            action="store_true",
            help="Every ward, and every clinic's list for today and tomorrow.",
        )
        which.add_argument(
            "--due",
            action="store_true",
            help="Only what is due, as the scheduler decides each minute: "
            "changed content, older than the refresh interval, or no pack yet.",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            help="Wards rendered at once, each in a process of its own "
            "(default: one per core).",
        )
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="Render every patient's pages again, even when unchanged.",
        )

    def handle(
        self,
        *args,
        ward: list[str],
        all: bool,
        due: bool,
        jobs: int,
        no_cache: bool,
        **options,
    ) -> None:
        started = time.perf_counter()
        wards = [] if due else self._wards(ward, all)
        queued = packs_due() if due else []
        queued += [
            pack_request(location=location, reason=Pack.Reason.COMMAND).pk
            for location in wards
        ]
        if all:
            queued += [
                pack_request(
                    location=clinic,
                    kind=Pack.Kind.CLINIC,
                    day=day,
                    reason=Pack.Reason.COMMAND,
                ).pk
                for clinic, day in _clinic_days()
            ]
        render = partial(_render, use_cache=not no_cache)
        failed = 0
        with (
            progress_bar(
                self, total=len(queued), what=_("Rendering"), unit=_("packs")
            ) as bar,
            _pool(jobs, len(queued)) as pool,
        ):
            peak = 0.0
            for pack_id, seconds, trace, memory in pool(render, queued):
                peak = max(peak, memory)
                bar.update(1)
                if trace:
                    self.stderr.write(trace)
                failed += self._report(Pack.objects.get(pk=pack_id), seconds)
        if queued:
            self.stdout.write(
                _("Peak memory of a rendering process: %(mb).0f MB") % {"mb": peak}
            )
        if all:  # what ward stations keep besides packs
            forms_publish()
        self.stdout.write(
            _("%(number)d packs in %(seconds).1f s")
            % {
                "number": len(queued),
                "seconds": time.perf_counter() - started,
            }
        )
        if failed:
            raise CommandError(
                _("%(number)d of %(total)d packs failed; see the errors above.")
                % {"number": failed, "total": len(queued)}
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
        title = f"{pack.title} {pack.day:%d/%m/%Y}" if pack.day else pack.title
        if pack.status != Pack.Status.READY:
            self.stdout.write(
                self.style.ERROR(
                    _("%(ward)s: failed: %(error)s")
                    % {"ward": title, "error": pack.error}
                )
            )
            return 1
        self.stdout.write(
            _(
                "%(ward)s: %(pages)d pages, %(patients)d patients, "
                "%(seconds).1f s: %(path)s"
            )
            % {
                "ward": title,
                "pages": pack.page_count,
                "patients": pack.patient_count,
                "seconds": seconds,
                "path": pack_path(pack),
            }
        )
        return 0


def _clinic_days() -> list[tuple[Location, dt.date]]:
    today = timezone.localdate()
    clinics = Location.objects.filter(kind=Location.Kind.CLINIC).order_by("name")
    return [(c, today + dt.timedelta(days=n)) for c in clinics for n in (0, 1)]


def _render(pack_id: int, use_cache: bool) -> tuple[int, float, str, float]:
    """(pack id, seconds, traceback if it failed, peak MB of this process):
    the failure itself is recorded on the pack, and the other wards go on."""
    started = time.perf_counter()
    trace = ""
    try:
        pack_render(pack_id=pack_id, use_cache=use_cache)
    except Exception:
        trace = traceback.format_exc()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pack_id, time.perf_counter() - started, trace, peak


@contextlib.contextmanager
def _pool(jobs: int, tasks: int):
    """``map`` in this process, or over forked processes when it pays."""
    if jobs <= 1 or tasks <= 1:
        yield map
        return
    connection.close()  # never share a database connection with a child
    # Parsed once here, inherited by every child: the stylesheet, the fonts.
    html_to_pdf("<p>.</p>")
    context = multiprocessing.get_context("fork")
    # A fresh process every few packs: WeasyPrint's caches grow with each
    # document, and a long-lived process would pass 300 MB (bench/packs.py).
    with context.Pool(
        min(jobs, tasks), initializer=tune_gc, maxtasksperchild=4
    ) as pool:
        yield lambda function, items: pool.imap_unordered(function, items)
