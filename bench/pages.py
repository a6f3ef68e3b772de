"""The nurses' pages under load: 50 signed-in nurses against gunicorn.

Goal (issue 5), on this 2-core machine: the census of a 25-patient ward and a
patient page answer in under 100 ms at the 95th percentile, with 50 users
signed in at once, each clicking census, patient, census... with 2 to 8 s
between clicks (a nurse reads the page; a real ward is far slower). The app
runs as in production (gunicorn, 3 workers, PostgreSQL); the users are threads
of this script on the same machine, so their own time is in the figures too.

    .venv/bin/python bench/pages.py [--users 50] [--seconds 60] [--beds 25]

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first.
"""

import argparse
import datetime as dt
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from mirror_load import URL, free_port, prepare_database  # noqa: E402

WORKERS = 3  # docker-compose.yml's default
# Between two clicks a nurse reads: 2 to 8 s here, far busier than a ward.
THINK_SECONDS = (2.0, 8.0)


def sessions(users: int, wards: list) -> list[tuple[str, object]]:
    """``users`` nurses, each on one ward, signed in: (session cookie, ward)."""
    import time as clock

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.middleware import SEEN, STARTED
    from accounts.models import WardMembership

    # Kept from run to run: the access log refers to them, and is append-only.
    WardMembership.objects.filter(user__username__startswith="bench-nurse-").delete()
    nurses = Group.objects.get(name="nurse")
    signed_in = []
    for number in range(users):
        user, _created = User.objects.get_or_create(username=f"bench-nurse-{number}")
        user.groups.add(nurses)
        ward = wards[number % len(wards)]
        WardMembership.objects.create(user=user, location=ward)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session[STARTED] = session[SEEN] = clock.time()
        session.create()
        signed_in.append((session.session_key, ward))
    return signed_in


def nurse(port, cookie, census, patients, until, timings, errors) -> None:
    """Census, a patient, census, another patient... 2 to 8 s apart."""
    rng = random.Random(cookie)  # noqa: S311 - think times, not secrets
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": f"sessionid={cookie}", "Host": "127.0.0.1"}
    time.sleep(rng.uniform(0, THINK_SECONDS[1]))  # nurses do not start as one
    while time.monotonic() < until:
        for page, path in (
            ("census", census),
            ("patient", f"/patients/{rng.choice(patients)}/"),
        ):
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                errors.append(page)
                continue
            timings[page].append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(f"{page} {response.status}")
            time.sleep(rng.uniform(*THINK_SECONDS))
    connection.close()


def warm_up(port: int, cookie: str, path: str) -> None:
    """A few requests first, so that every worker has loaded the app."""
    for _request in range(WORKERS * 3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "GET", path, headers={"Cookie": f"sessionid={cookie}", "Host": "127.0.0.1"}
        )
        connection.getresponse().read()
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--wards", type=int, default=42)
    parser.add_argument("--beds", type=int, default=25)
    options = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-pages-")
    prepare_database()
    from patients.demo.hospital import demo_hospital
    from patients.ingest.sources import from_resources
    from patients.models import Encounter, Location
    from patients.services import fhir_load_import

    resources = demo_hospital(
        wards=options.wards,
        beds=options.beds,
        clinics=2,
        seed=1,
        now=dt.datetime.now(dt.UTC),
        occupancy=1.0,
    )
    fhir_load_import(load=from_resources(resources, origin="bench"), feed="bench")
    wards = list(Location.objects.filter(kind=Location.Kind.WARD).order_by("pk"))
    signed_in = sessions(options.users, wards)
    on_ward = {
        ward.pk: list(
            Encounter.objects.on_census()
            .filter(ward=ward)
            .values_list("patient_id", flat=True)
        )
        for ward in wards
    }
    size = statistics.mean(len(patients) for patients in on_ward.values())
    port = free_port()
    env = {**os.environ, "DATABASE_URL": URL}
    server = subprocess.Popen(  # noqa: S603 - our own command line
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("config.wsgi", "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(WORKERS)),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _attempt in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        warm_up(port, signed_in[0][0], f"/wards/{signed_in[0][1].pk}/")
        timings = {"census": [], "patient": []}
        errors: list[str] = []
        until = time.monotonic() + options.seconds
        threads = [
            threading.Thread(
                target=nurse,
                args=(
                    port,
                    cookie,
                    f"/wards/{ward.pk}/",
                    on_ward[ward.pk],
                    until,
                    timings,
                    errors,
                ),
            )
            for cookie, ward in signed_in
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait()
    print(
        f"{options.users} signed-in nurses for {options.seconds} s against gunicorn "
        f"({WORKERS} workers), wards of {size:.0f} patients"
    )
    for page, values in timings.items():
        values = sorted(values)
        rate = len(values) / options.seconds
        p50, p95, p99 = (values[int(len(values) * q)] * 1000 for q in (0.5, 0.95, 0.99))
        print(
            f"{page:<8} {len(values):>6} requests ({rate:5.1f}/s)  p50 {p50:6.1f} ms"
            f"  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  max {values[-1] * 1000:6.1f} ms"
        )
    print(f"errors: {len(errors)}" + (f" ({sorted(set(errors))})" if errors else ""))


if __name__ == "__main__":
    main()
