"""A ward station against a real server: gunicorn and a Celery worker serve a
hospital, the station program runs in subprocesses into a folder of its
own, then the server goes away and the ward opens and prints its packs."""

import contextlib
import hashlib
import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import AccessLog
from downtime.models import Downtime
from downtime.selectors import downtime_final_set
from patients.demo.hospital import demo_hospital
from patients.ingest.sources import from_resources
from patients.models import Location
from patients.services import fhir_load_import
from printouts.models import Pack
from printouts.published import forms_publish
from printouts.services import pack_path, packs_due
from stations.services import station_create, station_revoke
from tests.processes import (
    VENV_BIN,
    app_env,
    hospital_served,
    spawn,
    stop,
    wait_for,
    web_server,
)

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-long-enough-1"
POLL = 5  # the station's check and downtime intervals in this test, seconds


def station(home: Path, *arguments: str, check: bool = True) -> str:
    """Run the station program once; its output."""
    done = subprocess.run(
        [str(VENV_BIN / "downtime-station"), "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{arguments}: {done.returncode}\n{done.stderr}")
    return done.stdout + done.stderr


def held_items(home: Path) -> set[str]:
    index = home / "index.json"
    return (
        {e["item"] for e in json.loads(index.read_text())} if index.exists() else set()
    )


def packs_held(home: Path) -> set[str]:
    return {item for item in held_items(home) if item.startswith("pack-")}


def render_every_pack(broker_url: str) -> None:
    """What the scheduler does every minute, sent to our worker's broker."""
    sender = Celery(broker=broker_url, set_as_current=False)
    for pack_id in packs_due():
        sender.send_task("printouts.tasks.render_pack", args=[pack_id])
    sender.close()
    wait_for(
        lambda: not Pack.objects.exclude(status=Pack.Status.READY).exists(),
        timeout=180,
        what="every pack rendered",
    )


def signed_in(base: str, username: str) -> httpx.Client:
    web = httpx.Client(base_url=base, timeout=30)
    answer = web.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": _csrf(web, "/accounts/login/"),
        },
    )
    assert answer.status_code == 302, answer.text[:2000]  # signed in, sent on
    return web


def _csrf(web: httpx.Client, path: str) -> str:
    page = web.get(path).text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def declare(web: httpx.Client) -> None:
    """As IT does it, on the downtime page."""
    answer = web.post(
        "/downtime/declare/",
        data={
            "kind": "unplanned",
            "reason": "Ransomware: servers going down",
            "systems": "",
            "expected_end": "",
            "password": PASSWORD,
            "csrfmiddlewaretoken": _csrf(web, "/downtime/"),
        },
    )
    assert answer.status_code == 302, answer.text[:2000]


@contextlib.contextmanager
def station_page(home: Path, log: Path) -> Iterator[str]:
    """``downtime-station open`` running; yields its page's address."""
    command = ["--home", str(home), "open", "--no-browser"]
    viewer = spawn(
        [str(VENV_BIN / "downtime-station"), *command], env=app_env(), log=log
    )
    try:
        wait_for(
            lambda: "http://" in log.read_text(),
            timeout=30,
            what="the station's page",
            process=viewer,
        )
        yield re.search(r"http://\S+", log.read_text()).group(0)
    finally:
        stop(viewer)


class Page:
    """The station's own page, as a browser signed in by name uses it."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.web = httpx.Client(timeout=30)
        assert "Who are you?" in self.web.get(url).text
        self.web.post(url + "name", data={"name": name})

    def list(self) -> str:
        return self.web.get(self.url).text

    def open(self, item: str) -> httpx.Response:
        return self.web.get(f"{self.url}open/{item}")

    def print(self, item: str) -> str:
        return self.web.post(f"{self.url}print/{item}", follow_redirects=True).text


@pytest.fixture
def hospital(transactional_db) -> list[Location]:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    resources = demo_hospital(wards=3, beds=4, seed=5, now=now, clinics=1)
    fhir_load_import(load=from_resources(resources, origin="t"), feed="demo")
    it = User.objects.create_user("ivan", password=PASSWORD)
    it.groups.add(Group.objects.get_or_create(name="it")[0])  # flushed by others
    return list(Location.objects.filter(kind=Location.Kind.WARD).order_by("name"))


def test_a_ward_station_keeps_its_packs_and_prints_them_with_the_server_gone(
    tmp_path, test_database_url, hospital
):
    ward_a, ward_b, ward_c = hospital
    home = tmp_path / "station"
    printed = tmp_path / "printed.pdf"
    it = User.objects.get(username="ivan")
    ward_station, code = station_create(
        name="3rd floor PC", locations=[ward_a, ward_b], notes="", user=it
    )

    with hospital_served(
        tmp_path,
        database_url=test_database_url,
        STATION_CHECK_SECONDS=str(POLL),
        STATION_DOWNTIME_SECONDS=str(POLL),
    ) as served:
        base = served.base
        render_every_pack(served.broker_url)
        forms_publish()  # beat's tick does it; there is no beat here

        # Enrolled and synced, in a folder of its own.
        station(home, "enrol", base, code.lower())
        station(home, "sync")
        newest = {
            ward.pk: ward.packs.filter(status="ready").latest("generated_at")
            for ward in (ward_a, ward_b, ward_c)
        }
        assert packs_held(home) == {
            f"pack-{newest[ward_a.pk].pk}",
            f"pack-{newest[ward_b.pk].pk}",
        }
        kinds = sorted(item.split("-")[0] for item in held_items(home))
        assert kinds == ["form"] * 5 + ["labels"] * 2 + ["pack"] * 2
        token = json.loads((home / "station.json").read_text())["token"]
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        theirs = api.get(f"/station-api/v1/files/pack-{newest[ward_c.pk].pk}")
        assert theirs.status_code == 404

        # A downtime: the station runs, learns of it, holds the final set
        # within one poll of its being ready.
        runner = spawn(
            [str(VENV_BIN / "downtime-station"), "--home", str(home), "run"],
            env=app_env(),
            log=tmp_path / "station-run.log",
        )
        try:
            declare(signed_in(base, "ivan"))
            downtime = Downtime.objects.get()
            final = {
                pack.pk
                for pack in downtime_final_set(downtime=downtime).packs
                if pack.location_id in (ward_a.pk, ward_b.pk)
            }
            assert len(final) == 2, downtime_final_set(downtime=downtime).packs
            assert not {f"pack-{pk}" for pk in final} & packs_held(home)
            wait_for(
                lambda: (
                    Pack.objects.filter(pk__in=final, status="ready").count()
                    == len(final)
                ),
                timeout=120,
                what="the final set rendered",
            )
            ready_at = time.time()
            wait_for(
                lambda: {f"pack-{pk}" for pk in final} <= held_items(home),
                timeout=60,
                what="the station holding the final set (log: station-run.log)",
                process=runner,
            )
            took = time.time() - ready_at
            log = (tmp_path / "station-run.log").read_text()
            assert took < POLL * 1.1 + 5, f"{took:.1f} s; the station's log:\n{log}"
        finally:
            stop(runner)
        api.close()

    # The server, the network and the EHR are gone.
    station(home, "configure", "--print-command", f"cp {{file}} {printed}")
    with station_page(home, tmp_path / "open.log") as url:
        page = Page(url, "Nurse Jane Peeters")
        listing = page.list()
        assert ward_a.name in listing
        assert ward_b.name in listing
        assert ward_c.name not in listing
        assert "DOWNTIME declared" in listing
        assert listing.count("Ward pack") == 4  # two versions of each ward
        assert listing.count("Label sheets") == 2
        assert "Blank forms" in listing
        assert "Medication administration record" in listing

        final_a = Pack.objects.get(pk__in=final, location=ward_a)
        answer = page.print(f"pack-{final_a.pk}")
        assert "Sent to the printer" in answer
        assert printed.read_bytes() == pack_path(final_a).read_bytes()
        assert hashlib.sha256(printed.read_bytes()).hexdigest() == final_a.sha256

        # A byte changed on the station's disk: refused, and said why.
        final_b = Pack.objects.get(pk__in=final, location=ward_b)
        kept = next((home / "files").glob(f"pack-{final_b.pk}-*.bin"))
        blob = bytearray(kept.read_bytes())
        blob[len(blob) // 2] ^= 0x01
        kept.write_bytes(bytes(blob))
        refused = page.open(f"pack-{final_b.pk}")
        assert refused.status_code == 409
        assert "its file was changed on disk" in refused.text
        opened = page.open(f"pack-{final_a.pk}")
        assert opened.content == pack_path(final_a).read_bytes()

    # The server is back: the station's log reaches the access log.
    assert not AccessLog.objects.filter(station=ward_station, username__contains="Jane")
    again = web_server(
        env=served.env,
        log=tmp_path / "web-again.log",
        address=base.removeprefix("http://"),
    )
    with again:
        station(home, "sync")
        rows = AccessLog.objects.filter(station=ward_station).exclude(
            action=AccessLog.Action.STATION_DOWNLOAD
        )
        assert sorted((r.action, r.outcome, r.target) for r in rows) == [
            ("station_open", "allowed", f"pack-{final_a.pk}"),
            ("station_open", "failed", f"pack-{final_b.pk}"),
            ("station_print", "allowed", f"pack-{final_a.pk}"),
        ]
        assert {r.username for r in rows} == {"Nurse Jane Peeters"}

        # Revoked: its token gets 401, and the program says so.
        station_revoke(station=ward_station, user=it)
        said = station(home, "sync", check=False)
        assert "401" in said
        assert "enrol it again" in said


def test_the_station_refuses_plain_http_to_another_machine(tmp_path):
    said = station(
        tmp_path / "s", "enrol", "http://downtime.hospital.example", "CODE", check=False
    )
    assert "use https://" in said
    assert not (tmp_path / "s" / "station.json").exists()


def test_the_page_answers_only_on_its_secret_path_and_host(tmp_path):
    """Another local program or a web page cannot read it."""
    home = tmp_path / "s"
    home.mkdir()
    (home / "station.json").write_text(
        json.dumps(
            {
                "server": "https://x",
                "token": "t",
                "station_id": 1,
                "station_name": "PC",
                "trusted": {},
            }
        )
    )
    with station_page(home, tmp_path / "open.log") as url:
        root = urllib.parse.urlsplit(url)._replace(path="/").geturl()
        assert httpx.get(root).status_code == 404
        assert httpx.get(url).status_code == 200
        rebound = httpx.get(url, headers={"Host": "evil.example"})
        assert rebound.status_code == 404
