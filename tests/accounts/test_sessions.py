"""Sign-in on a shared ward computer: throttling, idle timeout, lifetime."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from accounts.middleware import SEEN, STARTED
from tests.printouts.test_views import person

pytestmark = pytest.mark.django_db
PASSWORD = "pw-long-enough-1"  # person()'s


def sign_in(client, password: str = PASSWORD):
    return client.post(
        reverse("accounts:login"), {"username": "anne", "password": password}
    )


def test_repeated_failures_lock_the_sign_in_until_the_cool_off_ends(client, settings):
    person("anne", "nurse")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong").status_code == 200
    assert sign_in(client, "wrong").status_code == 429

    locked = sign_in(client)  # even the right password now

    assert locked.status_code == 429
    assert "Sign-in locked" in locked.content.decode()
    assert "Try again in 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # The cool-off passes.
    AccessAttempt.objects.update(
        attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    )
    assert sign_in(client).status_code == 302
    assert "_auth_user_id" in client.session


def test_another_computer_is_not_locked_out_by_someone_elses_failures(client, settings):
    person("anne", "nurse")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    response = client.post(
        reverse("accounts:login"),
        {"username": "anne", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.7",
    )
    assert response.status_code == 302


def age(client, **minutes) -> None:
    session = client.session
    for key, value in minutes.items():
        session[key] = session[key] - value * 60
    session.save()


def test_a_session_idle_too_long_ends_and_the_sign_in_page_says_why(client):
    person("anne", "nurse")
    sign_in(client)
    assert client.get(reverse("patients:home")).status_code == 200
    age(client, **{SEEN: 16})

    response = client.get(reverse("patients:home"), follow=True)

    assert response.redirect_chain[0][0].startswith(reverse("accounts:login"))
    assert "signed out after 15 minutes without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_activity_keeps_a_session_only_until_its_maximum_lifetime(client):
    person("anne", "nurse")
    sign_in(client)
    age(client, **{SEEN: 14, STARTED: 11 * 60})
    assert client.get(reverse("patients:home")).status_code == 200  # still on
    age(client, **{STARTED: 61})

    response = client.get(reverse("patients:home"), follow=True)

    assert "a session lasts at most 12 hours" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_disabling_an_account_cuts_its_open_sessions(client):
    anne = person("anne", "nurse")
    sign_in(client)
    anne.is_active = False
    anne.save()
    response = client.get(reverse("patients:home"))
    assert "Sign in" in response.content.decode()
    assert (
        "_auth_user_id" not in client.session
        or not response.context["user"].is_authenticated
    )


def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy


def test_activity_is_stamped_once_a_minute_not_on_every_page(client):
    """A session row is written at most once a minute, yet every minute of
    activity counts against the idle limit."""
    person("anne", "nurse")
    sign_in(client)
    first = client.session[SEEN]
    client.get(reverse("patients:home"))
    assert client.session[SEEN] == first  # seconds later: not written again
    age(client, **{SEEN: 2})
    client.get(reverse("patients:home"))
    assert client.session[SEEN] > first - 60  # a minute on: stamped anew
