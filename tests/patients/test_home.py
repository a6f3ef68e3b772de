import html
import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.services import demo_accounts_ensure
from patients.models import Encounter, Location

pytestmark = pytest.mark.django_db


@pytest.fixture
def passwords():
    return {c.username: c.password for c in demo_accounts_ensure()}


def sign_in(client, username: str, passwords: dict) -> None:
    """Through the sign-in page, as a person does (and as django-axes needs)."""
    response = client.post(
        reverse("accounts:login"),
        {"username": username, "password": passwords[username]},
    )
    assert response.status_code == 302, response.content


def test_a_signed_out_visitor_gets_the_sign_in_form_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'action="/accounts/login/"' in response.content
    assert "no-store" in response["Cache-Control"]


def test_signing_in_leads_home_showing_the_role(client, passwords):
    response = client.post(
        reverse("accounts:login"),
        {"username": "clerk", "password": passwords["clerk"]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("patients:home")
    assert b"<strong>Ward clerk</strong>" in response.content
    assert b"Administration" not in response.content


def test_a_wrong_password_says_so_and_signs_nobody_in(client, passwords):
    response = client.post(
        reverse("accounts:login"), {"username": "clerk", "password": "wrong"}
    )
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_it_staff_see_the_administration_link(client, passwords):
    sign_in(client, "it", passwords)
    response = client.get(reverse("patients:home"))
    assert b"Administration" in response.content


def test_signing_out_takes_a_post_and_ends_the_session(client, passwords):
    sign_in(client, "nurse", passwords)
    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("language", "text"), [("fr", "Se connecter"), ("nl", "Aanmelden")]
)
def test_pages_speak_the_browser_language(client, language, text):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert text in response.content.decode()


def census_by_ward() -> dict[str, int]:
    """Counted from the encounters, independently of the page's selector."""
    counts: dict[str, int] = {}
    for stay in Encounter.objects.on_census():
        counts[stay.ward.name] = counts.get(stay.ward.name, 0) + 1
    return counts


def test_home_shows_each_ward_with_its_patients_and_the_feeds(
    client, passwords, django_assert_max_num_queries
):
    call_command("seed_demo", "--wards", "3", "--beds", "6", stdout=io.StringIO())
    demo_accounts_ensure()  # the demo nurse joins the new wards
    sign_in(client, "nurse", passwords)

    with django_assert_max_num_queries(18):  # not one per ward or patient
        page = client.get(reverse("patients:home"))

    rows = re.findall(
        r"<td><a href=\"/wards/\d+/\">([^<]+)</a></td>\s*"
        r"<td class=\"number\">(\d+)</td>\s*<td class=\"number\">(\d+)</td>",
        page.text,
    )
    wards = Location.objects.filter(kind=Location.Kind.WARD)
    assert len(rows) == wards.count() == 3
    census = census_by_ward()
    for name, patients, beds in rows:
        assert int(patients) == census.get(html.unescape(name), 0)
        assert int(beds) == 6
    assert sum(census.values()) > 0
    assert "demo" in page.text
    assert "ago" in page.text


def test_an_empty_mirror_says_so_rather_than_showing_nothing(client, passwords):
    sign_in(client, "nurse", passwords)
    page = client.get(reverse("patients:home"))
    assert "You have no ward yet" in page.text
    assert "No feed has run yet." in page.text
