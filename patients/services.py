"""Writes to the mirror. Only the ingest services call these; no view does."""

import contextlib
import datetime as dt
import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from patients.ingest.bulk import BulkExport, NotSupported
from patients.ingest.fhir import Importer, Summary, fhir_import
from patients.ingest.pull import (
    PULL_SCOPES,
    PULLED_TYPES,
    FhirClient,
    PullError,
    PullStopped,
    fhir_pull,
    resume_point,
)
from patients.ingest.smart import fhir_auth
from patients.ingest.sources import Item, Load, Unreadable, read_json, read_paths
from patients.isolation import inbound_feeds_isolated
from patients.models import FeedState, QuarantinedResource

Progress = Callable[[int], None]


class FeedsIsolated(Exception):
    """A downtime isolates the inbound feeds: nothing may be fetched."""


def feed_state_record(
    *,
    feed: str,
    summary: Summary | None = None,
    error: str = "",
    cursor: str = "",
    auth=None,
    way: str = "",
    export: dict | None = None,
) -> FeedState:
    """Note an attempt: a success (with its summary) or the error that ended
    it; with ``auth``, when its access token runs out; how it read the
    server (``way``), and its Bulk Data ``export``."""
    now = timezone.now()
    with transaction.atomic():
        state, _created = FeedState.objects.select_for_update().get_or_create(name=feed)
        state.last_attempt_at = now
        state.way = way or state.way
        if export is not None:
            state.last_export = export
        expires_at = getattr(auth, "expires_at", None)
        if expires_at is not None:
            state.token_expires_at = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        if error:
            state.last_error_at = now
            state.last_error = error
        else:
            state.last_success_at = now
            state.last_error = ""
            if summary is not None:
                state.last_summary = summary.as_dict()
            if cursor:
                state.cursor = cursor
        state.save()
    return state


def fhir_files_import(
    *,
    paths: Iterable[Path],
    feed: str,
    replace_sets: bool = True,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Import bundles and Bulk Data folders, and record the feed's state."""
    load = read_paths(paths)
    if on_total:
        on_total(load.total())
    return fhir_load_import(
        load=load, feed=feed, replace_sets=replace_sets, progress=progress
    )


@contextlib.contextmanager
def feed_pull_lock(feed: str) -> Iterator[bool]:
    """Whether this process may pull ``feed`` now: true unless another
    holds it. On PostgreSQL a session advisory lock, which the database
    drops with the connection of a worker that dies; elsewhere (SQLite, one
    process) always true."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.blake2b(feed.encode(), digest_size=8).digest()) >> 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        (mine,) = cursor.fetchone()
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def fhir_server_pull(
    *,
    feed: str,
    base_url: str,
    full: bool = False,
    page_size: int = 0,
    bulk: bool = False,
    group: str = "",
    patients: bool = False,
    progress: Callable[[str, int], None] | None = None,
    status: Callable[[str], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> Summary:
    """Pull from the EHR's FHIR server what changed since the feed's cursor:
    by search, or with ``bulk`` by a Bulk Data export (of ``group``'s
    patients if given, or at patient level with ``patients``), falling back
    to search where the server cannot export. ``status(text)``: an
    export's progress; ``notice(text)``: how the export went, or why the
    pull went by search instead.

    Whatever stops it is recorded in the feed's state, and the cursor stays
    where it was, so the next pull does the same window again. While a
    downtime isolates the feeds it refuses before contacting the server.
    """
    if inbound_feeds_isolated():
        refusal = FeedsIsolated(
            _(
                "The inbound feeds are isolated during a downtime: the FHIR server "
                "was not contacted and nothing was pulled. Pull again once IT has "
                "closed the downtime."
            )
        )
        feed_state_record(feed=feed, error=str(refusal))
        raise refusal
    state = FeedState.objects.filter(name=feed).first()
    since = "" if full or state is None else state.cursor
    tell = status or (lambda text: None)
    auth = None
    way, export = "search", None
    try:
        auth = fhir_auth(base_url, PULL_SCOPES)
        client = FhirClient(base_url, auth=auth, timeout=settings.FHIR_TIMEOUT)
        if bulk:
            try:
                summary, cursor, export = _bulk_pull(
                    client,
                    feed,
                    since,
                    group=group,
                    patients=patients,
                    progress=progress,
                    tell=tell,
                )
                way = "bulk"
                if notice:
                    notice(_export_text(export))
            except NotSupported as lacking:
                if notice:
                    notice(
                        _("%(reason)s Pulled by search instead.") % {"reason": lacking}
                    )
        if export is None:
            summary, cursor = fhir_pull(
                client=client,
                feed=feed,
                since=since,
                page_size=page_size or settings.FHIR_PAGE_SIZE,
                progress=progress,
                # A downtime that cuts the feeds stops a pull under way, too.
                stop=inbound_feeds_isolated,
            )
    except PullStopped:
        refusal = FeedsIsolated(
            _(
                "The inbound feeds were isolated during the pull: it stopped "
                "there, and the next pull starts again from the last successful "
                "one once IT has closed the downtime."
            )
        )
        feed_state_record(feed=feed, error=str(refusal))
        raise refusal from None
    except Exception as error:
        feed_state_record(feed=feed, error=failure_text(error), auth=auth, way=way)
        raise
    feed_state_record(
        feed=feed,
        summary=summary,
        cursor=cursor,
        auth=auth,
        way=way,
        export=export,
    )
    return summary


def _export_text(export: dict) -> str:
    text = _(
        "Pulled by Bulk Data export: %(files)d files, %(size)s, in %(seconds)s s."
    ) % {
        "files": export["files"],
        "size": filesizeformat(export["bytes"]),
        "seconds": export["seconds"],
    }
    if export["errors"]:
        text += " " + ngettext(
            "The server reported %(count)d error in its export (OperationOutcome).",
            "The server reported %(count)d errors in its export (OperationOutcome).",
            export["errors"],
        ) % {"count": export["errors"]}
    return text


def _bulk_pull(client, feed, since, *, group, patients, progress, tell):
    """A Bulk Data export, imported: (summary, next cursor, what the feeds
    page shows of the export). Its files are deleted once imported."""
    folder = settings.DATA_DIR / "bulk" / uuid.uuid4().hex  # not the feed's name
    tell(_("Asking the server for a Bulk Data export..."))
    try:
        exported = BulkExport(
            client,
            folder,
            max_seconds=settings.FHIR_BULK_MAX_HOURS * 3600,
            progress=tell,
            stop=inbound_feeds_isolated,
        ).run(types=list(PULLED_TYPES), since=since, group=group, patients=patients)
        summary = fhir_import(
            load=read_paths([folder]),
            feed=feed,
            # Changes since a time are no complete record of anyone.
            replace_sets=not since,
            progress=(lambda number: progress("", number)) if progress else None,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    export = {
        "finished_at": timezone.now().isoformat(),
        "seconds": round(exported.seconds, 1),
        "files": exported.files,
        "bytes": exported.size,
        "errors": exported.errors,
        "transaction_time": exported.transaction_time,
    }
    return summary, resume_point(exported.transaction_time), export


def failure_text(error: Exception) -> str:
    """What the feed's state shows of a failure.

    A pull error's message is written to be shown. Anything else (a database
    error, a bug) may quote the data it choked on, so only its kind is kept;
    the traceback goes to the command's or the worker's output.
    """
    if isinstance(error, PullError):
        return str(error)
    return f"{type(error).__name__} (unexpected; see the command or worker output)"


def fhir_load_import(
    *,
    load: Load,
    feed: str,
    replace_sets: bool = True,
    progress: Progress | None = None,
) -> Summary:
    try:
        summary = fhir_import(
            load=load, feed=feed, replace_sets=replace_sets, progress=progress
        )
    except Exception as error:
        feed_state_record(feed=feed, error=failure_text(error))
        raise
    feed_state_record(feed=feed, summary=summary)
    return summary


def quarantine_replay(
    *, ids: Iterable[int] = (), progress: Progress | None = None
) -> Summary:
    """Try held resources again; those that now apply are marked replayed.

    Each is applied as if it came from its own feed again, never as a set
    replacement: a lone resource is not a complete record of its patient.
    """
    held = QuarantinedResource.objects.filter(status=QuarantinedResource.Status.HELD)
    if ids:
        held = held.filter(pk__in=list(ids))
    summary = Summary()
    by_feed: dict[str, list[Item]] = {}
    for row in held.order_by("pk"):
        by_feed.setdefault(row.feed, []).append(_item(row))
    for feed, items in by_feed.items():
        importer = Importer(feed=feed, replace_sets=False)
        importer.summary = summary
        load = Load()
        for item in items:
            load.add(item)
        importer.run(load, progress=progress)
    return summary


def _item(row: QuarantinedResource) -> Item:
    try:
        _, resource = read_json(row.raw.encode())
    except Unreadable as error:
        return Item(row.origin, row.raw, error=str(error), quarantine_id=row.pk)
    if not isinstance(resource, dict):
        return Item(
            row.origin, row.raw, error="not a JSON object", quarantine_id=row.pk
        )
    if "resource" in resource and "resourceType" not in resource:
        resource = resource["resource"]  # a bundle entry kept whole
    return Item(
        row.origin,
        row.raw,
        resource if isinstance(resource, dict) else None,
        urns=row.references,
        quarantine_id=row.pk,
    )
