"""Downtime packs of a generated 1,000-inpatient hospital, on two processes.

Goals (issue 4), on this 2-core machine: a cold render of every ward pack and
clinic list under 150 s; a refresh after 5% of the patients changed under
15 s; under 300 MB of peak memory per worker process.

    .venv/bin/python bench/packs.py [--wards 42] [--beds 24] [--clinics 20] [--jobs 2]

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first, and a temporary
DATA_DIR for the packs.
"""

import argparse
import datetime as dt
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from mirror_load import prepare_database  # noqa: E402


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def render_all(jobs: int, label: str) -> None:
    """``render_packs --all`` in a process of its own, as an operator runs it:
    the peak memory is then that of a rendering process, not of this one."""
    from printouts.models import Pack

    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "manage.py", "render_packs", "--all", "--jobs", str(jobs)],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    latest = {}
    for pack in Pack.objects.filter(status=Pack.Status.READY).order_by("-pk"):
        latest.setdefault((pack.location_id, pack.day), pack)
    pages = sum(pack.page_count for pack in latest.values())
    failed = Pack.objects.filter(status=Pack.Status.FAILED).count()
    print(
        f"{label:<24} {len(latest):>3} packs, {pages:>5} pages in {seconds:6.1f} s = "
        f"{pages / seconds:5.1f} pages/s; peak memory per process "
        f"{children_peak_mb():.0f} MB; failed {failed}"
    )


def change_some(share: float, now: dt.datetime) -> int:
    """Give ``share`` of the inpatients a new phone number, through the importer."""
    from patients.ingest.sources import from_resources
    from patients.models import Encounter
    from patients.services import fhir_load_import

    stays = Encounter.objects.filter(status__in=Encounter.ON_CENSUS).select_related(
        "patient"
    )
    chosen = random.Random(7).sample(list(stays), int(stays.count() * share))  # noqa: S311
    resources = [
        {
            "resourceType": "Patient",
            "id": stay.patient.source_id,
            "identifier": stay.patient.identifiers,
            "name": [{"family": stay.patient.family, "given": [stay.patient.given]}],
            "gender": stay.patient.sex,
            "birthDate": stay.patient.birth_date.isoformat(),
            "telecom": [{"system": "phone", "value": f"+32 2 555 {n:04d}"}],
        }
        for n, stay in enumerate(chosen)
    ]
    fhir_load_import(
        load=from_resources(resources, origin="bench"),
        feed="bench",
        replace_sets=False,
    )
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=42)
    parser.add_argument("--beds", type=int, default=24)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-packs-")
    prepare_database()
    from patients.demo.hospital import demo_hospital
    from patients.ingest.sources import from_resources
    from patients.models import Encounter
    from patients.services import fhir_load_import
    from printouts.models import Pack

    Pack.objects.all().delete()
    now = dt.datetime.now(dt.UTC)
    resources = demo_hospital(
        wards=options.wards,
        beds=options.beds,
        clinics=options.clinics,
        seed=1,
        now=now,
        occupancy=1.0,
    )
    fhir_load_import(load=from_resources(resources, origin="bench"), feed="bench")
    inpatients = Encounter.objects.filter(status__in=Encounter.ON_CENSUS).count()
    print(
        f"{inpatients} inpatients on {options.wards} wards, {options.clinics} "
        f"clinics (lists for today and tomorrow), {options.jobs} processes"
    )
    render_all(options.jobs, "cold render")
    changed = change_some(0.05, now)
    render_all(options.jobs, f"after {changed} changed")


if __name__ == "__main__":
    main()
