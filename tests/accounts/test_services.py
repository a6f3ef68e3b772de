import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, User
from django.test import RequestFactory

from accounts.models import Role
from accounts.selectors import user_roles
from accounts.services import demo_accounts_ensure

pytestmark = pytest.mark.django_db


def test_every_role_has_its_group_after_migrating():
    assert set(Group.objects.values_list("name", flat=True)) >= {r.value for r in Role}


def test_demo_accounts_are_one_per_role_and_sign_in_with_the_printed_password():
    credentials = demo_accounts_ensure()

    assert sorted(c.role for c in credentials) == sorted(Role)
    for credential in credentials:
        user = authenticate(
            RequestFactory().post("/accounts/login/"),
            username=credential.username,
            password=credential.password,
        )
        assert user is not None
        assert user_roles(user=user) == [credential.role]
        assert user.password.startswith("argon2")
    assert User.objects.get(username="it").is_staff
    assert not User.objects.get(username="nurse").is_staff


def test_demo_accounts_keep_their_passwords_unless_reset():
    first = {c.username: c.password for c in demo_accounts_ensure()}

    assert demo_accounts_ensure() == []
    assert (
        authenticate(
            RequestFactory().post("/accounts/login/"),
            username="clerk",
            password=first["clerk"],
        )
        is not None
    )

    reset = {c.username: c.password for c in demo_accounts_ensure(reset_passwords=True)}
    assert (
        authenticate(
            RequestFactory().post("/accounts/login/"),
            username="clerk",
            password=first["clerk"],
        )
        is None
    )
    assert (
        authenticate(
            RequestFactory().post("/accounts/login/"),
            username="clerk",
            password=reset["clerk"],
        )
        is not None
    )
