"""The 403, 404 and 500 pages: in the site's look, with the way home, and
saying no more than they should."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import AccessLog
from config.errors import server_error
from downtime.services import downtime_declare
from printouts.models import Pack
from tests.patients.test_pages import mrn, wards  # noqa: F401 - the fixture
from tests.printouts.test_views import person

HOME = f'<a href="{reverse("patients:home")}">Back to the home page</a>'


def main(text: str) -> str:
    """What the page says, without the header's form and its new token."""
    return text[text.index("<main") :]


@pytest.mark.django_db
def test_a_role_that_may_not_gets_the_sites_403_and_the_refusal_is_logged(
    client,
    wards,  # noqa: F811
):
    ward_a, _ward_b = wards
    downtime_declare(user=person("ivan", "it"), kind="unplanned", reason="Crash")
    client.force_login(person("claire", "clerk", ward_a))

    page = client.get(reverse("downtime:page"))

    text = page.content.decode()
    assert page.status_code == 403
    assert "Not open to you" in text
    assert HOME in text
    assert 'class="downtime-banner' in text  # the site's page, banner and all
    assert "Skip to content" in text
    refusal = AccessLog.objects.get(outcome=AccessLog.Outcome.DENIED)
    assert (refusal.username, refusal.target) == ("claire", reverse("downtime:page"))


@pytest.mark.django_db
def test_another_wards_patient_and_a_missing_one_get_the_same_404(
    client,
    wards,  # noqa: F811
):
    ward_a, _ward_b = wards
    client.force_login(person("anne", "nurse", ward_a))
    theirs = reverse("patients:patient", args=[mrn("MRN-9")])
    missing = reverse("patients:patient", args=[mrn("MRN-9") + 1000])

    pages = [client.get(theirs), client.get(missing)]

    assert [page.status_code for page in pages] == [404, 404]
    texts = [main(page.content.decode()) for page in pages]
    assert texts[0] == texts[1]
    assert "Page not found" in texts[0]
    assert HOME in texts[0]
    assert "/patients/" not in texts[0]  # the address is not echoed


@pytest.mark.django_db
@pytest.mark.urls("tests.config.failing_urls")
def test_a_bug_gets_the_sites_500_page_with_the_way_home(client):
    client.raise_request_exception = False

    page = client.get("/fail/")

    text = page.content.decode()
    assert page.status_code == 500
    assert "Something went wrong" in text
    assert "a bug" not in text
    assert HOME in text
    assert 'class="brand"' in text  # the site's header


def test_the_500_page_renders_without_the_database():
    """No database mark: any query raises, as when the database is gone."""
    request = RequestFactory().get("/patients/1/")

    page = server_error(request)

    assert page.status_code == 500
    assert "Something went wrong" in page.content.decode()
    assert HOME in page.content.decode()


@pytest.mark.django_db
def test_a_form_sent_without_its_token_gets_a_page_saying_what_to_do(
    wards,  # noqa: F811
):
    ward_a, _ward_b = wards
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person("claire", "clerk", ward_a))

    page = browser.post(reverse("printouts:render", args=[ward_a.pk]))

    text = page.content.decode()
    assert page.status_code == 403
    assert "The form was not sent" in text
    assert "Nothing was saved." in text
    assert HOME in text
    assert "Skip to content" in text  # the site's page
    assert "CSRF" not in main(text)  # Django's reason is for developers
    assert not Pack.objects.exists()
