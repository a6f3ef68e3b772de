import pytest
from django.urls import reverse

from accounts.services import demo_accounts_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def passwords():
    return {c.username: c.password for c in demo_accounts_ensure()}


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
    client.login(username="it", password=passwords["it"])
    response = client.get(reverse("patients:home"))
    assert b"Administration" in response.content


def test_signing_out_takes_a_post_and_ends_the_session(client, passwords):
    client.login(username="nurse", password=passwords["nurse"])
    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("language", "text"), [("fr", "Se connecter"), ("nl", "Aanmelden")]
)
def test_pages_speak_the_browser_language(client, language, text):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert text in response.content.decode()
