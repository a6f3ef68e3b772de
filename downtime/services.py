import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from downtime.models import Downtime, Heartbeat, Transition
from patients.selectors import mirror_as_of


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
) -> Downtime:
    """Enter downtime now: from here every page shows the banner, and the
    mirror's data is recorded as frozen at its newest feed's time."""
    now = timezone.now()
    downtime = Downtime(
        state=Downtime.State.DOWNTIME,
        kind=kind,
        drill=drill,
        reason=reason,
        systems=systems or [],
        expected_end=expected_end,
        declared_at=now,
        frozen_at=mirror_as_of(),
        feeds_isolated=isolate_feeds and not drill,
    )
    downtime.full_clean()
    try:
        with transaction.atomic():
            downtime.save()
            _record(downtime, downtime.state, user, now, reason)
    except IntegrityError as error:  # declared by someone else meanwhile
        raise ValidationError(_("Another downtime is already active.")) from error
    return downtime


def downtime_recover(*, downtime: Downtime, user, why: str) -> Downtime:
    """The EHR is back: enter recovery (re-entering what was done on paper)."""
    return _move(downtime, Downtime.State.DOWNTIME, Downtime.State.RECOVERY, user, why)


def downtime_close(*, downtime: Downtime, user, why: str) -> Downtime:
    """Recovery is over: back to normal, and the feeds flow again."""
    return _move(
        downtime,
        Downtime.State.RECOVERY,
        Downtime.State.CLOSED,
        user,
        why,
        feeds_isolated=False,
    )


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
