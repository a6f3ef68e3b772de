"""Packs: queued as rows, rendered by id, published atomically."""

import contextlib
import datetime as dt
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import EllipsisType

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from patients.models import Encounter, Location
from patients.selectors import lagging_feeds, mirror_as_of
from printouts import documents, pdf
from printouts.marking import Marking, marking_now
from printouts.models import Pack, PackPrint, Printout
from printouts.pdf import RenderError
from printouts.published import labels_publish, printouts_prune
from printouts.selectors import binder_changes, paper_language
from printouts.signing import iso, statement_sign
from printouts.templatetags.packs import when

logger = logging.getLogger(__name__)


def pack_request(
    *,
    location: Location,
    reason: str,
    kind: str = Pack.Kind.WARD,
    day: dt.date | None = None,
    user=None,
) -> Pack:
    """A queued pack for this ward, in the ward's language; the one already
    queued if there is one."""
    with transaction.atomic():
        queued = (
            Pack.objects.select_for_update()
            .filter(location=location, kind=kind, day=day, status=Pack.Status.QUEUED)
            .first()
        )
        if queued is not None:
            queued.newly_created = False
            return queued
        now = timezone.now()
        pack = Pack.objects.create(
            kind=kind,
            location=location,
            title=location.name,
            day=day,
            language=paper_language(location=location),
            reason=reason,
            requested_by=user,
            requested_at=now,
            queued_at=now,
        )
        pack.newly_created = True  # the caller sends its task; else one is out
        return pack


def pack_render(*, pack_id: int, use_cache: bool = True) -> Pack:
    """Render a queued pack and publish it; a pack already done is left alone.

    A pack found "rendering" is taken again only when its claim lapsed
    (``_claimable``). While it renders, this process keeps the claim's
    heartbeat. Any failure marks the pack failed and is raised again for the
    caller's retry policy.
    """
    me = f"{socket.gethostname()}:{os.getpid()}"[:128]
    pack = Pack.objects.select_related("location").get(pk=pack_id)
    if not _claimable(pack):
        return pack
    now = timezone.now()
    claimed = Pack.objects.filter(
        pk=pack_id, status=pack.status, worker=pack.worker, attempts=pack.attempts
    ).update(
        status=Pack.Status.RENDERING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        worker=me,
        error="",
    )
    if not claimed:  # another worker got there first
        return pack
    pack.refresh_from_db()
    with _heartbeat(pack_id=pack.pk, worker=me):
        try:
            published = _render(pack, use_cache=use_cache)
        except Exception as error:
            _fail(pack, error)
            raise
    if pack.kind == Pack.Kind.WARD and published.status == Pack.Status.READY:
        _labels(published)
    return published


def _render(pack: Pack, *, use_cache: bool) -> Pack:
    """Render a claimed pack and publish it; any failure raises."""
    if pack.location is None:
        raise RenderError("the ward or clinic is no longer in the mirror")
    generated_at = timezone.now()
    # Read before the content: the pack holds at least what the mirror
    # held then.
    as_of = mirror_as_of() or generated_at
    times = {
        "as_of": as_of,
        "generated_at": generated_at,
        "language": pack.language,
        "lagging": lagging_feeds(as_of),
        # Read once: the pages and the digest say the same of it.
        "marking": marking_now(),
    }
    # The digest before the content: a change in between makes one more
    # render, never a missed one.
    place = pack.location_id
    digests = _digests(
        pack.kind,
        pack.day,
        generated_at,
        pack.language,
        [place],
        marking=times["marking"],
    )
    digest = digests.get(place, "")  # "": no longer a ward (or clinic)
    if pack.kind == Pack.Kind.WARD:
        document = documents.ward_pack(ward=pack.location, use_cache=use_cache, **times)
    else:
        document = documents.clinic_list(
            clinic=pack.location, day=pack.day, use_cache=use_cache, **times
        )
    return _publish(
        pack, document, digest=digest, as_of=as_of, generated_at=generated_at
    )


def _labels(pack: Pack) -> None:
    """The ward's label sheets as its census stands now, when a ward station
    keeps them (the clerk's page makes its own on demand). A failure here
    never fails the pack: it is logged, and the next render tries again."""
    if not pack.location.stations.filter(revoked_at__isnull=True).exists():
        return
    try:
        labels_publish(ward=pack.location, as_of=pack.as_of)
    except Exception:
        logger.exception("label sheets of ward %s not published", pack.location_id)


MAX_ATTEMPTS = 5
FAILED_BACKOFF = dt.timedelta(minutes=10)


def _claimable(pack: Pack) -> bool:
    """Queued; or left "rendering" by a worker that is gone: its claim lapsed
    (``_claim_lapsed``), or its process, of this host, no longer exists.
    Never more than MAX_ATTEMPTS times."""
    if pack.attempts >= MAX_ATTEMPTS and pack.status != Pack.Status.READY:
        Pack.objects.filter(
            pk=pack.pk, status__in=(Pack.Status.QUEUED, Pack.Status.RENDERING)
        ).update(
            status=Pack.Status.FAILED,
            error=f"given up after {pack.attempts} attempts",
        )
        return False
    if pack.status == Pack.Status.QUEUED:
        return True
    if pack.status != Pack.Status.RENDERING:
        return False
    if Pack.objects.filter(_claim_lapsed(timezone.now()), pk=pack.pk).exists():
        return True
    # Sooner, on the host where a worker's child died (its task is delivered
    # again at once): a "host:pid" that no longer runs. A pid in use again
    # (a restarted container) says nothing; the heartbeat decides then.
    host, _sep, pid = pack.worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True  # its process died mid-render
    except PermissionError:
        return False
    return int(pid) == os.getpid()  # this very process, after a crash


def _claim_lapsed(now: dt.datetime) -> Q:
    """Packs left "rendering" by a process that is gone: no heartbeat for
    PACK_HEARTBEAT_MAX_AGE seconds (a claim made before heartbeats: none
    since it began), or, the last resort for a process that beats but no
    longer renders, rendering for longer than a task may run."""
    silent = now - dt.timedelta(seconds=settings.PACK_HEARTBEAT_MAX_AGE)
    overdue = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return Q(status=Pack.Status.RENDERING) & (
        Q(heartbeat_at__lt=silent)
        | Q(heartbeat_at__isnull=True, started_at__lt=silent)
        | Q(started_at__lt=overdue)
    )


@contextlib.contextmanager
def _heartbeat(*, pack_id: int, worker: str) -> Iterator[None]:
    """While the body runs, a thread of this process refreshes the claim's
    heartbeat six times per PACK_HEARTBEAT_MAX_AGE: a process that dies,
    with its machine or not, stops beating, and its claim lapses."""
    done = threading.Event()
    beating = threading.Thread(
        target=_beat,
        args=(pack_id, worker, done),
        name=f"pack {pack_id} heartbeat",
        daemon=True,
    )
    beating.start()
    try:
        yield
    finally:
        done.set()
        beating.join()


def _beat(pack_id: int, worker: str, done: threading.Event) -> None:
    """The heartbeat thread, on a database connection of its own (closed
    when it ends). A beat that fails is logged and tried again."""
    interval = settings.PACK_HEARTBEAT_MAX_AGE / 6
    try:
        while not done.wait(interval):
            try:
                _beat_once(pack_id, worker)
            except DatabaseError:
                logger.warning("pack %s: heartbeat not written", pack_id)
                connection.close()  # a new one for the next beat
    finally:
        connection.close()


def _beat_once(pack_id: int, worker: str) -> None:
    """Refresh the heartbeat if the claim is still this worker's. A row
    locked by another transaction (the render's own, when it runs inside
    one) is skipped, not waited for: the next beat tries again."""
    with transaction.atomic():
        claim = Pack.objects.select_for_update(skip_locked=True).filter(
            pk=pack_id, status=Pack.Status.RENDERING, worker=worker
        )
        Pack.objects.filter(pk__in=claim).update(heartbeat_at=timezone.now())


def pack_path(pack: Pack) -> Path:
    """Where a ready pack's file is; a pack not ready has none."""
    if not pack.sha256:
        raise ValueError(f"pack {pack.pk} has no file: it is {pack.status}")
    return settings.PACK_DIR / "files" / pack.file_name


def _publish(
    pack: Pack,
    document: documents.Document,
    *,
    digest: str,
    as_of: dt.datetime,
    generated_at: dt.datetime,
) -> Pack:
    """File first (temporary name, fsync, rename), then the row: a reader who
    finds the row ready always finds the whole file."""
    sha256 = hashlib.sha256(document.pdf).hexdigest()
    documents.write_atomically(
        settings.PACK_DIR / "files" / f"{sha256}.pdf", document.pdf
    )
    signed = statement_sign(
        pack_statement(
            pack,
            sha256=sha256,
            size=len(document.pdf),
            pages=document.pages,
            patients=document.patients,
            as_of=as_of,
            generated_at=generated_at,
        )
    )
    published = Pack.objects.filter(
        pk=pack.pk, status=Pack.Status.RENDERING, worker=pack.worker
    ).update(
        status=Pack.Status.READY,
        sha256=sha256,
        size=len(document.pdf),
        page_count=document.pages,
        patient_count=document.patients,
        patients=document.patient_ids,
        index=document.index,
        content_digest=digest,
        as_of=as_of,
        generated_at=generated_at,
        statement=signed.statement,
        signature=signed.signature,
        signing_key=signed.key_id,
    )
    pack.refresh_from_db()
    if not published:  # taken over meanwhile: keep no file nobody refers to
        if not Pack.objects.filter(sha256=sha256).exists():
            (settings.PACK_DIR / "files" / f"{sha256}.pdf").unlink(missing_ok=True)
        return pack
    logger.info(
        "pack %s ready: %d pages, %d parts rendered, %d from cache",
        pack.pk,
        document.pages,
        document.rendered,
        document.cached,
    )
    return pack


def pack_statement(
    pack: Pack,
    *,
    sha256: str,
    size: int,
    pages: int,
    patients: int,
    as_of: dt.datetime,
    generated_at: dt.datetime,
) -> dict:
    """What a published pack is, as a ward station shows and checks it."""
    return {
        "format": 1,
        "item": f"pack-{pack.pk}",
        "kind": pack.kind,
        "location": {"id": pack.location_id, "name": pack.title},
        "day": pack.day.isoformat() if pack.day else None,
        "language": pack.language,
        "as_of": iso(as_of),
        "generated_at": iso(generated_at),
        "sha256": sha256,
        "size": size,
        "pages": pages,
        "patients": patients,
        "final_set_of_downtime": pack.downtime_id,
    }


def _fail(pack: Pack, error: Exception) -> None:
    """Our own errors say what is wrong; anything else only its kind, as it
    may quote the data (the traceback goes to the worker's log)."""
    if isinstance(error, RenderError):
        text = str(error)
    else:
        text = f"{type(error).__name__} (see the worker or command output)"
    Pack.objects.filter(
        pk=pack.pk, status=Pack.Status.RENDERING, worker=pack.worker
    ).update(status=Pack.Status.FAILED, error=text)
    logger.error("pack %s failed: %s", pack.pk, text)


def pack_requeue(*, pack_id: int) -> bool:
    """Put a failed or abandoned pack back in the queue; False if it is done."""
    return bool(
        Pack.objects.filter(
            pk=pack_id, status__in=(Pack.Status.FAILED, Pack.Status.RENDERING)
        ).update(status=Pack.Status.QUEUED, worker="", queued_at=timezone.now())
    )


def packs_due(*, now: dt.datetime | None = None) -> list[int]:
    """The packs to render now; queued rows are made for them.

    A ward is due when it has no ready pack, when its content differs from
    its newest pack's, or when that pack is older than the ward's refresh
    interval; but never twice within PACK_DEBOUNCE_SECONDS, so a burst of
    feed messages makes one render, not one each. Packs whose worker died
    are taken back first (``packs_take_back``).
    """
    now = now or timezone.now()
    due = packs_take_back(now=now)
    debounce = dt.timedelta(seconds=settings.PACK_DEBOUNCE_SECONDS)
    digests = {}  # (kind, day, language): every place's digest, read once
    for location, kind, day in pack_targets(now):
        newest = location.packs.filter(kind=kind, day=day).order_by("-pk").first()
        if newest is not None and (
            newest.status in (Pack.Status.QUEUED, Pack.Status.RENDERING)
            or newest.requested_at > now - debounce
            # a ward whose render keeps failing is tried again less often
            or (
                newest.status == Pack.Status.FAILED
                and newest.requested_at > now - FAILED_BACKOFF
            )
        ):
            continue
        reason = _reason_due(location, kind, day, now, digests)
        if reason:
            pack = pack_request(location=location, kind=kind, day=day, reason=reason)
            if pack.newly_created:
                due.append(pack.pk)
    return due


def pack_targets(now: dt.datetime):
    """Every ward; every clinic for today and tomorrow."""
    places = Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    ).select_related("pack_schedule", "ward_language")
    today = timezone.localdate(now)
    for place in places.order_by("kind", "name"):
        if place.kind == Location.Kind.WARD:
            yield place, Pack.Kind.WARD, None
        else:
            for day in (today, today + dt.timedelta(days=1)):
                yield place, Pack.Kind.CLINIC, day


def _reason_due(
    location: Location,
    kind: str,
    day,
    now: dt.datetime,
    digests: dict,
) -> str:
    ready = (
        location.packs.filter(kind=kind, day=day, status=Pack.Status.READY)
        .order_by("-generated_at")
        .first()
    )
    if ready is None:
        return Pack.Reason.SCHEDULED
    schedule = getattr(location, "pack_schedule", None)
    minutes = schedule.refresh_minutes if schedule else settings.PACK_REFRESH_MINUTES
    if ready.generated_at <= now - dt.timedelta(minutes=minutes):
        return Pack.Reason.SCHEDULED
    # In the ward's language of now: IT changing it changes the digest.
    language = paper_language(location=location)
    key = (kind, day, language)
    if key not in digests:
        digests[key] = _digests(kind, day, now, language)
    changed = digests[key].get(location.pk) != ready.content_digest
    return Pack.Reason.CHANGED if changed else ""


def _digests(
    kind: str,
    day,
    now: dt.datetime,
    language: str,
    places=None,
    *,
    marking: Marking | EllipsisType | None = ...,
) -> dict[int, str]:
    """The content digests of these places (None: of every ward or clinic).

    A pack rendered during a downtime says so on every page: its digest is
    that of its ``marking`` (not given: the marking of now), so a pack made
    before a downtime began, or during one that has ended, is out of date.
    """
    if marking is ...:
        marking = marking_now()
    if kind == Pack.Kind.WARD:
        return documents.ward_digests(
            now=now, language=language, wards=places, marking=marking
        )
    return documents.clinic_digests(
        day=day, language=language, clinics=places, marking=marking
    )


def packs_take_back(*, now: dt.datetime | None = None) -> list[int]:
    """Packs a dead worker left "rendering" (``_claim_lapsed``), and queued
    ones whose message was lost (a restarted broker) or never sent (no
    ``queued_at``): back to the queue. Returns their ids, to send."""
    now = now or timezone.now()
    limit = dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    lapsed = Pack.objects.filter(_claim_lapsed(now))
    back = list(lapsed.values_list("pk", flat=True))
    if back:
        # Filtered on the lapse again: a claim renewed meanwhile stays.
        lapsed.filter(pk__in=back).update(
            status=Pack.Status.QUEUED, worker="", queued_at=now
        )
        logger.warning("packs %s taken back: their worker stopped", back)
    lost = list(
        Pack.objects.filter(status=Pack.Status.QUEUED)
        .filter(Q(queued_at__lt=now - limit) | Q(queued_at__isnull=True))
        .values_list("pk", flat=True)
    )
    Pack.objects.filter(pk__in=lost).update(queued_at=now)  # sent once more
    return list(dict.fromkeys([*back, *lost]))


def packs_prune(*, keep: int | None = None, now: dt.datetime | None = None) -> int:
    """Keep the newest ``keep`` ready packs of each ward (and the newest
    printouts, ``published.printouts_prune``); delete older rows and their
    files, failed rows after a week, and cached parts unused for two days.
    Returns how many packs were deleted."""
    keep = keep or settings.PACK_KEEP
    now = now or timezone.now()
    old = []
    targets = Pack.objects.values_list("location", "kind", "day").distinct()
    for location, kind, day in targets:
        ready = Pack.objects.filter(
            location=location, kind=kind, day=day, status=Pack.Status.READY
        ).order_by("-generated_at", "-pk")
        old += list(ready.values_list("pk", flat=True)[keep:])
    week_ago = now - dt.timedelta(days=7)
    failed = Pack.objects.filter(status=Pack.Status.FAILED, requested_at__lt=week_ago)
    old += list(failed.values_list("pk", flat=True))
    past = timezone.localdate(now) - dt.timedelta(days=2)  # lists of days gone
    old += list(Pack.objects.filter(day__lt=past).values_list("pk", flat=True))
    files = set(Pack.objects.filter(pk__in=old).values_list("sha256", flat=True))
    deleted, _ = Pack.objects.filter(pk__in=old).delete()
    _printouts_deleted, printed = printouts_prune()
    files |= printed
    still = set(Pack.objects.filter(sha256__in=files).values_list("sha256", flat=True))
    still |= set(
        Printout.objects.filter(sha256__in=files).values_list("sha256", flat=True)
    )
    for digest in files - still - {""}:
        (settings.PACK_DIR / "files" / f"{digest}.pdf").unlink(missing_ok=True)
    _prune_parts(now)
    return deleted


def _prune_parts(now: dt.datetime) -> None:
    parts = settings.PACK_DIR / "parts"
    if not parts.exists():
        return
    unused = (now - dt.timedelta(days=2)).timestamp()
    abandoned = (now - dt.timedelta(hours=1)).timestamp()
    for path in parts.glob("*/*"):
        limit = abandoned if path.name.startswith(".tmp-") else unused
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


class PackDamaged(Exception):
    """A pack's file is missing or no longer matches its SHA-256."""


def published_bytes(row: Pack | Printout) -> bytes:
    """A published file (a pack's or a printout's), checked against its
    SHA-256; PackDamaged if it is missing or does not match."""
    name = f"{row.kind} {row.pk}"
    try:
        data = (settings.PACK_DIR / "files" / row.file_name).read_bytes()
    except OSError as error:
        raise PackDamaged(f"{name}: file missing") from error
    if not row.sha256 or hashlib.sha256(data).hexdigest() != row.sha256:
        raise PackDamaged(f"{name}: file does not match its SHA-256")
    return data


def transfer_summary_printable(
    *, stay: Encounter, printed_by: str, at: dt.datetime
) -> documents.Document:
    """A patient's transfer summary, made now in the ward's language, with
    "printed by NAME at TIME" on top of every page. Never stored: the
    caller hands it over and forgets it."""
    as_of = mirror_as_of() or at
    language = paper_language(location=stay.ward)
    document = documents.transfer_summary(
        stay=stay,
        as_of=as_of,
        generated_at=at,
        language=language,
        lagging=lagging_feeds(as_of),
        marking=marking_now(),
    )
    with translation.override(language):
        title = _("TRANSFER SUMMARY · %(ward)s") % {"ward": stay.ward.name}
    top = f"{title} · {printed_line(printed_by, at, language)}"
    document.pdf = pdf.stamped(document.pdf, [top], top=True)
    return document


def printed_line(printed_by: str, at: dt.datetime, language: str) -> str:
    """ "Printed by NAME at TIME", in ``language``: what every sheet a
    person prints carries on top."""
    with translation.override(language):
        return _("Printed by %(name)s at %(time)s") % {
            "name": printed_by,
            "time": when(timezone.localtime(at).replace(microsecond=0).isoformat()),
        }


def pack_printable(*, pack: Pack, printed_by: str, at: dt.datetime) -> bytes:
    """The pack's file, checked against its SHA-256, with "printed by NAME at
    TIME" on top of every page: a sheet found later says whose it was."""
    data = published_bytes(pack)
    return pdf.stamped(data, [printed_line(printed_by, at, pack.language)], top=True)


def pack_print_record(
    *, pack: Pack, kind: str, user, printed_by: str, at: dt.datetime, pages: int
) -> PackPrint:
    """A ward pack printed from the clerk's page (``PackPrint.Kind``): its
    binder holds this pack's pages from now on."""
    return PackPrint.objects.create(
        location=pack.location,
        pack=pack,
        pack_generated_at=pack.generated_at,
        kind=kind,
        printed_at=at,
        printed_by=user,
        printed_by_name=printed_by[:150],
        pages=pages,
        index=pack.index,
    )


def changes_printable(
    *, pack: Pack, since: PackPrint, printed_by: str, at: dt.datetime
) -> documents.Document | None:
    """The pages of the ward pack ``pack`` that the binder printed at
    ``since`` lacks, behind a cover that lists the beds and why, with
    "printed by NAME at TIME" on top of every page; None when it lacks
    none. PackDamaged if the pack's file is."""
    changes = binder_changes(index=pack.index, since=since.index)
    if not changes:
        return None
    document = documents.ward_changes(
        pack_pdf=published_bytes(pack),
        changes=changes,
        ward=pack.location,
        since={
            "name": since.printed_by_name,
            "printed_at": since.printed_at,
            "generated_at": since.pack_generated_at,
        },
        as_of=pack.as_of,
        generated_at=pack.generated_at,
        language=pack.language,
        marking=marking_now(),
    )
    top = printed_line(printed_by, at, pack.language)
    document.pdf = pdf.stamped(document.pdf, [top], top=True)
    return document
