"""Where an HL7 message's time goes: the listener's work without its socket.

bench/mllp.py's message mix applied one after another in this process, as
a listener worker thread applies them (store, apply, acknowledge), with no
MLLP socket or thread hand-over. Prints, per message, the wall time, this
process's CPU time and the CPU time of the PostgreSQL backend serving it
(read from /proc: the database must run on this host). Wall time near the
sum of the two CPU times means the round trips cost little and the work
itself is what to cut; CPU times vary less between runs than throughput.

    .venv/bin/python bench/mllp.py            # loads the hospital first
    .venv/bin/python bench/hl7_cpu.py [--messages 3000] [--db-latency-ms 0.15]
    .venv/bin/python bench/hl7_cpu.py --instructions [--messages 1000]

``--instructions`` counts instead this process's instructions a message,
under valgrind's callgrind: slow (minutes), but the same on every run, where
this machine's times may vary by half between runs of the same code.

Uses BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/downtime_bench).
"""

import argparse
import atexit
import contextlib
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from lag_proxy import lagged, latency_option  # noqa: E402
from mirror_load import URL, free_port, process_cpu  # noqa: E402
from mllp import messages  # noqa: E402


def backend_cpu(pid: int) -> float | None:
    """Seconds of CPU the PostgreSQL backend ``pid`` has used; None when it
    is not a process of this host."""
    return process_cpu(pid, "postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    latency_option(parser)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count this process's instructions a message instead, under "
        "valgrind's callgrind (minutes): the same on every run, where times vary",
    )
    parser.add_argument("--only-apply", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.instructions:
        instructions(options.messages)
        return
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-hl7-cpu-")
    lag = contextlib.ExitStack()
    atexit.register(lag.close)
    # As bench/mllp.py left it: not emptied.
    os.environ["DATABASE_URL"] = lag.enter_context(
        lagged(URL, options.db_latency_ms, free_port())
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.db import connection

    from patients.ingest.hl7v2.inbox import hl7_receive
    from patients.models import Location

    wards = list(
        Location.objects.filter(kind=Location.Kind.WARD).values_list("name", flat=True)
    )
    if not wards:
        sys.exit("No wards: run bench/mllp.py first, it loads the hospital.")
    logging.disable(logging.INFO)
    connection.close()
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    # New control ids and patients each run: nothing is a duplicate.
    first = int(time.time()) % 10_000_000 * 10
    rng = random.Random(6)  # noqa: S311 - a workload, not a secret
    count = options.messages if options.only_apply is None else options.only_apply
    made = messages(100 + count, wards, first, rng)
    for _control, _mrn, raw in made[:100]:  # warm: statements prepared
        hl7_receive(raw=raw, peer="bench")
    timed = made[100:]
    if options.only_apply is not None:  # counted from outside (instructions)
        for _control, _mrn, raw in timed:
            hl7_receive(raw=raw, peer="bench")
        return
    wall, cpu, pg = time.perf_counter(), time.process_time(), backend_cpu(backend)
    refused = 0
    for _control, _mrn, raw in timed:
        if b"MSA|AA|" not in hl7_receive(raw=raw, peer="bench"):
            refused += 1
    wall = (time.perf_counter() - wall) / len(timed) * 1000
    cpu = (time.process_time() - cpu) / len(timed) * 1000
    after = backend_cpu(backend)
    server = (
        f"{(after - pg) / len(timed) * 1000:.2f} ms"
        if pg is not None and after is not None
        else "n/a (not on this host)"
    )
    print(
        f"{len(timed)} messages in one process: {1000 / wall:.0f} messages/s, "
        f"{wall:.2f} ms a message; CPU a message: this process {cpu:.2f} ms, "
        f"PostgreSQL {server}; not AA: {refused}"
    )


def instructions(count: int) -> None:
    """This script applying 100 warm-up messages, then with ``count`` more,
    each under callgrind: the difference, a message."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        sys.exit("--instructions needs valgrind (apt-get install valgrind).")
    collected = []
    for applied in (0, count):
        child = subprocess.run(  # noqa: S603 - our own script
            [
                valgrind,
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--only-apply",
                str(applied),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        collected.append(int(re.search(r"Collected : (\d+)", child.stderr)[1]))
    print(
        f"{count} messages in one process: "
        f"{(collected[1] - collected[0]) / count / 1e6:.2f} million instructions "
        "a message (callgrind; the listener's process, not PostgreSQL's)"
    )


if __name__ == "__main__":
    main()
