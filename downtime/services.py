import datetime as dt
import logging
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from downtime.calls import worklist_add_calls
from downtime.models import Downtime, Heartbeat, Transition
from downtime.recovery import journal_sync_due, worklist_add_entries
from downtime.selectors import downtime_active, downtime_items_left
from downtime.worklists import worklists_build
from patients.models import Location
from patients.selectors import mirror_as_of
from printouts.models import Pack
from printouts.services import pack_request, pack_targets
from printouts.tasks import send_renders

logger = logging.getLogger(__name__)


def heartbeat_record(*, worker: str) -> Heartbeat:
    heartbeat, _created = Heartbeat.objects.update_or_create(
        name=Heartbeat.SCHEDULER,
        defaults={"beat_at": timezone.now(), "worker": worker},
    )
    return heartbeat


def downtime_declare(
    *,
    user,
    kind: str,
    reason: str,
    drill: bool = False,
    systems: list[str] | None = None,
    expected_end: dt.datetime | None = None,
    isolate_feeds: bool = False,
    starts_at: dt.datetime | None = None,
) -> Downtime:
    """Enter downtime now: from here every page shows the banner, the
    mirror's data is recorded as frozen at its newest feed's time, the
    recovery worklists are made from it, and the final set of packs is
    queued at top priority (``downtime_render_packs``).

    ``starts_at`` in the future: a planned downtime, scheduled; it begins by
    itself then (``downtime_tick``), its packs rendered again shortly before.
    """
    now = timezone.now()
    scheduled = starts_at is not None and starts_at > now
    if scheduled and kind != Downtime.Kind.PLANNED:
        raise ValidationError(_("Only a planned downtime can start later."))
    if expected_end is not None and expected_end <= (starts_at if scheduled else now):
        raise ValidationError(_("The expected end must come after the start."))
    downtime = Downtime(
        state=Downtime.State.SCHEDULED if scheduled else Downtime.State.DOWNTIME,
        kind=kind,
        drill=drill,
        reason=reason,
        systems=systems or [],
        expected_end=expected_end,
        declared_at=now,
        starts_at=starts_at if scheduled else None,
        frozen_at=None if scheduled else mirror_as_of(),
        feeds_isolated=isolate_feeds and not drill,
    )
    downtime.full_clean()
    try:
        with transaction.atomic():
            downtime.save()
            _record(downtime, downtime.state, user, now, reason)
            if not scheduled:  # the mirror as it stands now
                worklists_build(downtime=downtime)
                downtime_render_packs(downtime=downtime, user=user)
    except IntegrityError as error:  # declared by someone else meanwhile
        raise ValidationError(_("Another downtime is already active.")) from error
    return downtime


def downtime_tick(*, now: dt.datetime | None = None) -> list[int]:
    """Every minute (config/celery.py): a scheduled downtime has its packs
    rendered DOWNTIME_REFRESH_MINUTES before its start, and begins at its
    start. Returns the downtimes that began."""
    now = now or timezone.now()
    lead = dt.timedelta(minutes=settings.DOWNTIME_REFRESH_MINUTES)
    began = []
    scheduled = Downtime.objects.filter(
        state=Downtime.State.SCHEDULED, starts_at__lte=now + lead
    ).order_by("starts_at", "pk")
    for downtime in scheduled:
        if downtime.packs_queued_at is None and downtime_active() is None:
            downtime_render_packs(downtime=downtime)
        if downtime.starts_at <= now:
            try:
                downtime_start(downtime=downtime, now=now)
            except ValidationError:
                # Another downtime is active: this one waits, and IT's page
                # shows it overdue.
                logger.warning("scheduled downtime %s cannot begin", downtime.pk)
                continue
            began.append(downtime.pk)
    return began


def downtime_start(*, downtime: Downtime, now: dt.datetime | None = None) -> Downtime:
    """A scheduled downtime begins: recorded as the one who scheduled it.
    Its final set is queued again, now marked "DOWNTIME - data frozen at"
    (the patients' sections come from the cache)."""
    scheduler = downtime.transitions.order_by("at", "pk").first().user
    try:
        with transaction.atomic():
            started = _move(
                downtime,
                Downtime.State.SCHEDULED,
                Downtime.State.DOWNTIME,
                scheduler,
                _("Scheduled start"),
                declared_at=now or timezone.now(),
                frozen_at=mirror_as_of(),
            )
            worklists_build(downtime=started)
            downtime_render_packs(downtime=started)
    except IntegrityError as error:
        raise ValidationError(_("Another downtime is already active.")) from error
    return started


def downtime_cancel(*, downtime: Downtime, user, why: str) -> Downtime:
    """A scheduled downtime that will not happen."""
    return _move(
        downtime, Downtime.State.SCHEDULED, Downtime.State.CANCELLED, user, why
    )


def downtime_render_packs(*, downtime: Downtime, user=None) -> list[int]:
    """The downtime's final set: every ward's pack and every clinic's list
    (today and tomorrow) queued at once, tied to this downtime, and sent to
    the workers at top priority. A pack already queued joins the set and is
    sent again at top priority (the normal message then finds it done).
    Returns the packs' ids."""
    ids = []
    for location, kind, day in pack_targets(timezone.now()):
        pack = pack_request(
            location=location,
            kind=kind,
            day=day,
            reason=Pack.Reason.DOWNTIME,
            user=user,
        )
        # A pack another active downtime's set holds stays in that set (it
        # is the same render); one a scheduled downtime queued joins this.
        Pack.objects.filter(pk=pack.pk).filter(
            Q(downtime__isnull=True) | ~Q(downtime__state__in=Downtime.ACTIVE)
        ).update(downtime=downtime)
        ids.append(pack.pk)
    Downtime.objects.filter(pk=downtime.pk).update(packs_queued_at=timezone.now())

    # Sent once the set is committed; a broker out of reach leaves the
    # declaration standing, and the scheduler sends them when it is back.
    transaction.on_commit(
        partial(send_renders, ids, priority=settings.DOWNTIME_RENDER_PRIORITY)
    )
    return ids


def downtime_recover(*, downtime: Downtime, user, why: str) -> Downtime:
    """The EHR is back: enter recovery (re-entering what was done on paper),
    with each entry of the census journal an item of registration's
    worklist, and each postponed appointment one of scheduling's."""
    with transaction.atomic():
        recovered = _move(
            downtime, Downtime.State.DOWNTIME, Downtime.State.RECOVERY, user, why
        )
        worklist_add_entries(downtime=recovered)
        worklist_add_calls(downtime=recovered)
    return recovered


def downtime_postponement_set(
    *,
    downtime: Downtime,
    expected_end: dt.datetime | None,
    clinics: Iterable[Location],
    types: list[str],
    postpone_urgent: bool,
) -> Downtime:
    """What the downtime postpones, set by IT: until when (the expected end;
    the call lists follow it), which clinics and appointment types (none:
    all), and whether urgent appointments too. Calls made stay as they are."""
    if downtime.state not in (Downtime.State.SCHEDULED, Downtime.State.DOWNTIME):
        raise ValidationError(
            _("This downtime is %(state)s: what it postpones is kept as it was.")
            % {"state": downtime.get_state_display().lower()}
        )
    start = downtime.starts_at or downtime.declared_at
    if expected_end is not None and expected_end <= start:
        raise ValidationError(_("The expected end must come after the start."))
    with transaction.atomic():
        Downtime.objects.filter(pk=downtime.pk).update(
            expected_end=expected_end,
            postponed_types=sorted(set(types)),
            postpone_urgent=postpone_urgent,
        )
        downtime.postponed_clinics.set(clinics)
    downtime.refresh_from_db()
    return downtime


def downtime_close(
    *, downtime: Downtime, user, why: str, left_accepted: int = 0
) -> Downtime:
    """Recovery is over: back to normal, and the feeds flow again (only an
    active downtime isolates them; ``feeds_isolated`` stays, for the record
    and the report). The census journal is brought in line at once.

    Items of the recovery worklists not done yet are kept as they are (the
    report lists them), but closing with them needs ``left_accepted``: how
    many the person closing was told were left, at least as many as now."""
    left = downtime_items_left(downtime=downtime)
    if downtime.state == Downtime.State.RECOVERY and left > left_accepted:
        raise ValidationError(
            ngettext(
                "%(count)d item of the recovery worklists is not done. Close "
                "anyway only once you know why: tick the box that says so.",
                "%(count)d items of the recovery worklists are not done. Close "
                "anyway only once you know why: tick the box that says so.",
                left,
            )
            % {"count": left}
        )
    with transaction.atomic():
        closed = _move(
            downtime, Downtime.State.RECOVERY, Downtime.State.CLOSED, user, why
        )
        # A drill's journal stays go now; a real one's entries stand until
        # the EHR says the same.
        journal_sync_due()
    return closed


def _move(
    downtime: Downtime, source: str, target: str, user, why: str, **changes
) -> Downtime:
    if not why.strip():
        raise ValidationError(_("Say why."))
    now = timezone.now()
    with transaction.atomic():
        moved = Downtime.objects.filter(pk=downtime.pk, state=source).update(
            state=target, **changes
        )
        if moved != 1:  # someone else moved it first
            downtime.refresh_from_db()
            raise ValidationError(
                _("This downtime is in %(state)s, not %(expected)s.")
                % {
                    "state": downtime.get_state_display(),
                    "expected": Downtime.State(source).label,
                }
            )
        _record(downtime, target, user, now, why)
    downtime.refresh_from_db()
    return downtime


def _record(downtime: Downtime, state: str, user, at: dt.datetime, why: str) -> None:
    Transition.objects.create(downtime=downtime, state=state, at=at, user=user, why=why)
