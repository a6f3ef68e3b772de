"""The clerk's page and the downloads: who may, what is logged, what is served."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Group, User
from django.db import DatabaseError, transaction
from django.urls import reverse

from accounts.models import AccessLog, WardMembership
from patients.models import Location
from printouts.models import Pack
from printouts.services import pack_path, pack_render, pack_request
from tests.patients.fhir import encounter, patient, ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.pdfs import page_texts

pytestmark = pytest.mark.django_db


def person(username: str, role: str | None, *wards: Location) -> User:
    user = User.objects.create_user(
        username, password="pw-long-enough-1", first_name="Marie", last_name="Dupont"
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    for ward in wards:
        WardMembership.objects.create(user=user, location=ward)
    return user


@pytest.fixture
def other_ward() -> Location:
    """A second ward, whose patients the clerk must not see."""
    load(
        [
            {**ward_with_beds("bed-9")[0], "id": "ward-b", "name": "WARD-B"},
            {**ward_with_beds("bed-9")[1], "partOf": {"reference": "Location/ward-b"}},
            ward_with_beds("bed-9")[2],
            patient("p9", mrn="MRN-9"),
            encounter("e9", "p9", bed="bed-9"),
        ]
    )
    return Location.objects.get(source_id="ward-b")


def ready(ward: Location) -> Pack:
    return pack_render(pack_id=pack_request(location=ward, reason="command").pk)


def test_a_clerk_sees_her_wards_packs_and_prints_one_stamped_with_her_name(
    client, small_ward, other_ward, django_assert_max_num_queries
):
    pack = ready(small_ward)
    ready(other_ward)
    client.force_login(person("marie", "clerk", small_ward))

    with django_assert_max_num_queries(12):
        page = client.get(reverse("printouts:packs"))
    assert page.status_code == 200
    assert small_ward.name in page.text
    assert "WARD-B" not in page.text
    assert "no-store" in page["Cache-Control"]

    answer = client.get(reverse("printouts:download", args=[pack.pk]))

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert "no-store" in answer["Cache-Control"]
    texts = page_texts(answer.content)
    assert len(texts) == pack.page_count
    assert all("Printed by Marie Dupont at" in text for text in texts)
    entry = AccessLog.objects.get()
    assert (entry.username, entry.action, entry.outcome) == (
        "marie",
        "download",
        "allowed",
    )
    assert entry.roles == "clerk"
    assert sorted(entry.patients) == sorted(pack.patients)
    assert entry.address == "127.0.0.1"


def test_another_wards_pack_is_not_found_like_a_pack_that_does_not_exist(
    client, small_ward, other_ward
):
    theirs = ready(other_ward)
    client.force_login(person("marie", "clerk", small_ward))

    assert (
        client.get(reverse("printouts:download", args=[theirs.pk])).status_code == 404
    )
    assert client.get(reverse("printouts:download", args=[99999])).status_code == 404
    labels = reverse("printouts:labels", args=[other_ward.pk])
    assert client.get(labels).status_code == 404
    # Each attempt is logged as denied, with nothing of the other ward in it.
    denied = AccessLog.objects.order_by("pk")
    assert [(e.action, e.outcome) for e in denied] == [
        ("download", "denied"),
        ("download", "denied"),
        ("labels", "denied"),
    ]
    assert all(not entry.patients for entry in denied)


def test_it_sees_every_ward_and_a_user_without_a_role_sees_nothing(
    client, small_ward, other_ward
):
    pack = ready(other_ward)
    client.force_login(person("it-admin", "it"))
    assert client.get(reverse("printouts:download", args=[pack.pk])).status_code == 200

    client.force_login(person("nobody", None, small_ward))
    assert client.get(reverse("printouts:packs")).status_code == 403
    assert client.get(reverse("printouts:download", args=[pack.pk])).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, small_ward):
    pack = ready(small_ward)
    for url in (
        reverse("printouts:packs"),
        reverse("printouts:download", args=[pack.pk]),
        reverse("printouts:zip"),
    ):
        answer = client.get(url)
        assert answer.status_code == 302
        assert answer.url.startswith(reverse("accounts:login"))


def test_a_damaged_file_is_never_served_and_a_new_render_is_queued(
    client, small_ward, django_capture_on_commit_callbacks
):
    pack = ready(small_ward)
    pack_path(pack).write_bytes(b"%PDF-1.7 tampered")
    client.force_login(person("marie", "clerk", small_ward))

    with django_capture_on_commit_callbacks() as queued:
        answer = client.get(reverse("printouts:download", args=[pack.pk]), follow=True)

    assert answer["Content-Type"].startswith("text/html")
    assert "damaged and was not served" in answer.text
    assert AccessLog.objects.get().outcome == "failed"
    assert (
        Pack.objects.filter(status=Pack.Status.QUEUED, reason="requested").count() == 1
    )
    assert len(queued) == 1


def test_a_clerk_asks_for_a_render_and_a_nurse_may_not(
    client, small_ward, django_capture_on_commit_callbacks
):
    url = reverse("printouts:render", args=[small_ward.pk])
    client.force_login(person("nina", "nurse", small_ward))
    assert client.post(url).status_code == 403

    client.force_login(person("marie", "clerk", small_ward))
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(url, follow=True)

    assert "is on its way" in answer.text
    pack = Pack.objects.get()
    assert (pack.status, pack.reason, pack.requested_by.username) == (
        "queued",
        "requested",
        "marie",
    )
    assert len(queued) == 1
    assert client.get(url).status_code == 405
    assert '<meta http-equiv="refresh"' in answer.text  # a render is under way


def test_all_packs_of_my_wards_come_as_one_zip(client, small_ward, other_ward):
    mine = [ready(small_ward), ready(other_ward)]
    client.force_login(person("marie", "clerk", small_ward, other_ward))

    answer = client.get(reverse("printouts:zip"))

    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert len(archive.namelist()) == 2
    for name in archive.namelist():
        assert "Printed by Marie Dupont" in page_texts(archive.read(name))[0]
    entry = AccessLog.objects.get()
    assert entry.action == "download_all"
    assert sorted(entry.patients) == sorted(p for pack in mine for p in pack.patients)


def test_labels_and_blank_forms_download(client, small_ward):
    client.force_login(person("nina", "nurse", small_ward))

    labels = client.get(reverse("printouts:labels", args=[small_ward.pk]))
    form = client.get(reverse("printouts:form", args=["order"]))

    assert len(page_texts(labels.content)) == 2
    assert AccessLog.objects.get().action == "labels"
    assert "Order sheet" in page_texts(form.content)[0]
    assert client.get(reverse("printouts:form", args=["nonsense"])).status_code == 404


def test_the_access_log_cannot_be_changed_or_deleted(client, small_ward):
    pack = ready(small_ward)
    client.force_login(person("marie", "clerk", small_ward))
    client.get(reverse("printouts:download", args=[pack.pk]))
    entry = AccessLog.objects.get()

    refused = "the access log is append-only: {} refused"
    with (
        pytest.raises(DatabaseError, match=refused.format("UPDATE")),
        transaction.atomic(),
    ):
        AccessLog.objects.filter(pk=entry.pk).update(outcome="denied")
    with (
        pytest.raises(DatabaseError, match=refused.format("DELETE")),
        transaction.atomic(),
    ):
        entry.delete()
    assert AccessLog.objects.get().outcome == "allowed"
