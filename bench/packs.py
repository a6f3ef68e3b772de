"""Downtime packs of a generated 1,000-inpatient hospital, on two processes.

Goals (issue 4), on this 2-core machine: a cold render of every ward pack and
clinic list under 150 s; a refresh after 5% of the patients changed under
15 s (``render_packs --due``: what the scheduler renders then); under 300 MB of
peak memory per worker process. Then (issue 26) each ward's binder printed
once in full and kept current over ``--shifts`` shifts (21: a week of three
shifts a day), each after 5% of the patients changed, by printing only the
changes: a ward's changes PDF under 2 s, and the pages that saves. It prints
the ward packs' pages per patient (issue 29: at most 2.5).

    .venv/bin/python bench/packs.py [--wards 42] [--beds 24] [--clinics 20]
        [--jobs 2] [--shifts 21]

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first, and a temporary
DATA_DIR for the packs.
"""

import argparse
import datetime as dt
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MR_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
sys.path.insert(0, str(REPO / "bench"))
from mirror_load import prepare_database  # noqa: E402


def render_all(
    jobs: int, label: str, which: str = "--all", *, quiet: bool = False, **env: str
) -> None:
    """``render_packs`` in a process of its own, as an operator runs it: the
    peak memory is then that of a rendering process, not of this one."""
    from printouts.models import Pack

    before = Pack.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.perf_counter()
    output = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "manage.py", "render_packs", which, "--jobs", str(jobs)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "LANGUAGE_CODE": "en", **env},
    ).stdout
    seconds = time.perf_counter() - started
    found = re.search(r"rendering process: (\d+) MB", output)
    peak = float(found[1]) if found else 0.0  # nothing was rendered
    # The command's own time, without Python's and Django's start-up: what a
    # running worker takes.
    work = float(re.search(r"packs in ([\d.]+) s", output)[1])
    rendered = list(Pack.objects.filter(pk__gt=before, status=Pack.Status.READY))
    pages = sum(pack.page_count for pack in rendered)
    failed = Pack.objects.filter(pk__gt=before, status=Pack.Status.FAILED).count()
    if not rendered:  # a small run's refresh within PACK_DEBOUNCE_SECONDS
        print(f"{label:<24} nothing due (PACK_DEBOUNCE_SECONDS holds the refresh)")
        return
    if failed:
        raise SystemExit(f"{label}: {failed} packs failed")
    if quiet:
        return
    print(
        f"{label:<24} {len(rendered):>3} packs, {pages:>5} pages in "
        f"{work:6.1f} s ({seconds:.1f} s with start-up) = "
        f"{pages / work:5.1f} pages/s; peak memory per process "
        f"{peak:.0f} MB; failed {failed}"
    )


def pages_per_patient() -> None:
    """The ward packs' pages per patient: the patients' own pages, and with
    each ward's cover and census (issue 29: at most 2.5 with doses given and
    reports on them)."""
    from printouts.models import Pack

    ready = Pack.objects.filter(kind=Pack.Kind.WARD, status=Pack.Status.READY)
    pages = sections = patients = 0
    for pack in ready:
        pages += pack.page_count
        for entry in pack.index["patients"]:
            first, last = entry["pages"]
            sections += last - first + 1
            patients += 1
    patients = max(patients, 1)
    print(
        f"ward packs: {patients:,} patients, {sections / patients:.2f} pages each; "
        f"{pages / patients:.2f} with each ward's cover and census"
    )


def change_some(share: float, now: dt.datetime, seed: int = 7) -> int:
    """Give ``share`` of the inpatients (chosen by ``seed``) a new phone
    number, through the importer."""
    from patients.ingest.sources import from_resources
    from patients.models import Encounter
    from patients.services import fhir_load_import

    stays = Encounter.objects.on_census().select_related("patient")
    chosen = random.Random(seed).sample(list(stays), int(stays.count() * share))  # noqa: S311
    resources = [
        {
            "resourceType": "Patient",
            "id": stay.patient.source_id,
            "identifier": [
                {
                    "type": {"coding": [{"system": MR_TYPE, "code": "MR"}]},
                    "system": stay.patient.mrn_system,
                    "value": stay.patient.mrn,
                }
            ],
            "name": [{"family": stay.patient.family, "given": [stay.patient.given]}],
            "gender": stay.patient.sex,
            "birthDate": stay.patient.birth_date.isoformat(),
            "telecom": [{"system": "phone", "value": f"+32 2 {seed:03d} {n:04d}"}],
        }
        for n, stay in enumerate(chosen)
    ]
    summary = fhir_load_import(
        load=from_resources(resources, origin="bench"),
        feed="bench",
        replace_sets=False,
    )
    if summary.counts["Patient"]["updated"] != len(chosen):
        raise SystemExit(f"the change did not apply: {summary.as_dict()}")
    return len(chosen)


def load_hospital(options, now: dt.datetime) -> int:
    """The generated hospital (``options.wards``, ``beds``, ``clinics``), full,
    through the FHIR importer; how many inpatients it has."""
    from patients.demo.hospital import demo_hospital
    from patients.ingest.sources import from_resources
    from patients.models import Encounter
    from patients.services import fhir_load_import

    resources = demo_hospital(
        wards=options.wards,
        beds=options.beds,
        clinics=options.clinics,
        seed=1,
        now=now,
        occupancy=1.0,
    )
    fhir_load_import(load=from_resources(resources, origin="bench"), feed="bench")
    return Encounter.objects.on_census().count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=42)
    parser.add_argument("--beds", type=int, default=24)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--shifts", type=int, default=21)
    options = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-packs-")
    prepare_database()
    from printouts.models import Pack

    Pack.objects.all().delete()
    now = dt.datetime.now(dt.UTC)
    inpatients = load_hospital(options, now)
    print(
        f"{inpatients} inpatients on {options.wards} wards, {options.clinics} "
        f"clinics (lists for today and tomorrow), {options.jobs} processes"
    )
    render_all(options.jobs, "cold render")
    pages_per_patient()
    changed = change_some(0.05, now)
    # What the scheduler does next: the packs whose content changed, rendered
    # again (the others keep their file), the unchanged patients from the cache.
    render_all(options.jobs, f"after {changed} changed", "--due")
    time_transfer_summaries(count=20)
    print_shifts(options.jobs, options.shifts, now)


def time_transfer_summaries(*, count: int) -> None:
    """A patient's transfer summary, made on demand from the ward pack's
    cached section (goal: under 2 s each)."""
    from django.utils import timezone

    from patients.models import Encounter
    from printouts.services import transfer_summary_printable

    stays = Encounter.objects.on_census().select_related("ward").order_by("pk")
    times = []
    for stay in stays[:: max(1, stays.count() // count)][:count]:
        start = time.perf_counter()
        transfer_summary_printable(stay=stay, printed_by="bench", at=timezone.now())
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"transfer summary: {len(times)} patients, median "
        f"{times[len(times) // 2]:.2f} s, slowest {times[-1]:.2f} s"
    )


def print_shifts(jobs: int, shifts: int, now: dt.datetime) -> None:
    """Every ward's binder printed in full once, then at each shift only the
    pages that changed (after 5% of the patients changed and the packs due
    were rendered again): how long a ward's changes PDF takes, and the pages
    printed against reprinting every pack in full."""
    from django.contrib.auth.models import User

    from patients.models import Location
    from printouts.models import Pack, PackPrint
    from printouts.selectors import newest_ready, pack_print_last
    from printouts.services import changes_printable, pack_print_record

    clerk, _new = User.objects.get_or_create(username="bench-clerk")
    wards = Pack.objects.filter(kind=Pack.Kind.WARD).values("location")

    def packs() -> list[Pack]:
        return [
            pack
            for pack in newest_ready(locations=Location.objects.filter(pk__in=wards))
            if pack.kind == Pack.Kind.WARD
        ]

    def record(pack: Pack, kind: str, pages: int) -> None:
        pack_print_record(
            pack=pack, kind=kind, user=clerk, printed_by="bench", at=now, pages=pages
        )

    for pack in packs():
        record(pack, PackPrint.Kind.FULL, pack.page_count)
    full = changed = 0
    first, times = [], []
    for shift in range(shifts):
        change_some(0.05, now, seed=100 + shift)
        # Shifts come hours apart: no render is held back by the debounce.
        render_all(jobs, "", "--due", quiet=True, PACK_DEBOUNCE_SECONDS="0")
        for pack in packs():
            since = pack_print_last(location=pack.location)
            started = time.perf_counter()
            document = changes_printable(
                pack=pack, since=since, printed_by="bench", at=now
            )
            (first if shift == 0 else times).append(time.perf_counter() - started)
            full += pack.page_count
            if document is not None:
                changed += document.pages
                record(pack, PackPrint.Kind.CHANGES, document.pages)
        print(f"\rshift {shift + 1}/{shifts}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    first.sort()
    times = sorted(first + times)
    print(
        f"changes PDF after 5% changed: {len(first)} wards, median "
        f"{first[len(first) // 2]:.2f} s, slowest {first[-1]:.2f} s; over "
        f"{shifts} shifts median {times[len(times) // 2]:.2f} s, slowest "
        f"{times[-1]:.2f} s"
    )
    print(
        f"{shifts} shifts of 5% changed: {changed:,} pages printed as changes "
        f"against {full:,} in full ({100 - 100 * changed / full:.0f}% saved)"
    )


if __name__ == "__main__":
    main()
