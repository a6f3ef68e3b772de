"""From "declare" to every ward ready: the moment of truth, measured.

Goal (issue 7), on this 2-core machine: from the declaration of a downtime to
every ward's pack and every clinic's list of the final set being ready, under
2 minutes, for the generated 1,000-inpatient hospital, with one Celery worker
of two processes on a Redis of its own.

The hospital is in its everyday state first: every pack rendered (so the
patients' sections are in the cache), as the scheduler keeps it. Then IT
declares an unplanned downtime that cuts the feeds, as the downtime page
does: the declaration (with its worklists), then the final set at top
priority.

The issue of the census journal (25) asks that the figures hold with the
journal in place: by default an earlier long downtime's journal still stands
when the measured one is declared. A share of the inpatients (``--journal``,
0.1) was discharged, transferred or admitted with a downtime number on it,
and that downtime was closed before the EHR sent any of it back, so every
census, worklist and pack of the measured declaration reads journal stays.
``--journal 0`` measures the hospital without entries.

    .venv/bin/python bench/downtime.py [--wards 42] [--beds 24] [--clinics 20]
        [--journal 0.1]

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first, and a temporary
DATA_DIR for the packs.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))
from mirror_load import URL, prepare_database  # noqa: E402
from packs import load_hospital, render_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=42)
    parser.add_argument("--beds", type=int, default=24)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--journal",
        type=float,
        default=0.1,
        help="share of the inpatients an earlier downtime's journal moved",
    )
    options = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bench-downtime-")
    os.environ["DATA_DIR"] = data_dir
    prepare_database()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from downtime.models import (
        Downtime,
        DowntimeNumber,
        NumberBlock,
        Transition,
        WorklistItem,
    )
    from printouts.models import Pack
    from tests.processes import celery_worker, redis_server

    # The bench's own database: what an earlier run left goes first.
    for model in (WorklistItem, Pack, DowntimeNumber, NumberBlock, Transition):
        model.objects.all().delete()
    Downtime.objects.all().delete()
    inpatients = load_hospital(options, dt.datetime.now(dt.UTC))
    print(
        f"{inpatients} inpatients on {options.wards} wards, {options.clinics} "
        f"clinics (lists for today and tomorrow); one worker of "
        f"{options.concurrency} processes"
    )
    it, _created = get_user_model().objects.get_or_create(username="bench-it")
    it.groups.add(Group.objects.get(name="it"))  # IT enters on every ward
    if options.journal:
        print(journal_in_place(options.journal, it))
    render_all(2, "everyday packs")

    from downtime.selectors import downtime_items_left
    from downtime.services import (
        downtime_close,
        downtime_declare,
        downtime_recover,
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-downtime-run-"))
    with redis_server(folder) as (broker_url, _redis):
        os.environ["CELERY_BROKER_URL"] = broker_url
        from config.celery import app

        # This process sends the tasks: to the broker, not inline as the
        # settings (read without a broker) would have it.
        app.conf.broker_url = broker_url
        app.conf.task_always_eager = False
        with celery_worker(
            broker_url=broker_url,
            database_url=URL,
            log=folder / "worker.log",
            extra_env={"DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"},
            concurrency=options.concurrency,
        ):
            started = time.perf_counter()
            # As the page does: the declaration makes the worklists and
            # queues the final set, sent once it is committed.
            downtime = downtime_declare(
                user=it,
                kind=Downtime.Kind.UNPLANNED,
                reason="bench",
                isolate_feeds=True,
            )
            declared = time.perf_counter()
            ids = list(
                Pack.objects.filter(downtime=downtime).values_list("pk", flat=True)
            )
            total = len(ids)
            ready_at: dict[int, float] = {}
            while len(ready_at) < total:
                for pk, status in Pack.objects.filter(pk__in=ids).values_list(
                    "pk", "status"
                ):
                    if status == Pack.Status.READY and pk not in ready_at:
                        ready_at[pk] = time.perf_counter() - started
                    if status == Pack.Status.FAILED:
                        raise SystemExit(f"pack {pk} failed: see {folder}/worker.log")
                if time.perf_counter() - started > 900:
                    raise SystemExit(f"not ready after 15 minutes: {folder}")
                time.sleep(0.2)
    times = sorted(ready_at.values())
    items = WorklistItem.objects.filter(downtime=downtime).count()
    # Closed, so that the other benches find the feeds flowing.
    downtime = downtime_recover(downtime=downtime, user=it, why="bench")
    downtime_close(
        downtime=downtime,
        user=it,
        why="bench",
        left_accepted=downtime_items_left(downtime=downtime),
    )
    print(
        f"declared in {declared - started:.2f} s (with {items} worklist items "
        f"and {total} packs queued)"
    )
    print(
        f"declare -> every ward ready: {times[-1]:.1f} s (goal < 120 s); first "
        f"ready at {times[0]:.1f} s, median {statistics.median(times):.1f} s"
    )


def journal_in_place(share: float, user) -> str:
    """An earlier downtime's census journal, still standing: of ``share``
    of the inpatients, half discharged and half transferred to a bed freed
    on another ward; as many new patients as left admitted with downtime
    numbers into the beds still free; then the downtime closed. Says what
    it did."""
    from django.utils import timezone

    from downtime.journal import journal_admit, journal_discharge, journal_transfer
    from downtime.models import Downtime
    from downtime.numbers import numbers_allocate
    from downtime.selectors import downtime_items_left
    from downtime.services import downtime_close, downtime_recover
    from patients.models import Encounter

    now = timezone.now()
    # The row alone, not downtime_declare: its final set would render here,
    # in this process (no broker yet), before the measured part.
    earlier = Downtime.objects.create(
        state=Downtime.State.DOWNTIME,
        kind=Downtime.Kind.UNPLANNED,
        reason="bench: the long one before",
        declared_at=now - dt.timedelta(days=7),
        frozen_at=now - dt.timedelta(days=7),
    )
    stays = list(Encounter.objects.on_census().select_related("patient", "bed"))
    rng = random.Random(25)  # noqa: S311 - a benchmark's sample
    chosen = rng.sample(stays, int(len(stays) * share))
    leaving, moving = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
    times = (
        now - dt.timedelta(days=7) + dt.timedelta(minutes=n) for n in range(1, 10**6)
    )
    free = []  # (ward, bed) freed so far
    for stay in leaving:
        journal_discharge(
            downtime=earlier,
            user=user,
            patient=stay.patient,
            disposition=rng.choice(["home", "home", "hospital", "deceased"]),
            occurred_at=next(times),
        )
        free.append((stay.ward, stay.bed))
    moved = 0
    for stay in moving:
        to = next((i for i, (ward, _b) in enumerate(free) if ward != stay.ward), None)
        if to is None:
            continue
        ward, bed = free.pop(to)
        journal_transfer(
            downtime=earlier,
            user=user,
            patient=stay.patient,
            ward=ward,
            bed=bed,
            occurred_at=next(times),
        )
        free.append((stay.ward, stay.bed))
        moved += 1
    # Each ward's block, handed out before the first number is given.
    blocks = {
        ward.pk: iter(
            numbers_allocate(location=ward, count=50, user=user).numbers.order_by("pk")
        )
        for ward in {ward for ward, _bed in free}
    }
    for ward, bed in free[: len(leaving)]:
        journal_admit(
            downtime=earlier,
            user=user,
            ward=ward,
            bed=bed,
            occurred_at=next(times),
            number=next(blocks[ward.pk]),
            family=rng.choice(["Peeters", "Maes", "Claes", "Unknown"]),
            given=rng.choice(["Els", "Jan", "Luc", ""]),
        )
    earlier = downtime_recover(downtime=earlier, user=user, why="bench")
    downtime_close(
        downtime=earlier,
        user=user,
        why="bench: the EHR has not sent the entries back yet",
        left_accepted=downtime_items_left(downtime=earlier),
    )
    journal = Encounter.objects.on_census().filter(status=Encounter.Status.JOURNAL)
    return (
        f"an earlier downtime's journal still stands: {len(leaving)} discharged, "
        f"{moved} transferred, {min(len(free), len(leaving))} admitted with "
        f"downtime numbers; {journal.count()} of "
        f"{Encounter.objects.on_census().count()} census stays are the journal's"
    )


if __name__ == "__main__":
    main()
