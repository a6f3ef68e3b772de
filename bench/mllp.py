"""The HL7 v2 listener under load: one connection, acknowledgement after commit.

Goals (issue 6), on this 2-core machine against PostgreSQL:
- at least 500 messages/s sustained over one connection, each acknowledged
  only after its commit (the sender waits for each ACK, as engines do);
- p99 acknowledgement latency under 20 ms at 100 messages/s (a large
  hospital's peak is about 50/s);
- a message visible in the mirror within 1 s of its acknowledgement.

The messages are a ward's daily mix on a generated 1,000-inpatient hospital:
admissions, updates, transfers, lab orders and their results.

    .venv/bin/python bench/mllp.py [--messages 5000] [--paced-seconds 30]
        [--db-latency-ms 0.15]  # PostgreSQL as if across a network

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench),
which it creates if missing and empties of mirror data first.
"""

import argparse
import contextlib
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from lag_proxy import lagged, latency_option  # noqa: E402
from mirror_load import (  # noqa: E402
    URL,
    free_port,
    prepare_database,
    process_cpu,
    vacuum,
)

START, END = b"\x0b", b"\x1c\r"


def messages(count: int, wards: list[str], first: int, rng: random.Random) -> list:
    """(control id, MRN, bytes): admissions, then updates, transfers, orders
    and results of the patients admitted so far."""
    made, admitted = [], []
    for number in range(first, first + count):
        control = f"B{number}"
        at = (
            dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC) + dt.timedelta(seconds=number)
        ).strftime("%Y%m%d%H%M%S")
        kind = rng.random()
        if not admitted or kind < 0.3:
            mrn = f"BM{number}"
            admitted.append((mrn, rng.choice(wards), number))
            segments = _adt("A01", mrn, admitted[-1][1], number, at)
        else:
            mrn, ward, visit = rng.choice(admitted)
            if kind < 0.5:
                segments = _adt("A08", mrn, ward, visit, at)
            elif kind < 0.6:
                segments = _adt("A02", mrn, rng.choice(wards), visit, at)
            elif kind < 0.8:
                segments = [
                    "ORM^O01^ORM_O01",
                    _pid(mrn),
                    f"ORC|NW|L{number}",
                    f"OBR|1|L{number}||2345-7^Glucose^LN|||{at}",
                ]
            else:
                segments = [
                    "ORU^R01^ORU_R01",
                    _pid(mrn),
                    f"OBR|1|L{number}||2345-7^Glucose^LN|||{at}||||||||||||||||||F",
                    f"OBX|1|NM|2345-7^Glucose^LN||{rng.uniform(3, 15):.1f}|mmol/L|"
                    "3.9-7.8|N|||F",
                ]
        kind_field, *rest = segments
        msh = (
            f"MSH|^~\\&|EHR|GENERAL|DOWNTIME|GENERAL|{at}||{kind_field}|{control}|P|2.5"
        )
        made.append((control, mrn, "\r".join([msh, *rest]).encode() + b"\r"))
    return made


def _pid(mrn: str) -> str:
    return f"PID|1||{mrn}^^^GENERAL^MR||BENCH^Patient {mrn}||19500101|F"


def _adt(trigger: str, mrn: str, ward: str, visit: int, at: str) -> list[str]:
    bed = f"{ward}^R{visit % 40}^B{visit}"
    return [
        f"ADT^{trigger}^ADT_A01",
        f"EVN|{trigger}|{at}",
        _pid(mrn),
        "|".join(["PV1", "1", "I", bed, *[""] * 15, f"V{visit}"]),
    ]


def exchange(connection: socket.socket, raw: bytes) -> bytes:
    connection.sendall(START + raw + END)
    reply = b""
    while not reply.endswith(END):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the listener closed the connection")
        reply += chunk
    return reply


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Cpu:
    """The CPU the listener and PostgreSQL use from now on (the database on
    this host: its backends are processes here)."""

    def __init__(self, listener: int) -> None:
        self.listener = listener
        with psycopg.connect(URL, autocommit=True) as admin:
            # The listener's connections open with its first message: those
            # of the bench database, once its startup is done, are all there
            # are besides this one.
            self.backends = [
                row[0]
                for row in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = "
                    "current_database() AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                )
            ]
        self.start = self._now()

    def _now(self) -> tuple[float | None, float | None]:
        backends = [process_cpu(pid, "postgres") for pid in self.backends]
        return (
            process_cpu(self.listener),
            None if None in backends or not backends else sum(backends),
        )

    def used(self, messages: int) -> str:
        (listener, database), (listener_0, database_0) = self._now(), self.start
        if listener is None or database is None:
            return "n/a (PostgreSQL not on this host)"
        return (
            f"listener {(listener - listener_0) / messages * 1000:.2f} ms, "
            f"PostgreSQL {(database - database_0) / messages * 1000:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--paced-seconds", type=int, default=30)
    parser.add_argument("--rate", type=int, default=100)
    latency_option(parser)
    options = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-hl7-")
    prepare_database()
    from patients.demo.hospital import demo_hospital
    from patients.ingest.sources import from_resources
    from patients.models import InboundMessage, Location
    from patients.services import fhir_load_import

    InboundMessage.objects.all().delete()
    vacuum(full=True)  # each run from the same start
    fhir_load_import(
        load=from_resources(
            demo_hospital(
                wards=42, beds=24, clinics=2, seed=1, now=dt.datetime.now(dt.UTC)
            ),
            origin="bench",
        ),
        feed="bench",
    )
    vacuum()
    wards = list(
        Location.objects.filter(kind=Location.Kind.WARD).values_list("name", flat=True)
    )
    rng = random.Random(6)  # noqa: S311 - a workload, not a secret
    port = free_port()
    lag = contextlib.ExitStack()
    database = lag.enter_context(lagged(URL, options.db_latency_ms, free_port()))
    if options.db_latency_ms:
        print(
            f"listener to PostgreSQL through a proxy delaying each way by "
            f"{options.db_latency_ms} ms"
        )
    listener = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "manage.py", "run_mllp", "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
    )
    try:
        for _attempt in range(300):
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                time.sleep(0.1)
        first, *burst = messages(1 + options.messages, wards, 0, rng)
        exchange(connection, first[2])  # the listener's database connection opens
        latencies, failed = [], 0
        cpu = Cpu(listener.pid)
        started = time.perf_counter()
        for _control, _mrn, raw in burst:
            sent = time.perf_counter()
            if b"MSA|AA|" not in exchange(connection, raw):
                failed += 1
            latencies.append(time.perf_counter() - sent)
        seconds = time.perf_counter() - started
        print(
            f"back to back  {len(burst)} messages in {seconds:.1f} s = "
            f"{len(burst) / seconds:.0f} messages/s over one connection; "
            f"ACK p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; not AA: {failed}"
        )
        print(f"              CPU a message: {cpu.used(len(burst))}")

        paced = messages(
            options.rate * options.paced_seconds, wards, 1 + options.messages, rng
        )
        latencies, failed, visible = [], 0, []
        reader = psycopg.connect(URL, autocommit=True)
        started = time.perf_counter()
        for index, (control, _mrn, raw) in enumerate(paced):
            due = started + index / options.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            if b"MSA|AA|" not in exchange(connection, raw):
                failed += 1
            acked = time.perf_counter()
            latencies.append(acked - sent)
            if index % 10 == 0:  # as another reader would see it
                while not reader.execute(
                    "SELECT 1 FROM patients_inboundmessage "
                    "WHERE control_id = %s AND status = 'applied'",
                    (control,),
                ).fetchone():
                    if time.perf_counter() - acked > 5:
                        break
                visible.append(time.perf_counter() - acked)
        reader.close()
        print(
            f"paced        {len(paced)} messages at {options.rate}/s: ACK p50 "
            f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 "
            f"{percentile(latencies, 0.99) * 1000:.1f} ms, max "
            f"{max(latencies) * 1000:.1f} ms; not AA: {failed}; visible to "
            f"another reader at most {max(visible) * 1000:.1f} ms after its ACK"
        )
        connection.close()
    finally:
        listener.terminate()
        listener.wait()
        lag.close()


if __name__ == "__main__":
    main()
