"""Initial load and unchanged re-import of a generated 1,000-inpatient hospital.

Goal (issue 3): at least 5,000 resources/s for the first load into
PostgreSQL, and a re-import of the same data at least 5 times faster.

    .venv/bin/python bench/mirror_load.py [--wards 42] [--beds 24]

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first.
"""

import argparse
import datetime as dt
import os
import resource
import socket
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CHUNK = int(os.environ.get("BENCH_CHUNK", "1000"))  # resources per upsert
URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/downtime_bench"
)


def prepare_database() -> None:
    name = URL.rsplit("/", 1)[1]
    with psycopg.connect(URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        if not db.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone():
            db.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = URL
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from downtime.models import CensusEntry, DowntimeNumber, NumberBlock, WorklistItem
    from patients.models import Location, Patient

    # What bench/downtime.py's census journal left holds on to the mirror's
    # wards and beds (PROTECT): it goes first.
    for model in (WorklistItem, CensusEntry, DowntimeNumber, NumberBlock):
        model.objects.all().delete()
    Patient.objects.all().delete()
    Location.objects.all().delete()


def vacuum(*, full: bool = False) -> None:
    """What autovacuum keeps doing on a hospital's server, done now: a
    machine whose PostgreSQL runs without it (as on the development
    machines) would otherwise measure each run against the dead rows of the
    runs before. ``full``: the tables and indexes rewritten, fast once the
    mirror has been emptied."""
    with psycopg.connect(URL, autocommit=True) as db:
        db.execute("VACUUM (FULL, ANALYZE)" if full else "VACUUM (ANALYZE)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu(pid: int, name: str = "") -> float | None:
    """Seconds of CPU the process ``pid`` of this host has used; None when
    there is none (or its command is not ``name``: another process now has
    that number)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            command, fields = stat.read().rsplit(")", 1)
    except OSError:
        return None
    if name not in command:
        return None
    fields = fields.split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_import(resources: list[dict], label: str) -> float:
    from patients.ingest.fhir import fhir_import
    from patients.ingest.sources import from_resources

    load = from_resources(resources, origin="bench")
    started = time.perf_counter()
    summary = fhir_import(load=load, feed="bench", chunk_size=CHUNK)
    seconds = time.perf_counter() - started
    rate = len(resources) / seconds
    print(
        f"{label:<22} {len(resources):>7} resources in {seconds:6.1f} s = "
        f"{rate:>7.0f} resources/s, peak memory {peak_mb():.0f} MB, "
        f"quarantined {summary.quarantined}"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=42)
    parser.add_argument("--beds", type=int, default=24)
    options = parser.parse_args()
    prepare_database()
    from patients.demo.hospital import demo_hospital
    from patients.models import Encounter

    now = dt.datetime.now(dt.UTC)
    resources = demo_hospital(
        wards=options.wards, beds=options.beds, seed=1, now=now, occupancy=1.0
    )
    print(f"generated {len(resources)} resources, peak memory {peak_mb():.0f} MB")
    first = timed_import(resources, "first load")
    inpatients = Encounter.objects.on_census().count()
    again = timed_import(resources, "unchanged re-import")
    print(
        f"{inpatients} inpatients; re-import {first / again:.1f}x faster than the "
        "first load"
    )


if __name__ == "__main__":
    main()
