"""Real servers for tests: a private Redis, a Celery worker, a web server.

Each is a context manager around a subprocess on 127.0.0.1 that yields once the
process answers, and stops it on exit, so a test can also stop one halfway.
"""

import contextlib
import dataclasses
import http.client
import http.server
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1"}


def missing(what: str) -> None:
    """A missing service fails the run in CI and skips the test elsewhere."""
    message = (
        f"{what} is not available; README.md (Running the tests) says how to "
        "get it, e.g. `docker compose -f compose.dev.yml up -d db redis`."
    )
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
) -> None:
    """Poll ``condition``; give up at once if ``process`` has died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} failed: exit status {process.returncode}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def app_env(**overrides: str) -> dict[str, str]:
    """The environment of an app process: this one's, plus ``overrides``."""
    # The app's own settings, not the tests' overlay.
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Redis of our own, so a test may stop it without harming others."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: _answers(port), timeout=10, what="Redis start", process=process
        )
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        stop(process)


def _answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")


@contextlib.contextmanager
def celery_worker(**options) -> Iterator[str]:
    """A real prefork worker process (``celery_worker_process``'s options);
    yields its node name once it answers pings."""
    with celery_worker_process(**options) as (node, _process):
        yield node


@contextlib.contextmanager
def celery_worker_process(
    *,
    broker_url: str,
    database_url: str,
    log: Path,
    queue: str = "celery",
    extra_env: dict[str, str] | None = None,
    concurrency: int = 1,
    node: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real prefork worker, named ``node`` (else a new name), in a process
    group of its own so that a test can kill it whole, children included
    (``os.killpg(process.pid, ...)``); yields its node name and its main
    process once it answers pings."""
    node = node or f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    env = app_env(
        CELERY_BROKER_URL=broker_url, DATABASE_URL=database_url, **(extra_env or {})
    )
    process = spawn(
        [
            str(VENV_BIN / "celery"),
            *["-A", "config", "worker", "--loglevel", "INFO"],
            *["--concurrency", str(concurrency)],
            *["--without-mingle", "--without-gossip"],
            *("--queues", queue, "--hostname", node),
        ],
        env=env,
        log=log,
        own_group=True,
    )
    probe = Celery(broker=broker_url, set_as_current=False)
    try:
        wait_for(
            lambda: probe.control.ping(destination=[node], timeout=0.5),
            timeout=60,
            what=f"Celery worker start (log: {log})",
            process=process,
        )
        yield node, process
    finally:
        probe.close()
        stop(process)


@contextlib.contextmanager
def celery_beat(
    *,
    broker_url: str,
    log: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """Celery beat with the project's schedule (config/celery.py), as the
    compose file runs it; its state file beside ``log``."""
    process = spawn(
        [
            str(VENV_BIN / "celery"),
            *["-A", "config", "beat", "--loglevel", "INFO"],
            *["--schedule", str(log.with_suffix(".schedule"))],
        ],
        env=app_env(CELERY_BROKER_URL=broker_url, **(extra_env or {})),
        log=log,
    )
    try:
        wait_for(
            lambda: b"beat: Starting" in log.read_bytes(),
            timeout=60,
            what=f"Celery beat start (log: {log})",
            process=process,
        )
        yield process
    finally:
        stop(process)


def spawn(
    command: list[str], *, env: dict[str, str], log: Path, own_group: bool = False
) -> subprocess.Popen:
    """Start an app process in the repository, its output going to ``log``
    (``own_group``: in a process group of its own)."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )


@contextlib.contextmanager
def serving(
    command_for: Callable[[str], list[str]],
    *,
    env: dict[str, str],
    log: Path,
    timeout: float = 60,
    host: str | None = None,
    address: str | None = None,
) -> Iterator[str]:
    """Serve the app with the command made for ``address`` (else a free one);
    yields its base URL.

    ``host`` is the Host header to probe it with (production refuses others).
    """
    address = address or f"127.0.0.1:{free_port()}"
    process = spawn(command_for(address), env=env, log=log)
    base = f"http://{address}"
    try:
        wait_for(
            lambda: get(f"{base}/health/live/", host=host)[0] == 200,
            timeout=timeout,
            what=f"server start (log: {log})",
            process=process,
        )
        yield base
    finally:
        stop(process)


def web_server(
    *,
    env: dict[str, str],
    log: Path,
    host: str | None = None,
    address: str | None = None,
) -> contextlib.AbstractContextManager:
    """gunicorn serving the app, as in production (on ``address``, e.g. the
    one a server stopped earlier had)."""
    return serving(
        lambda address: [
            str(VENV_BIN / "gunicorn"),
            *("config.wsgi", "--bind", address),
            *["--workers", "1", "--threads", "4"],
        ],
        env=env,
        log=log,
        host=host,
        address=address,
    )


@dataclasses.dataclass(frozen=True)
class Served:
    base: str  # gunicorn's base URL
    broker_url: str  # the worker's Redis
    env: dict[str, str]  # the web server's environment, to start it again


@contextlib.contextmanager
def hospital_served(
    tmp_path: Path, *, database_url: str, **settings: str
) -> Iterator[Served]:
    """The server as production runs it: a Redis of its own, a Celery worker
    and gunicorn, writing under ``tmp_path``; ``settings`` go to the web
    server's environment."""
    with redis_server(tmp_path) as (broker_url, _redis):
        env = app_env(
            CELERY_BROKER_URL=broker_url,
            DATABASE_URL=database_url,
            DATA_DIR=str(tmp_path),
            **settings,
        )
        with (
            celery_worker(
                broker_url=broker_url,
                database_url=database_url,
                log=tmp_path / "worker.log",
                extra_env={"DATA_DIR": str(tmp_path)},
            ),
            web_server(env=env, log=tmp_path / "web.log") as base,
        ):
            yield Served(base, broker_url, env)


PRODUCTION_HOST = "downtime.hospital.example"


def production_env(**overrides: str) -> dict[str, str]:
    """An app environment as docker-compose.yml and a filled-in .env make it."""
    return app_env(
        **{
            "PRODUCTION": "true",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": PRODUCTION_HOST,
            "DATABASE_URL": "postgres://downtime:pw@db:5432/downtime",
            "CELERY_BROKER_URL": "redis://redis:6379/0",
            **overrides,
        }
    )


def get(
    url: str, *, host: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Status and body of a GET (redirects not followed), error statuses included."""
    request = urllib.request.Request(
        url, headers={**({"Host": host} if host else {}), **(headers or {})}
    )
    try:
        with NO_REDIRECTS.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


@contextlib.contextmanager
def forwarding_proxy(upstream: str) -> Iterator[str]:
    """A reverse proxy in front of ``upstream`` (gunicorn's base URL) that
    does what README asks of the hospital's: it appends the address it was
    reached from to X-Forwarded-For, as nginx's
    ``$proxy_add_x_forwarded_for`` does. Yields its own base URL; clients
    bound to other loopback addresses (127.0.0.2...) are other computers."""
    target = urllib.parse.urlsplit(upstream)

    class Forward(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {
                k: v for k, v in self.headers.items() if k.lower() != "x-forwarded-for"
            }
            sent = self.headers.get("X-Forwarded-For")
            peer = self.client_address[0]
            headers["X-Forwarded-For"] = f"{sent}, {peer}" if sent else peer
            upstream = http.client.HTTPConnection(
                target.hostname, target.port, timeout=30
            )
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                content = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in (
                    "connection",
                    "transfer-encoding",
                    "content-length",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _forward

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
