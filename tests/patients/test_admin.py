"""What IT sees of the mirror in the admin: feeds and the quarantine,
read-only, with a replay action; no patient records."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.services import demo_accounts_ensure
from patients.models import Allergy, FeedState, QuarantinedResource
from tests.patients.fhir import allergy, patient, write_ndjson

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(tmp_path) -> QuarantinedResource:
    """An allergy whose patient is not in the mirror yet, from the lab feed."""
    export = write_ndjson(tmp_path / "a", [allergy("a1", "p1", "Penicillin")])
    with pytest.raises(CommandError):
        call_command("import_fhir", str(export), "--feed", "lab-feed")
    return QuarantinedResource.objects.get()


@pytest.fixture
def it_client(client):
    demo_accounts_ensure()
    client.force_login(User.objects.get(username="it"))
    return client


def test_it_finds_a_quarantined_resource_by_feed_and_reads_why_and_what(
    it_client, held
):
    listing = it_client.get(
        reverse("admin:patients_quarantinedresource_changelist"),
        {"feed": "lab-feed"},
    )
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert "AllergyIntolerance" in listing.text
    assert "Patient/p1 is not in the mirror" in listing.text
    other_feed = it_client.get(
        reverse("admin:patients_quarantinedresource_changelist"),
        {"feed": "fhir-pull"},
    )
    assert other_feed.context["cl"].result_count == 0

    page = it_client.get(
        reverse("admin:patients_quarantinedresource_change", args=[held.pk])
    )
    assert page.status_code == 200
    assert "Penicillin" in page.text  # the raw resource, as received
    assert "broken reference" in page.text


def test_the_quarantine_and_the_feeds_are_read_only(it_client, held):
    url = reverse("admin:patients_quarantinedresource_change", args=[held.pk])
    assert it_client.post(url, {"reason": "edited"}).status_code == 403
    delete = reverse("admin:patients_quarantinedresource_delete", args=[held.pk])
    assert it_client.post(delete, {"post": "yes"}).status_code == 403
    held.refresh_from_db()
    assert held.reason.endswith("(broken reference)")
    assert FeedState.objects.filter(name="lab-feed").exists()
    assert (
        it_client.get(reverse("admin:patients_feedstate_changelist")).status_code == 200
    )


def test_replay_from_the_admin_applies_what_is_now_resolvable(
    it_client, held, tmp_path
):
    call_command("import_fhir", str(write_ndjson(tmp_path / "p", [patient("p1")])))

    answer = it_client.post(
        reverse("admin:patients_quarantinedresource_changelist"),
        {"action": "replay", "_selected_action": [held.pk]},
        follow=True,
    )

    assert "1 resource applied, 0 still held." in answer.text
    held.refresh_from_db()
    assert held.status == QuarantinedResource.Status.REPLAYED
    assert Allergy.objects.get().substance == "Penicillin"


def test_patient_records_are_not_in_the_admin(it_client):
    assert it_client.get("/admin/patients/patient/").status_code == 404
    assert it_client.get("/admin/patients/medicationorder/").status_code == 404


def test_a_nurse_cannot_open_the_quarantine(client, held):
    demo_accounts_ensure()
    client.force_login(User.objects.get(username="nurse"))
    answer = client.get(reverse("admin:patients_quarantinedresource_changelist"))
    assert answer.status_code == 302
    assert answer.url.startswith(reverse("admin:login"))
