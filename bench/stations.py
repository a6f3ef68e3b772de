"""Ward stations: how fast a change reaches a ward's PC, and what 200
stations cost the server.

Goals (issue 21), on this 2-core machine:
- latency: from the ACK of an HL7 message that changes a patient to that
  ward's new pack verified on the station's disk, with the default
  intervals, p95 under 120 s (the goal: well under 60 s);
- load: 200 stations checking and reporting at the default intervals
  against one gunicorn (3 workers): manifest request p95 under 50 ms, and
  the server's CPU for it.

    .venv/bin/python bench/stations.py latency [--samples 20] [--wards 42]
    .venv/bin/python bench/stations.py load [--stations 200] [--seconds 300]

``latency`` runs the whole server as production does (Redis, a Celery
worker of 2 processes, beat with the project's schedule, gunicorn, the MLLP
listener) and one real station (`downtime-station run`) serving 4 wards;
each sample is an A08 renaming a patient of one of them, at a random moment
(5 to 30 s after the last sample was held), so that the phases of beat's
tick and of the station's checks fall where they may. ``load`` simulates
the stations with threads of this script that do what `downtime-station
run` does on the wire: a conditional manifest request every check interval
(with its jitter), a heartbeat every sync interval.

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))
from mirror_load import URL, prepare_database, process_cpu  # noqa: E402
from mllp import exchange, percentile  # noqa: E402

from tests.processes import (  # noqa: E402
    VENV_BIN,
    app_env,
    celery_worker,
    free_port,
    redis_server,
    spawn,
    stop,
    wait_for,
    web_server,
)

STATION_WARDS = 4
WEB_WORKERS = 3  # docker-compose.yml's default


def load_hospital(wards: int) -> list:
    """The generated hospital (25 patients a ward), loaded through FHIR."""
    from patients.demo.hospital import demo_hospital
    from patients.ingest.sources import from_resources
    from patients.models import Location
    from patients.services import fhir_load_import

    resources = demo_hospital(
        wards=wards, beds=24, clinics=2, seed=1, now=dt.datetime.now(dt.UTC)
    )
    fhir_load_import(load=from_resources(resources, origin="bench"), feed="bench")
    return list(Location.objects.filter(kind=Location.Kind.WARD).order_by("name"))


def bench_it():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="bench-it")[0]


def revoke_earlier_stations() -> None:
    """Earlier runs' stations are revoked and renamed (the access log keeps
    them, so they stay)."""
    from stations.models import Station
    from stations.services import station_revoke

    for old in Station.objects.filter(name__startswith="bench-"):
        station_revoke(station=old, user=bench_it())
        Station.objects.filter(pk=old.pk).update(name=f"old-{old.pk}-{old.name}")


def bench_station(name: str, places: list) -> str:
    """A station made as IT makes it; its enrolment code."""
    from stations.services import station_create

    _station, code = station_create(
        name=name, locations=places, notes="", user=bench_it()
    )
    return code


def held(home: Path) -> list[dict]:
    try:
        entries = json.loads((home / "index.json").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [json.loads(entry["statement"]) for entry in entries]


# Latency ---------------------------------------------------------------------


def latency(options) -> None:
    from printouts.models import Pack

    wards = load_hospital(options.wards)
    revoke_earlier_stations()
    mine = wards[:STATION_WARDS]
    tmp = Path(os.environ["DATA_DIR"])
    home = tmp / "station"
    code = bench_station("bench-latency", mine)
    with redis_server(tmp) as (broker_url, _redis):
        env = app_env(CELERY_BROKER_URL=broker_url, DATABASE_URL=URL, DATA_DIR=str(tmp))
        quiet = {**env, "LOG_LEVEL": "WARNING"}
        port = free_port()
        with (
            celery_worker(
                broker_url=broker_url,
                database_url=URL,
                log=tmp / "worker.log",
                extra_env={"DATA_DIR": str(tmp)},
                concurrency=2,
            ),
            web_server(env=quiet, log=tmp / "web.log") as base,
        ):
            processes = [
                spawn(
                    [
                        str(VENV_BIN / "celery"),
                        "-A",
                        "config",
                        "beat",
                        "--loglevel",
                        "WARNING",
                        "--schedule",
                        str(tmp / "beat-schedule"),
                    ],
                    env=env,
                    log=tmp / "beat.log",
                ),
                spawn(
                    [sys.executable, "manage.py", "run_mllp", "--port", str(port)],
                    env=quiet,
                    log=tmp / "mllp.log",
                ),
            ]
            try:
                print(f"rendering every pack of {len(wards)} wards first (cold)...")
                started = time.perf_counter()
                wait_for(
                    lambda: _all_ready(wards),
                    timeout=3600,
                    what="every ward's first pack",
                    process=processes[0],
                )
                print(f"  {time.perf_counter() - started:.0f} s")
                station = ["--home", str(home)]
                _station_command([*station, "enrol", base, code])
                processes.append(
                    spawn(
                        [str(VENV_BIN / "downtime-station"), *station, "run"],
                        env=app_env(),
                        log=tmp / "station.log",
                    )
                )
                samples = _samples(options, port, mine, home, Pack)
            finally:
                for process in processes:
                    stop(process)
    _report_latency(samples)


def _all_ready(wards: list) -> bool:
    from printouts.models import Pack

    ready = Pack.objects.filter(location__in=wards, status=Pack.Status.READY)
    return ready.values("location").distinct().count() == len(wards)


def _station_command(arguments: list[str]) -> None:
    """Run the station program once. Its first sync may refuse files whose
    copy on the server is gone (an earlier run's blank forms, kept in the
    database, their files in that run's folder): the server makes them again
    and `run` fetches them at its next checks."""
    import subprocess

    done = subprocess.run(  # noqa: S603 - our own program
        [str(VENV_BIN / "downtime-station"), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode not in (0, 1) or "Enrolled" not in done.stdout:
        raise RuntimeError(f"the station did not enrol: {done.stdout}{done.stderr}")


def _samples(options, port: int, mine: list, home: Path, pack_model) -> list[dict]:
    """Admit a patient to each of the station's wards, then rename one at a
    time and wait for the new pack on the station's disk."""
    rng = random.Random(21)  # noqa: S311 - a workload, not a secret
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    number = int(time.time())
    for index, ward in enumerate(mine):
        exchange(connection, _a0x("A01", number, index, ward.name, "ADMITTED"))
    samples = []
    for sample in range(options.samples):
        time.sleep(rng.uniform(5, 30))
        index = sample % len(mine)
        raw = _a0x("A08", number, index, mine[index].name, f"RENAMED{sample}")
        reply = exchange(connection, raw)
        acked = time.time()
        if b"MSA|AA|" not in reply:
            raise RuntimeError(f"A08 not applied: {reply!r}")
        item = _wait_held(home, mine[index].pk, acked)
        got = time.time()
        pack = pack_model.objects.get(pk=int(item.removeprefix("pack-")))
        published = (
            (Path(os.environ["DATA_DIR"]) / "packs" / "files" / pack.file_name)
            .stat()
            .st_mtime
        )
        samples.append(
            {
                "total": got - acked,
                "queued": pack.requested_at.timestamp() - acked,
                "render": published - pack.requested_at.timestamp(),
                "station": got - published,
            }
        )
        print(
            f"  sample {sample + 1:>2}: {got - acked:5.1f} s  (queued after "
            f"{samples[-1]['queued']:4.1f}, rendered in {samples[-1]['render']:4.1f}, "
            f"held {samples[-1]['station']:4.1f} s after publication)"
        )
    connection.close()
    return samples


def _a0x(trigger: str, number: int, index: int, ward: str, family: str) -> bytes:
    mrn = f"ST{number}-{index}"
    at = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|EHR|GENERAL|DOWNTIME|GENERAL|{at}||ADT^{trigger}^ADT_A01|"
        f"S{time.time_ns()}|P|2.5",
        f"EVN|{trigger}|{at}",
        f"PID|1||{mrn}^^^GENERAL^MR||{family}^Bench||19500101|F",
        "|".join(["PV1", "1", "I", f"{ward}^RB^B{index}", *[""] * 15, f"SV{mrn}"]),
    ]
    return "\r".join(segments).encode() + b"\r"


def _wait_held(home: Path, ward: int, acked: float) -> str:
    """The item of the ward's first pack rendered after ``acked`` that the
    station holds, verified."""
    from printouts.models import Pack

    deadline = time.time() + 600
    while time.time() < deadline:
        for about in held(home):
            if about["kind"] != "ward" or about["location"]["id"] != ward:
                continue
            pack = Pack.objects.filter(pk=int(about["item"].removeprefix("pack-")))
            started = pack.values_list("generated_at", flat=True).first()
            if started and started.timestamp() > acked:
                return about["item"]
        time.sleep(0.2)
    raise TimeoutError("the station did not hold the new pack within 10 minutes")


def _report_latency(samples: list[dict]) -> None:
    print(
        f"ACK to the new pack verified on the station's disk, {len(samples)} samples "
        "(default intervals: beat's pack tick 15 s, station checks 15 s ± 10%)"
    )
    for part in ("total", "queued", "render", "station"):
        values = [sample[part] for sample in samples]
        print(
            f"  {part:<8} p50 {percentile(values, 0.5):5.1f} s  p95 "
            f"{percentile(values, 0.95):5.1f} s  max {max(values):5.1f} s"
        )


# Load ----------------------------------------------------------------------


def load(options) -> None:
    from django.conf import settings

    from stations.services import station_enrol

    wards = load_hospital(options.wards)
    revoke_earlier_stations()
    tokens = []
    for number in range(options.stations):
        code = bench_station(f"bench-load-{number}", [wards[number % len(wards)]])
        tokens.append(station_enrol(code=code, address=None, version="bench")[1])
    _render_all(wards)
    tmp = Path(os.environ["DATA_DIR"])
    env = app_env(DATABASE_URL=URL, DATA_DIR=str(tmp), LOG_LEVEL="WARNING")
    with web_server(env=env, log=tmp / "web.log") as base:
        port = int(base.rsplit(":", 1)[1])
        gunicorn = _gunicorn_pids(port)
        timings: list[float] = []
        errors: list[str] = []
        until = time.monotonic() + options.seconds
        _warm_up(port, tokens[0])
        cpu_before = _cpu(gunicorn)
        database_before = _postgres_cpu()
        threads = [
            threading.Thread(
                target=_station,
                args=(port, token, until, settings, timings, errors),
            )
            for token in tokens
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        cpu = _cpu(gunicorn) - cpu_before
        database = _postgres_cpu() - database_before
    print(
        f"{options.stations} stations for {seconds:.0f} s against gunicorn "
        f"({WEB_WORKERS} workers), checking every {settings.STATION_CHECK_SECONDS} s "
        f"± 10%, reporting every {settings.STATION_SYNC_SECONDS} s"
    )
    print(
        f"  manifest {len(timings)} requests ({len(timings) / seconds:.1f}/s): "
        f"p50 {percentile(timings, 0.5) * 1000:.1f} ms  p95 "
        f"{percentile(timings, 0.95) * 1000:.1f} ms  p99 "
        f"{percentile(timings, 0.99) * 1000:.1f} ms  max {max(timings) * 1000:.1f} ms"
    )
    print(
        f"  gunicorn CPU {cpu:.1f} s in {seconds:.0f} s = {cpu / seconds * 100:.1f}% "
        f"of one core, {cpu / max(1, len(timings)) * 1000:.2f} ms a request "
        "(heartbeats included)"
    )
    print(
        f"  PostgreSQL CPU {database:.1f} s = {database / seconds * 100:.1f}% of one "
        f"core, {database / max(1, len(timings)) * 1000:.2f} ms a request"
    )
    print(f"  errors: {len(errors)}" + (f" {sorted(set(errors))}" if errors else ""))


def _render_all(wards: list) -> None:
    """Every pack and the blank forms, as the scheduler would have them."""
    import io

    from django.core.management import call_command

    print(f"rendering every pack of {len(wards)} wards first (cold)...")
    started = time.perf_counter()
    call_command("render_packs", "--all", "--jobs", "2", stdout=io.StringIO())
    print(f"  {time.perf_counter() - started:.0f} s")


def _gunicorn_pids(port: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"gunicorn" in part for part in command) and any(
                f"127.0.0.1:{port}".encode() in part for part in command
            ):
                pids.append(int(entry.name))
    return pids


def _cpu(pids: list[int]) -> float:
    return sum(process_cpu(pid) or 0.0 for pid in pids)


def _warm_up(port: int, token: str) -> None:
    """Every worker has loaded the app and opened its database connection
    (kept 60 s, CONN_MAX_AGE) before anything is measured."""
    for _request in range(WEB_WORKERS * 4):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "GET",
            "/station-api/v1/manifest",
            headers={"Authorization": f"Bearer {token}", "Host": "127.0.0.1"},
        )
        connection.getresponse().read()
        connection.close()


def _postgres_cpu() -> float:
    """Seconds of CPU every PostgreSQL process of this host has used, those
    that ended included (the postmaster's children's time): the web
    workers' connections are renewed every minute (CONN_MAX_AGE)."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            command, fields = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if "postgres" in command:
            utime, stime, cutime, cstime = fields.split()[11:15]
            total += int(utime) + int(stime) + int(cutime) + int(cstime)
    return total / os.sysconf("SC_CLK_TCK")


def _station(port, token, until, settings, timings, errors) -> None:
    """What `downtime-station run` does on the wire, without the downloads."""
    rng = random.Random(token)  # noqa: S311 - jitter, not secrecy
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}
    etag, holdings, reported = "", [], 0.0
    time.sleep(rng.uniform(0, settings.STATION_CHECK_SECONDS))  # not all at once
    while time.monotonic() < until:
        # A connection a request, as the station's own client makes them
        # (gunicorn's sync workers close each one anyway).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sent = time.perf_counter()
        try:
            connection.request(
                "GET",
                "/station-api/v1/manifest",
                headers={**headers, **({"If-None-Match": etag} if etag else {})},
            )
            response = connection.getresponse()
            body = response.read()
            timings.append(time.perf_counter() - sent)
            if response.status == 200:
                etag = response.getheader("ETag")
                holdings = [
                    {"item": item["item"], "sha256": item["sha256"]}
                    for item in json.loads(body)["items"]
                ]
            elif response.status != 304:
                errors.append(f"manifest {response.status}")
            if time.monotonic() - reported >= settings.STATION_SYNC_SECONDS:
                report = json.dumps({"version": "bench", "holdings": holdings})
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request(
                    "POST",
                    "/station-api/v1/heartbeat",
                    body=report,
                    headers={**headers, "Content-Type": "application/json"},
                )
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    errors.append(f"heartbeat {answer.status}")
                reported = time.monotonic()
        except (OSError, http.client.HTTPException) as error:
            errors.append(type(error).__name__)
        connection.close()
        time.sleep(settings.STATION_CHECK_SECONDS * rng.uniform(0.9, 1.1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True)
    first = commands.add_parser("latency")
    first.add_argument("--samples", type=int, default=20)
    first.add_argument("--wards", type=int, default=42)
    first.set_defaults(run=latency)
    second = commands.add_parser("load")
    second.add_argument("--stations", type=int, default=200)
    second.add_argument("--seconds", type=int, default=300)
    second.add_argument("--wards", type=int, default=42)
    second.set_defaults(run=load)
    options = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-stations-")
    prepare_database()
    options.run(options)


if __name__ == "__main__":
    main()
