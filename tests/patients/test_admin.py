"""What IT sees of the mirror in the admin: feeds, the quarantine and the
HL7 inbox, read-only, with replay actions; no patient records, and the raw
content of what is held only on a page of its own, logged."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts.models import AccessLog
from accounts.services import demo_accounts_ensure
from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import (
    Allergy,
    FeedState,
    InboundMessage,
    Patient,
    QuarantinedResource,
)
from tests.patients.fhir import allergy, patient, write_ndjson
from tests.patients.hl7 import adt, wards
from tests.printouts.test_views import person

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
    assert "broken reference" in page.text
    assert "Penicillin" not in page.text  # on the raw page only


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


# The raw content of held messages and resources: patient data, logged.


@pytest.fixture
def inbound() -> InboundMessage:
    """An admission as the listener stores it: PID names PEETERS, MRN-1."""
    wards("WARD-A")
    hl7_receive(raw=adt("A01", "C1", place="WARD-A^R1^B1"), peer="127.0.0.1:5000")
    return InboundMessage.objects.get()


@dataclass(frozen=True)
class Kept:
    """A held row, where the admin shows it, and what must show only on its
    raw page."""

    row: InboundMessage | QuarantinedResource
    admin: str  # the admin's URL names begin so
    button: str
    patient_data: tuple[str, ...]

    def url(self, page: str) -> str:
        return reverse(f"{self.admin}_{page}", args=[self.row.pk])


@pytest.fixture(params=["inbound", "held"])
def kept(request) -> Kept:
    row = request.getfixturevalue(request.param)
    if request.param == "inbound":
        return Kept(
            row,
            "admin:patients_inboundmessage",
            "Show the raw message (this is logged in the access log)",
            ("PEETERS", "MRN-1", "19500312"),
        )
    return Kept(
        row,
        "admin:patients_quarantinedresource",
        "Show the raw resource (this is logged in the access log)",
        ("Penicillin",),
    )


def test_lists_and_pages_of_held_data_show_what_it_is_but_no_patient_data(
    it_client, kept, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        listing = it_client.get(reverse(f"{kept.admin}_changelist"))
    page = it_client.get(kept.url("change"))

    assert listing.status_code == page.status_code == 200
    assert listing.context["cl"].result_count == 1
    for text in kept.patient_data:
        assert text not in listing.text
        assert text not in page.text
    assert kept.button in page.text
    assert f'formaction="{kept.url("raw")}"' in page.text
    assert not AccessLog.objects.exists()  # nothing of a patient was shown


def test_it_reads_a_raw_hl7_message_and_the_look_is_logged_with_its_patient(
    it_client, inbound
):
    answer = it_client.post(
        reverse("admin:patients_inboundmessage_raw", args=[inbound.pk])
    )

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    assert "PID|1||MRN-1^^^GENERAL^MR||PEETERS^Anaïs" in answer.text
    entry = AccessLog.objects.get()
    assert (entry.username, entry.roles, entry.outcome) == ("it", "it", "allowed")
    assert entry.action == AccessLog.Action.HL7_MESSAGE
    assert entry.target == f"inbound message {inbound.pk}"
    assert entry.patients == [Patient.objects.get(mrn="MRN-1").pk]
    assert f"(entry {entry.pk})" in answer.text


def test_it_reads_a_quarantined_resource_and_the_look_is_logged_with_its_patient(
    it_client, held, tmp_path
):
    call_command("import_fhir", str(write_ndjson(tmp_path / "p", [patient("p1")])))

    answer = it_client.post(
        reverse("admin:patients_quarantinedresource_raw", args=[held.pk])
    )

    assert answer.status_code == 200
    assert "Penicillin" in answer.text
    entry = AccessLog.objects.get()
    assert (entry.username, entry.outcome) == ("it", "allowed")
    assert entry.action == AccessLog.Action.QUARANTINED
    assert entry.target == f"quarantined resource {held.pk}"
    assert entry.patients == [Patient.objects.get(source_id="p1").pk]


def test_opening_the_raw_page_by_its_address_shows_nothing_until_the_click(
    it_client, kept
):
    answer = it_client.get(kept.url("raw"))
    assert answer.status_code == 302
    assert answer.url == kept.url("change")
    assert not AccessLog.objects.exists()


def test_no_audit_row_no_raw_content(it_client, kept):
    """PostgreSQL refuses the access log row: the content is not sent."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_access_log() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the access log is unavailable'; END $$;
            CREATE TRIGGER test_refuse_access_log BEFORE INSERT ON accounts_accesslog
                FOR EACH ROW EXECUTE FUNCTION test_refuse_access_log();
            """
        )
    it_client.raise_request_exception = False

    answer = it_client.post(kept.url("raw"))

    assert answer.status_code == 500
    for text in kept.patient_data:
        assert text not in answer.text
    assert not AccessLog.objects.exists()


def test_staff_without_the_it_role_are_refused_and_the_refusal_logged(client, kept):
    admin = person("sam", None)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)

    page = client.get(kept.url("change"))
    answer = client.post(kept.url("raw"))

    assert page.status_code == 200
    assert kept.button not in page.text
    assert answer.status_code == 404
    for text in kept.patient_data:
        assert text not in answer.text
    entry = AccessLog.objects.get()
    assert (entry.username, entry.outcome) == ("sam", "denied")
    assert entry.target.endswith(f" {kept.row.pk}")
    assert entry.patients == []


def test_a_nurse_never_reaches_the_raw_page(client, kept):
    demo_accounts_ensure()
    client.force_login(User.objects.get(username="nurse"))
    answer = client.post(kept.url("raw"))
    assert answer.status_code == 302
    assert answer.url.startswith(reverse("admin:login"))
