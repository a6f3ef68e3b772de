"""Declaring, recovering from and closing a downtime: one at a time, each
step recorded with who, when and why."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from downtime.models import Downtime, Transition
from downtime.selectors import downtime_active, downtime_feeds_isolated
from downtime.services import downtime_close, downtime_declare, downtime_recover
from patients.models import FeedState
from tests.downtime.steps import close_leaving_items
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def declare(user, **extra) -> Downtime:
    return downtime_declare(
        user=user,
        kind=Downtime.Kind.UNPLANNED,
        reason="EHR servers switched off: ransomware",
        **extra,
    )


def test_a_downtime_goes_from_declared_to_recovery_to_closed_with_who_and_why():
    ivan = person("ivan", "it")
    feeds_at = timezone.now() - dt.timedelta(minutes=4)
    FeedState.objects.create(name="hl7", last_success_at=feeds_at)
    assert downtime_active() is None

    downtime = declare(ivan, systems=["EHR", "Pharmacy"], isolate_feeds=True)
    assert downtime_active() == downtime
    assert downtime.state == Downtime.State.DOWNTIME
    assert downtime.frozen_at == feeds_at  # the mirror's newest data
    assert downtime.feeds_isolated

    downtime = downtime_recover(downtime=downtime, user=ivan, why="EHR restored")
    assert downtime.state == Downtime.State.RECOVERY
    assert downtime_active() == downtime
    assert downtime.feeds_isolated  # reconnecting is IT's own decision

    downtime = close_leaving_items(downtime=downtime, user=ivan, why="Paper entered")
    assert downtime.state == Downtime.State.CLOSED
    assert downtime.feeds_isolated  # for the record
    assert not downtime_feeds_isolated()  # the feeds flow again
    assert downtime_active() is None

    steps = list(downtime.transitions.values_list("state", "user__username", "why"))
    assert steps == [
        ("downtime", "ivan", "EHR servers switched off: ransomware"),
        ("recovery", "ivan", "EHR restored"),
        ("closed", "ivan", "Paper entered"),
    ]
    times = list(downtime.transitions.values_list("at", flat=True))
    assert times == sorted(times)


def test_only_one_downtime_is_active_at_a_time_even_in_the_database():
    ivan = person("ivan", "it")
    first = declare(ivan)
    with pytest.raises(ValidationError, match="already active"):
        declare(ivan)
    with pytest.raises(IntegrityError), transaction.atomic():  # code or not
        Downtime.objects.create(
            kind="planned", reason="x", declared_at=timezone.now(), state="recovery"
        )
    assert list(Downtime.objects.all()) == [first]
    assert Transition.objects.count() == 1

    downtime_recover(downtime=first, user=ivan, why="back")
    close_leaving_items(downtime=first, user=ivan, why="done")
    assert declare(ivan).state == Downtime.State.DOWNTIME  # normal again


@pytest.mark.django_db(transaction=True)
def test_two_people_declaring_at_once_make_one_downtime():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections")
    users = [person("ivan", None), person("iris", None)]  # groups: flushed
    start = threading.Barrier(2)
    outcomes = []

    def declare_as(user):
        try:
            start.wait()
            outcomes.append(declare(user).pk)
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=declare_as, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == sorted(
        [Downtime.objects.get().pk, "Another downtime is already active."], key=str
    )


def test_a_step_out_of_order_is_refused_and_changes_nothing():
    ivan = person("ivan", "it")
    downtime = declare(ivan)
    with pytest.raises(ValidationError, match="in Downtime, not Recovery"):
        downtime_close(downtime=downtime, user=ivan, why="too early")
    with pytest.raises(ValidationError, match="Say why"):
        downtime_recover(downtime=downtime, user=ivan, why="  ")
    downtime.refresh_from_db()
    assert downtime.state == Downtime.State.DOWNTIME
    assert downtime.transitions.count() == 1


def test_a_drill_never_isolates_the_feeds():
    drill = declare(person("ivan", "it"), drill=True, isolate_feeds=True)
    assert drill.drill
    assert not drill.feeds_isolated
    with pytest.raises(IntegrityError), transaction.atomic():
        Downtime.objects.filter(pk=drill.pk).update(feeds_isolated=True)


def test_a_downtime_needs_a_reason():
    with pytest.raises(ValidationError, match="reason"):
        downtime_declare(user=person("ivan", "it"), kind="unplanned", reason="")
    assert not Downtime.objects.exists()
