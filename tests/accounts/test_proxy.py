"""Behind the hospital's TLS proxy, as README asks: gunicorn with a proxy in
front that appends X-Forwarded-For, and ward PCs on addresses of their own."""

import re

import httpx
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import AccessLog
from accounts.network import client_address
from patients.models import Location
from tests.patients.fhir import ward_with_beds
from tests.printouts.conftest import load
from tests.printouts.test_views import person
from tests.processes import app_env, forwarding_proxy, web_server

PASSWORD = "pw-long-enough-1"
LIMIT = 3


def computer(base: str, address: str) -> httpx.Client:
    """A browser on the PC with this (loopback) address."""
    return httpx.Client(
        base_url=base,
        timeout=30,
        transport=httpx.HTTPTransport(local_address=address),
    )


def sign_in(pc: httpx.Client, username: str, password: str, **headers) -> int:
    page = pc.get("/accounts/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    answer = pc.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
        },
        headers=headers,
    )
    return answer.status_code


def a_ward() -> Location:
    load(ward_with_beds("bed-1"))
    return Location.objects.get(kind=Location.Kind.WARD)


def nurse(ward: Location) -> None:
    Group.objects.get_or_create(name="nurse")  # flushed by other tests
    person("anne", "nurse", ward)


@pytest.fixture
def served(tmp_path, test_database_url):
    """The application behind one proxy; ``served(trusted)`` starts it."""

    def serve(trusted: int):
        env = app_env(
            DATABASE_URL=test_database_url,
            DATA_DIR=str(tmp_path),
            TRUSTED_PROXIES=str(trusted),
            LOGIN_FAILURE_LIMIT=str(LIMIT),
        )
        return web_server(env=env, log=tmp_path / "web.log")

    return serve


def test_wrong_passwords_on_one_pc_do_not_lock_the_account_on_another(served):
    ward = a_ward()
    nurse(ward)

    with served(1) as base, forwarding_proxy(base) as proxy:
        intruder = computer(proxy, "127.0.0.2")
        for _attempt in range(LIMIT - 1):
            assert sign_in(intruder, "anne", "wrong password") == 200
        assert sign_in(intruder, "anne", "wrong password") == 429
        assert sign_in(intruder, "anne", PASSWORD) == 429  # locked there

        # Anne at her own PC, which the intruder names in a header of its own.
        forger = computer(proxy, "127.0.0.4")
        for _attempt in range(LIMIT):
            sign_in(
                forger, "anne", "wrong password", **{"X-Forwarded-For": "127.0.0.3"}
            )
        nurses_pc = computer(proxy, "127.0.0.3")
        assert sign_in(nurses_pc, "anne", PASSWORD) == 302
        assert nurses_pc.get(reverse("patients:census", args=[ward.pk])).is_success

    entry = AccessLog.objects.get(action=AccessLog.Action.CENSUS)
    assert (entry.username, entry.address) == ("anne", "127.0.0.3")


def test_without_trusted_proxies_the_header_is_not_believed(served):
    ward = a_ward()
    nurse(ward)

    with served(0) as base, forwarding_proxy(base) as proxy:
        nurses_pc = computer(proxy, "127.0.0.3")
        assert sign_in(nurses_pc, "anne", PASSWORD) == 302
        nurses_pc.get(
            reverse("patients:census", args=[ward.pk]),
            headers={"X-Forwarded-For": "192.0.2.7"},
        )
        # Every PC is the proxy's address: one PC's failures lock them all.
        intruder = computer(proxy, "127.0.0.2")
        for _attempt in range(LIMIT):
            sign_in(intruder, "anne", "wrong password")
        assert sign_in(computer(proxy, "127.0.0.5"), "anne", PASSWORD) == 429

    assert AccessLog.objects.get(action=AccessLog.Action.CENSUS).address == "127.0.0.1"


@pytest.mark.parametrize(
    ("trusted", "forwarded", "address"),
    [
        (1, "198.51.100.4", "198.51.100.4"),
        (1, "203.0.113.9, 198.51.100.4", "198.51.100.4"),  # the left one forged
        (2, "203.0.113.9, 198.51.100.4, 10.0.0.2", "198.51.100.4"),
        (1, "198.51.100.4:51234", "198.51.100.4"),
        (1, "[2001:db8::7]:51234", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
        (2, "198.51.100.4", "10.0.0.1"),  # not through both proxies
        (1, "unknown", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (0, "198.51.100.4", "10.0.0.1"),
    ],
)
def test_the_client_address_is_read_from_the_trusted_proxies_end(
    rf, settings, trusted, forwarded, address
):
    settings.TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == address
