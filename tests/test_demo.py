"""`make demo`'s path: embedded defaults (SQLite, inline tasks), no servers.

CI runs on PostgreSQL and Redis; this keeps the demo from rotting unseen.
"""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from tests.processes import REPO, app_env, serving

CREDENTIAL = re.compile(r"user (\w+)\s+password (\S+)")
ENROL = re.compile(r"^\s+(\S+downtime-station --home \S+ enrol \S+ \S+)$", re.M)


@pytest.fixture
def demo_env(tmp_path):
    return app_env(DATA_DIR=str(tmp_path), DATABASE_URL="", CELERY_BROKER_URL="")


def manage(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_serves_the_site_and_its_printed_accounts_sign_in(demo_env, tmp_path):
    log = tmp_path / "demo.log"
    demo = serving(
        lambda address: [sys.executable, "manage.py", "demo", "--addrport", address],
        env=demo_env,
        log=log,
        timeout=300,  # the hospital is loaded and every pack rendered first
    )
    with demo as base:
        printed = dict(CREDENTIAL.findall(log.read_text()))
        assert set(printed) == {"nurse", "clerk", "it"}

        browser = Browser(base)
        assert browser.get("/")[0] == 200
        ready = json.loads(browser.get("/health/ready/")[1])
        assert ready["status"] == "ok"
        assert ready["tasks"] == "inline"

        page = browser.sign_in("nurse", printed["nurse"])
        assert "Welcome, Demo Nurse" in page
        assert "<strong>Nurse</strong>" in page

        # The clerk finds every ward's pack ready, and prints one.
        browser.sign_in("clerk", printed["clerk"])
        packs = browser.get("/packs/")[1]
        links = re.findall(r'href="(/packs/\d+\.pdf)"', packs)
        assert len(links) >= 8 + 4  # eight wards, four clinics today
        status, pdf = browser.get(links[0], text=False)
        assert status == 200
        assert pdf.startswith(b"%PDF")

        # The one command the demo prints enrols and syncs its ward station,
        # and readiness then shows every ward held by it.
        enrol = ENROL.search(log.read_text()).group(1)
        done = subprocess.run(
            enrol.split(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        it = Browser(base)
        it.sign_in("it", printed["it"])
        status, body = it.get("/downtime/readiness.json")
        wards = [p for p in json.loads(body)["places"] if p["kind"] == "ward"]
        assert len(wards) == 8
        assert {p["station"]["level"] for p in wards} == {"fresh"}
        assert all(p["station"]["holds_newest"] for p in wards)
    assert (tmp_path / "db.sqlite3").exists()


def test_demo_prints_passwords_only_when_it_makes_them(demo_env):
    first = manage(demo_env, "demo", "--no-serve")
    again = manage(demo_env, "demo", "--no-serve")
    reset = manage(demo_env, "demo", "--no-serve", "--reset-passwords")

    assert len(CREDENTIAL.findall(first.stdout)) == 3, first.stderr
    assert CREDENTIAL.findall(again.stdout) == []
    assert "Demo accounts exist already" in again.stdout
    assert len(CREDENTIAL.findall(reset.stdout)) == 3


def test_tasks_run_inline_on_embedded_defaults(demo_env):
    manage(demo_env, "migrate", "--no-input")
    ran = manage(
        demo_env,
        "shell",
        "--no-imports",
        "-c",
        "from downtime.tasks import heartbeat; "
        "from downtime.models import Heartbeat; "
        "pk = heartbeat.delay().get(); print(Heartbeat.objects.get(pk=pk).name)",
    )
    assert ran.stdout.strip() == "scheduler", ran.stderr


def test_demo_refuses_to_run_in_production(demo_env):
    refused = manage(
        {
            **demo_env,
            "PRODUCTION": "true",
            "SECRET_KEY": "k" * 30 + "abcdefghij" * 3,
            "ALLOWED_HOSTS": "x",
            "DATABASE_URL": "postgres://u@127.0.0.1:1/x",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        },
        "demo",
        "--no-serve",
    )
    assert refused.returncode != 0
    assert "never runs with PRODUCTION=true" in refused.stderr


class Browser:
    """Just enough of a browser to sign in: cookies and the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, *, text: bool = True) -> tuple[int, str | bytes]:
        with self.opener.open(self.base + path, timeout=30) as response:
            body = response.read()
            return response.status, body.decode() if text else body

    def sign_in(self, username: str, password: str) -> str:
        form = self.get("/accounts/login/")[1]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            self.base + "/accounts/login/",
            data=data,
            headers={"Referer": self.base + "/accounts/login/"},
        )
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()
