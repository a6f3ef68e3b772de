"""A web request's database work has time limits: a locked table answers a
page saying the database is busy, shows nothing, and frees the worker."""

import time

import psycopg
import pytest
from django.urls import reverse

from accounts.models import AccessLog
from config.errors import _time_limit
from patients.models import Location
from tests.accounts.test_proxy import PASSWORD, computer, nurse, sign_in
from tests.patients.fhir import encounter, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.processes import app_env, web_server


@pytest.mark.parametrize(
    "limits",
    [
        {"DB_WEB_LOCK_TIMEOUT": "1", "DB_WEB_STATEMENT_TIMEOUT": "60"},
        {"DB_WEB_LOCK_TIMEOUT": "0", "DB_WEB_STATEMENT_TIMEOUT": "1"},
    ],
    ids=["lock", "statement"],
)
def test_a_locked_access_log_answers_busy_and_shows_no_patient(
    tmp_path, test_database_url, limits
):
    load([*ward_with_beds("bed-1"), patient("p1"), encounter("e1", "p1", bed="bed-1")])
    ward = Location.objects.get(kind=Location.Kind.WARD)
    nurse(ward)
    census = reverse("patients:census", args=[ward.pk])
    env = app_env(DATABASE_URL=test_database_url, DATA_DIR=str(tmp_path), **limits)

    with web_server(env=env, log=tmp_path / "web.log") as base:
        pc = computer(base, "127.0.0.1")
        assert sign_in(pc, "anne", PASSWORD) == 302
        with psycopg.connect(test_database_url) as holder:
            holder.execute("LOCK TABLE accounts_accesslog IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            page = pc.get(census)
            waited = time.monotonic() - started
            # The worker is free again: the next page is answered too.
            assert pc.get(census).status_code == 503
        after = pc.get(census)

    assert page.status_code == 503, page.text[:500]
    assert page.headers["Retry-After"] == "30"
    assert "The database is busy" in page.text
    assert "PEETERS" not in page.text
    assert waited < 20  # not gunicorn's 30 s worker timeout
    assert after.status_code == 200
    assert "PEETERS" in after.text
    assert AccessLog.objects.filter(action=AccessLog.Action.CENSUS).count() == 1


def test_other_database_errors_are_not_called_busy():
    with (
        pytest.raises(psycopg.errors.DivisionByZero) as caught,
        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres") as db,
    ):
        db.execute("SELECT 1/0")

    assert not _time_limit(caught.value)
