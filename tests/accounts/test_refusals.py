"""Every refusal is written to the access log: a page of the wrong role, and
another ward's pack render or worklist item, as well as another ward's
patient."""

import pytest
from django.urls import reverse

from accounts.models import AccessLog
from downtime.models import WorklistItem
from downtime.services import downtime_declare
from tests.patients.test_pages import mrn, wards  # noqa: F401 - the fixture
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db


def refusals() -> list[tuple[str, str, str, str]]:
    return list(
        AccessLog.objects.filter(outcome=AccessLog.Outcome.DENIED)
        .order_by("pk")
        .values_list("username", "roles", "action", "target")
    )


def test_a_clerk_refused_a_patient_page_is_logged(client, wards):  # noqa: F811
    ward_a, _ward_b = wards
    client.force_login(person("claire", "clerk", ward_a))
    page = reverse("patients:patient", args=[mrn("MRN-4711")])

    assert client.get(page).status_code == 403
    assert client.get(reverse("downtime:page")).status_code == 403

    assert refusals() == [
        ("claire", "clerk", "patient", page),
        ("claire", "clerk", "page", reverse("downtime:page")),
    ]


def test_a_render_of_another_wards_pack_is_refused_and_logged(client, wards):  # noqa: F811
    ward_a, ward_b = wards
    client.force_login(person("claire", "clerk", ward_a))

    answer = client.post(reverse("printouts:render", args=[ward_b.pk]))

    assert answer.status_code == 404
    assert refusals() == [("claire", "clerk", "render", f"location {ward_b.pk}")]


def test_another_wards_worklist_item_is_refused_and_logged(client, wards):  # noqa: F811
    ward_a, _ward_b = wards
    downtime = downtime_declare(user=person("ivan", "it"), kind="unplanned", reason="X")
    theirs = WorklistItem.objects.get(
        downtime=downtime, worklist="nursing", mrn="MRN-9"
    )
    client.force_login(person("anne", "nurse", ward_a))

    answer = client.post(reverse("downtime:worklist-done", args=[theirs.pk]))

    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.done_at is None
    assert refusals() == [("anne", "nurse", "worklist", f"worklist item {theirs.pk}")]
