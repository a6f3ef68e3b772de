"""Packs: queued as rows, rendered by id, published atomically."""

import datetime as dt
import hashlib
import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from patients.models import Location
from patients.selectors import mirror_as_of
from printouts import documents
from printouts.models import Pack
from printouts.pdf import RenderError

logger = logging.getLogger(__name__)


def pack_request(
    *,
    location: Location,
    reason: str,
    kind: str = Pack.Kind.WARD,
    day: dt.date | None = None,
    user=None,
) -> Pack:
    """A queued pack for this ward; the one already queued if there is one."""
    with transaction.atomic():
        queued = (
            Pack.objects.select_for_update()
            .filter(location=location, kind=kind, day=day, status=Pack.Status.QUEUED)
            .first()
        )
        if queued is not None:
            return queued
        return Pack.objects.create(
            kind=kind,
            location=location,
            title=location.name,
            day=day,
            language=settings.LANGUAGE_CODE,
            reason=reason,
            requested_by=user,
            requested_at=timezone.now(),
        )


def pack_render(*, pack_id: int, use_cache: bool = True) -> Pack:
    """Render a queued pack and publish it; a pack already done is left alone.

    A pack found "rendering" is taken again: its worker died (the task is
    delivered again only then). Any failure marks the pack failed and is
    raised again for the caller's retry policy.
    """
    claimed = Pack.objects.filter(
        pk=pack_id, status__in=(Pack.Status.QUEUED, Pack.Status.RENDERING)
    ).update(
        status=Pack.Status.RENDERING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
    )
    pack = Pack.objects.select_related("location").get(pk=pack_id)
    if not claimed:
        return pack
    try:
        if pack.location is None:
            raise RenderError("the ward is no longer in the mirror")
        generated_at = timezone.now()
        # Read before the content: the pack holds at least what the mirror
        # held then.
        as_of = mirror_as_of() or generated_at
        document = documents.ward_pack(
            ward=pack.location,
            as_of=as_of,
            generated_at=generated_at,
            language=pack.language,
            use_cache=use_cache,
        )
        return _publish(pack, document, as_of=as_of, generated_at=generated_at)
    except Exception as error:
        _fail(pack, error)
        raise


def pack_path(pack: Pack) -> Path:
    return settings.PACK_DIR / "files" / pack.file_name


def _publish(
    pack: Pack,
    document: documents.Document,
    *,
    as_of: dt.datetime,
    generated_at: dt.datetime,
) -> Pack:
    """File first (temporary name, fsync, rename), then the row: a reader who
    finds the row ready always finds the whole file."""
    digest = hashlib.sha256(document.pdf).hexdigest()
    documents.write_atomically(
        settings.PACK_DIR / "files" / f"{digest}.pdf", document.pdf
    )
    Pack.objects.filter(pk=pack.pk, status=Pack.Status.RENDERING).update(
        status=Pack.Status.READY,
        sha256=digest,
        size=len(document.pdf),
        page_count=document.pages,
        patient_count=len(document.sections),
        as_of=as_of,
        generated_at=generated_at,
    )
    pack.refresh_from_db()
    logger.info(
        "pack %s ready: %d pages, %d parts rendered, %d from cache",
        pack.pk,
        document.pages,
        document.rendered,
        document.cached,
    )
    return pack


def _fail(pack: Pack, error: Exception) -> None:
    """Our own errors say what is wrong; anything else only its kind, as it
    may quote the data (the traceback goes to the worker's log)."""
    if isinstance(error, RenderError):
        text = str(error)
    else:
        text = f"{type(error).__name__} (see the worker or command output)"
    Pack.objects.filter(pk=pack.pk).update(status=Pack.Status.FAILED, error=text)
    logger.error("pack %s failed: %s", pack.pk, text)
