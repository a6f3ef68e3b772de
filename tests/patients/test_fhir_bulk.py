"""`manage.py pull_fhir --bulk`: a Bulk Data export ($export) from a real
FHIR server that implements it (sekmet-fhir on 127.0.0.1), kicked off,
polled, downloaded and imported; the next export asks for what changed
since the last one's transactionTime; a server that cannot export the
group asked for is pulled by search instead, and says so."""

import contextlib
import gzip
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from patients.models import FeedState, Patient
from patients.services import feed_pull_lock, fhir_server_pull
from tests.patients.fhir import (
    BUNDLES,
    fhir_request,
    sekmet_load,
    sekmet_server,
    serving,
)
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.django_db

CURSOR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SHARED = ("hospitalInformation", "practitionerInformation")
PATIENT_BUNDLES = sorted(
    p for p in BUNDLES.glob("*.json") if not p.name.startswith(SHARED)
)[:3]


@pytest.fixture(scope="module")
def ehr(tmp_path_factory) -> Iterator[str]:
    with sekmet_server(tmp_path_factory.mktemp("ehr")) as base:
        shared = [p for p in BUNDLES.glob("*.json") if p.name.startswith(SHARED)]
        sekmet_load(base, [*shared, *PATIENT_BUNDLES])
        yield base


def pull(base: str, *options: str) -> str:
    out = io.StringIO()
    call_command("pull_fhir", "--base-url", base, *options, stdout=out)
    return out.getvalue()


def server_patients(base: str) -> list[dict]:
    found = fhir_request("GET", f"{base}/Patient?_count=1000")
    return [entry["resource"] for entry in found.get("entry", [])]


def test_a_bulk_pull_exports_downloads_and_imports_everything(ehr, settings, client):
    output = pull(ehr, "--bulk", "--full")

    assert "Pulled by Bulk Data export:" in output
    assert Patient.objects.count() == len(server_patients(ehr)) == 3
    state = FeedState.objects.get(name="fhir-pull")
    assert (state.way, state.last_error) == ("bulk", "")
    assert CURSOR.match(state.cursor)  # the export's transactionTime
    assert state.last_export["transaction_time"]
    assert state.last_export["files"] > 3
    assert state.last_export["bytes"] > 0
    # The files held patient data: gone once imported.
    assert not any((settings.DATA_DIR / "bulk").glob("*"))
    # The feeds page says how the feed was read, and what the export was.
    client.force_login(User.objects.create_user("it", password="x"))
    page = client.get(reverse("patients:home")).text
    assert "fhir-pull (Bulk Data export)" in page
    when = timezone.localtime(state.export_finished_at).strftime("%Y-%m-%d %H:%M")
    assert f"{when}: {state.last_export['files']} files" in page


def test_the_next_export_asks_for_what_changed_since_the_last(ehr):
    pull(ehr, "--bulk", "--full")
    first = FeedState.objects.get(name="fhir-pull").cursor
    patient = server_patients(ehr)[0]
    phone = f"+32 2 555 {uuid.uuid4().int % 10**6:06d}"
    patient["telecom"] = [{"system": "phone", "value": phone, "use": "home"}]
    fhir_request("PUT", f"{ehr}/Patient/{patient['id']}", patient)

    output = pull(ehr, "--bulk")

    row = [line.split() for line in output.splitlines() if line.startswith("Patient ")]
    # Only the changed patient came: 1 updated, nothing else of that type.
    assert row == [["Patient", "0", "1", "0", "0", "0", "0", "0"]]
    assert Patient.objects.get(source_id=patient["id"]).phone == phone
    assert FeedState.objects.get(name="fhir-pull").cursor > first


def test_a_group_the_server_does_not_have_is_pulled_by_search_and_says_so(ehr):
    output = pull(ehr, "--bulk", "--group", "no-such-group", "--full")

    assert "The server has no group no-such-group to export (HTTP 404" in output
    assert "Pulled by search instead." in output
    assert Patient.objects.count() == 3
    assert FeedState.objects.get(name="fhir-pull").way == "search"


class Faults:
    """What the proxy did, and to do: a 429 on the first kick-off, a 503 on
    the first status poll, files gzipped, and a manifest that also lists a
    deletion and an error, as the Bulk Data IG allows."""

    def __init__(self, upstream: str, deleted_id: str, **breaks: bool) -> None:
        self.upstream = upstream.rsplit("/fhir", 1)[0]
        self.deleted_id = deleted_id
        self.seen: list[tuple[str, str, int]] = []  # method, path, status
        self.kick_offs = self.polls = self.gzipped = 0
        # A server that refuses _since; one whose export expires.
        self.no_since = breaks.get("no_since", False)
        self.expires = breaks.get("expires", False)


def operation_outcome(text: str) -> bytes:
    issue = {"severity": "error", "code": "not-supported", "diagnostics": text}
    return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()


@contextlib.contextmanager
def faulty_proxy(
    upstream: str, deleted_id: str = "", **breaks: bool
) -> Iterator[tuple[str, Faults]]:
    faults = Faults(upstream, deleted_id, **breaks)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            path = self.path
            mine = f"http://127.0.0.1:{self.server.server_port}"
            if "$export" in path:
                faults.kick_offs += 1
                if faults.no_since and "_since=" in path:
                    return self._answer(
                        method, 400, operation_outcome("_since is not supported")
                    )
                if faults.kick_offs == 1:
                    return self._answer(method, 429, b"", {"Retry-After": "1"})
            if faults.expires and "/bulk-status/" in path and method == "GET":
                return self._answer(method, 404, operation_outcome("export expired"))
            if "/bulk-status/" in path and method == "GET":
                faults.polls += 1
                if faults.polls == 1:
                    return self._answer(method, 503, b"")
                if faults.polls == 2:  # still at work, it says
                    progress = {"X-Progress": "half way", "Retry-After": "1"}
                    return self._answer(method, 202, b"", progress)
            if path.endswith("/extra/deleted.ndjson"):
                bundle = {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        {
                            "request": {
                                "method": "DELETE",
                                "url": f"Patient/{faults.deleted_id}",
                            }
                        }
                    ],
                }
                return self._answer(method, 200, json.dumps(bundle).encode() + b"\n")
            if path.endswith("/extra/errors.ndjson"):
                outcome = {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "processing"}],
                }
                return self._answer(method, 200, json.dumps(outcome).encode() + b"\n")
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers.pop("Accept-Encoding", None)
            request = urllib.request.Request(
                faults.upstream + path, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, body, got = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, body, got = error.code, error.read(), error.headers
            body = body.replace(faults.upstream.encode(), mine.encode())
            extra = {}
            if location := got.get("Content-Location"):
                extra["Content-Location"] = location.replace(faults.upstream, mine)
            for name in ("Retry-After", "X-Progress"):
                if got.get(name):
                    extra[name] = got[name]
            if "/bulk-status/" in path and status == 200:
                manifest = json.loads(body)
                manifest["deleted"] = [
                    {"type": "Bundle", "url": f"{mine}/fhir/extra/deleted.ndjson"}
                ]
                manifest["error"] = [
                    {
                        "type": "OperationOutcome",
                        "url": f"{mine}/fhir/extra/errors.ndjson",
                    }
                ]
                body = json.dumps(manifest).encode()
            if "/bulk-files/" in path and "gzip" in self.headers.get(
                "Accept-Encoding", ""
            ):
                body = gzip.compress(body)
                extra["Content-Encoding"] = "gzip"
                faults.gzipped += 1
            return self._answer(method, status, body, extra)

        def _answer(self, method, status, body, headers=None) -> None:
            faults.seen.append((method, self.path, status))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as base:
        yield base, faults


def test_429_and_5xx_are_waited_out_gzip_is_read_and_deletions_applied(ehr):
    gone = server_patients(ehr)[0]["id"]
    shown, said = [], []
    with faulty_proxy(ehr, gone) as (base, faults):
        # What the command puts on its progress bar (status) and prints.
        fhir_server_pull(
            feed="fhir-pull",
            base_url=base,
            full=True,
            bulk=True,
            status=shown.append,
            notice=said.append,
        )
    output = "\n".join(said)

    statuses = [(method, status) for method, _path, status in faults.seen]
    assert statuses[:2] == [("GET", 429), ("GET", 202)]  # kick-off, again
    assert ("GET", 503) in statuses  # a status poll, tried again
    assert faults.gzipped > 3  # every output file, read gunzipped
    # Done with, the export is deleted on the server.
    assert faults.seen[-1][0] == "DELETE"
    assert "/bulk-status/" in faults.seen[-1][1]
    assert "The server reported 1 error in its export" in output
    assert "half way" in shown  # the server's X-Progress
    assert Patient.objects.count() == 2
    assert not Patient.objects.filter(source_id=gone).exists()


def test_a_server_that_cannot_export_changes_since_is_pulled_by_search(ehr):
    pull(ehr, "--bulk", "--full")
    with faulty_proxy(ehr, no_since=True) as (base, _faults):
        output = pull(base, "--bulk")

    assert "cannot export what changed since a time (_since" in output
    assert "Pulled by search instead." in output
    state = FeedState.objects.get(name="fhir-pull")
    assert (state.way, state.last_error) == ("search", "")


def test_an_export_that_fails_is_cancelled_and_the_resume_point_stays(ehr):
    pull(ehr, "--bulk", "--full")
    before = FeedState.objects.get(name="fhir-pull").cursor
    with (
        faulty_proxy(ehr, expires=True) as (base, faults),
        pytest.raises(CommandError, match="export failed \\(HTTP 404: export expired"),
    ):
        pull(base, "--bulk")

    assert faults.seen[-1][0] == "DELETE"
    state = FeedState.objects.get(name="fhir-pull")
    assert state.cursor == before
    assert "export expired" in state.last_error


def test_the_scheduled_export_runs_one_at_a_time(ehr, settings):
    """An export still running when the next is due (another worker holds
    the feed) is left to finish; the next one runs."""
    from patients.tasks import pull_fhir_bulk

    settings.FHIR_BASE_URL = ehr
    holding, release = threading.Event(), threading.Event()

    def another_worker() -> None:
        with feed_pull_lock("fhir-pull") as mine:
            assert mine
            holding.set()
            release.wait(30)
        connections.close_all()  # this thread's own

    worker = threading.Thread(target=another_worker)
    worker.start()
    try:
        assert holding.wait(30)
        assert pull_fhir_bulk() == "the previous export is still running"
        assert not FeedState.objects.filter(name="fhir-pull").exists()
    finally:
        release.set()
        worker.join()

    assert pull_fhir_bulk() == "done"
    assert FeedState.objects.get(name="fhir-pull").way == "bulk"
    assert Patient.objects.count() == 3


def test_beat_schedules_the_export_only_when_it_is_set():
    def schedule(minutes: str) -> dict:
        shown = subprocess.run(  # the beat schedule as a new process reads it
            [
                sys.executable,
                "-c",
                "import json; from config.celery import app; "
                "print(json.dumps(app.conf.beat_schedule.get('pull-fhir-bulk')))",
            ],
            env={**os.environ, "FHIR_BULK_EVERY_MINUTES": minutes},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(shown.stdout)

    assert schedule("0") is None
    entry = schedule("30")
    assert entry["task"] == "patients.tasks.pull_fhir_bulk"
    assert entry["schedule"] == 1800.0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_scheduled_export(
    ehr, redis_url, test_database_url, tmp_path
):
    env = {"FHIR_BASE_URL": ehr, "DATA_DIR": str(tmp_path / "worker")}
    log = tmp_path / "worker.log"
    with celery_worker(
        broker_url=redis_url, database_url=test_database_url, log=log, extra_env=env
    ):
        sender = Celery(broker=redis_url, set_as_current=False)
        sender.send_task("patients.tasks.pull_fhir_bulk")
        sender.close()
        wait_for(
            lambda: FeedState.objects.filter(name="fhir-pull", way="bulk").exists(),
            timeout=60,
            what=f"the scheduled export (log: {log})",
        )

    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_error == ""
    assert Patient.objects.count() == 3


def test_a_patient_level_export_brings_the_patients_compartments(ehr):
    output = pull(ehr, "--bulk", "--patients", "--full")

    assert "Pulled by Bulk Data export:" in output
    assert Patient.objects.count() == 3
    assert FeedState.objects.get(name="fhir-pull").way == "bulk"


def test_feeds_cut_during_an_export_cancel_it_and_keep_the_resume_point(ehr):
    from downtime.services import downtime_declare
    from patients.services import FeedsIsolated
    from tests.printouts.test_views import person

    pull(ehr, "--bulk", "--full")
    before = FeedState.objects.get(name="fhir-pull").cursor

    def attack_noticed(text: str) -> None:
        if text == "half way":  # while the server exports
            downtime_declare(
                user=person("ivan", None),
                kind="unplanned",
                reason="attack",
                isolate_feeds=True,
            )

    with (
        faulty_proxy(ehr) as (base, faults),
        pytest.raises(FeedsIsolated, match="isolated during the pull"),
    ):
        fhir_server_pull(
            feed="fhir-pull", base_url=base, bulk=True, status=attack_noticed
        )

    assert faults.seen[-1][0] == "DELETE"  # the export, cancelled on the server
    assert not [path for _m, path, _s in faults.seen if "/bulk-files/" in path]
    state = FeedState.objects.get(name="fhir-pull")
    assert state.cursor == before
    assert "isolated during the pull" in state.last_error


def test_a_group_id_that_is_not_a_fhir_id_is_refused_before_asking(ehr):
    with pytest.raises(CommandError, match="--group takes a Group's id"):
        pull(ehr, "--bulk", "--group", "../Patient")
    assert not FeedState.objects.exists()
