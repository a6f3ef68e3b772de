"""Pack tasks: ids in, a service call, ids out. Retry policy lives here."""

import logging
from functools import partial

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import transaction

from printouts.models import Pack
from printouts.pdf import tune_gc
from printouts.published import (
    forms_due,
    forms_publish,
    signatures_renew,
    signatures_stale,
)
from printouts.services import (
    pack_render,
    pack_request,
    pack_requeue,
    packs_due,
    packs_prune,
    packs_take_back,
)

logger = logging.getLogger(__name__)
RETRIES = 3


@worker_process_init.connect
def _rendering_process(**kwargs) -> None:
    """Each worker child renders pack after pack (printouts.pdf.tune_gc)."""
    tune_gc()


@worker_ready.connect
def _take_back_at_start(**kwargs) -> None:
    """A worker that starts, perhaps again after its machine or container
    died, has the renders a dead worker left taken back at once, not at
    beat's next tick (in a child: the main process keeps off the database)."""
    take_back_renders.delay()


@shared_task(bind=True, acks_late=True, max_retries=RETRIES)
def render_pack(self, pack_id: int) -> int:
    """Render one pack. A failure is retried (30 s, 60 s, 120 s later); a
    worker child that dies mid-render hands the task back to the queue
    (acks_late, reject on worker lost), and the pack is taken again. A
    worker that dies whole hands back nothing: its claim's heartbeat stops,
    and ``packs_take_back`` queues the pack again."""
    try:
        return pack_render(pack_id=pack_id).pk
    except Exception as error:
        if self.request.retries >= RETRIES or not pack_requeue(pack_id=pack_id):
            raise
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from None


def send_renders(pack_ids: list[int], *, priority: int | None = None) -> bool:
    """Send the renders of these packs; False if the broker is out of reach.

    Whatever could not be sent loses its ``queued_at``: the scheduler's next
    minute sends it once the broker answers again (``packs_due``), and the
    page that asked stays up rather than failing (``render_packs`` renders
    without Celery meanwhile)."""
    options = {} if priority is None else {"priority": priority}
    for index, pack_id in enumerate(pack_ids):
        try:
            render_pack.apply_async((pack_id,), **options)
        except Exception:  # kombu raises several unrelated types
            logger.error(
                "%d renders not sent: the broker is out of reach",
                len(pack_ids) - index,
            )
            Pack.objects.filter(pk__in=pack_ids[index:]).update(queued_at=None)
            return False
    return True


def render_requested(*, location, kind: str, day, user=None) -> Pack:
    """A render asked for now (a person, or a damaged file found); its task
    is sent once the row is committed, none when one is already queued."""
    pack = pack_request(
        location=location, kind=kind, day=day, reason=Pack.Reason.REQUESTED, user=user
    )
    if pack.newly_created:
        transaction.on_commit(partial(send_renders, [pack.pk]))
    return pack


@shared_task
def queue_due_packs() -> list[int]:
    """Every 15 seconds (config/celery.py): queue the packs that are due."""
    due = packs_due()
    _send_due(due)
    if forms_due():  # new templates: the stations' blank forms again
        publish_forms.delay()
    if signatures_stale():  # a new signing key: what stations keep, signed again
        renewed = signatures_renew()
        logger.info("%d signatures renewed with the signing key in use", renewed)
    return due


@shared_task
def take_back_renders() -> list[int]:
    """Sent by every worker as it starts: the renders a dead worker left,
    and queued packs whose message was lost, are sent again."""
    back = packs_take_back()
    _send_due(back)
    return back


def _send_due(pack_ids: list[int]) -> None:
    """Send these renders from a task; a downtime's final set keeps its
    priority."""
    final = set(
        Pack.objects.filter(pk__in=pack_ids, downtime__isnull=False).values_list(
            "pk", flat=True
        )
    )
    for pack_id in pack_ids:
        if pack_id in final:
            render_pack.apply_async(
                (pack_id,), priority=settings.DOWNTIME_RENDER_PRIORITY
            )
        else:  # the default (an explicit None would clear it)
            render_pack.delay(pack_id)
    if pack_ids:
        logger.info("queued %d packs", len(pack_ids))


@shared_task(acks_late=True)
def publish_forms() -> list[int]:
    """The blank forms of the current templates, signed for ward stations."""
    return [printout.pk for printout in forms_publish()]


@shared_task
def prune_packs() -> int:
    """Every hour (config/celery.py): old packs and unused cached parts go."""
    return packs_prune()
