"""A TCP proxy that delays every chunk of bytes, each way, by at least a
fixed time: a network between the listener and PostgreSQL on a machine whose
kernel cannot add one (no netem). For bench/mllp.py and bench/hl7_cpu.py's
``--db-latency-ms``; not for production.

    .venv/bin/python bench/lag_proxy.py PORT DELAY_MS [TARGET_HOST:PORT]

Runs in a process of its own, so that its work is not the measured
process's. Python's sleep overshoots by some tens of microseconds: a
round trip costs a little more than twice the delay.
"""

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def pump(source: socket.socket, target: socket.socket, delay: float) -> None:
    try:
        while data := source.recv(65536):
            time.sleep(delay)
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def serve(port: int, delay: float, target: tuple[str, int]) -> None:
    server = socket.create_server(("127.0.0.1", port), reuse_port=False)
    while True:
        client, _address = server.accept()
        upstream = socket.create_connection(target)
        for end in (client, upstream):
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for pair in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(*pair, delay), daemon=True).start()


def latency_option(parser: argparse.ArgumentParser) -> None:
    """A benchmark's ``--db-latency-ms``, for ``lagged``."""
    parser.add_argument(
        "--db-latency-ms",
        type=float,
        default=0,
        help="delay each way between the listener and PostgreSQL (bench/lag_proxy.py)",
    )


@contextlib.contextmanager
def lagged(url: str, delay_ms: float, port: int):
    """``url`` through a proxy delaying each way by ``delay_ms`` (0: ``url``
    itself)."""
    if not delay_ms:
        yield url
        return
    parts = urlsplit(url)
    target = f"{parts.hostname}:{parts.port or 5432}"
    proxy = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__)), str(port), str(delay_ms), target]
    )
    try:
        for _attempt in range(100):
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                break
            time.sleep(0.05)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{port}"
        yield urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )
    finally:
        proxy.terminate()
        proxy.wait()


if __name__ == "__main__":
    host, _, target_port = (
        sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:5432"
    ).rpartition(":")
    serve(int(sys.argv[1]), float(sys.argv[2]) / 1000, (host, int(target_port)))
