"""Signing in to an EHR's FHIR API as a SMART Backend Services client,
against a real FHIR server that requires it (sekmet-fhir on 127.0.0.1):
the app's key, registered by its JWKS, gets a token, keeps it, renews it,
and a key the EHR does not hold is refused with a clear error."""

import http.server
import io
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from patients.ingest import smart
from patients.models import FeedState, Patient
from tests.patients.fhir import BUNDLES, sekmet_load, sekmet_server, serving
from tests.processes import free_port

pytestmark = pytest.mark.django_db

LOADER = "loader-token"  # the test's own way in, to load the server
LIFETIME = 4  # seconds an access token lasts on the server
ONE_PATIENT = sorted(BUNDLES.glob("*.json"))[:1]
SHARED = [
    path
    for path in BUNDLES.glob("*.json")
    if path.name.startswith(("hospitalInformation", "practitionerInformation"))
]


def keys_command(*options: str) -> str:
    out = io.StringIO()
    call_command("fhir_keys", *options, stdout=out)
    return out.getvalue()


def server_auth(our_jwks: dict, stranger_jwks: dict, lifetime: int) -> dict:
    """The EHR's side of the registration: ``downtime`` holds our public
    keys; ``stranger`` holds someone else's."""
    return {
        "server_auth": {
            "types": ["bearer", "smart"],
            "tokens": [LOADER],
            "token_lifetime": lifetime,
            "smart_clients": [
                {"client_id": "downtime", "jwks": our_jwks, "scopes": "system/*.rs"},
                {"client_id": "stranger", "jwks": stranger_jwks},
            ],
        }
    }


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Iterator[Path]:
    """This server's key (made as IT makes it) and a stranger's."""
    folder = tmp_path_factory.mktemp("keys")
    with override_settings(FHIR_KEY_DIR=folder / "ours"):
        keys_command()
    with override_settings(FHIR_KEY_DIR=folder / "stranger"):
        keys_command()
    return folder


def jwks_of(folder: Path) -> dict:
    with override_settings(FHIR_KEY_DIR=folder):
        return json.loads(keys_command("--jwks"))


@pytest.fixture(scope="module")
def ehr(keys, tmp_path_factory) -> Iterator[str]:
    """A FHIR server that admits SMART backend clients only (and the
    test's loader), holding a few patients."""
    options = server_auth(jwks_of(keys / "ours"), jwks_of(keys / "stranger"), LIFETIME)
    with sekmet_server(
        tmp_path_factory.mktemp("ehr"), loader_token=LOADER, **options
    ) as base:
        sekmet_load(base, [*SHARED, *ONE_PATIENT], token=LOADER)
        yield base


@pytest.fixture
def client_of(settings, keys):
    """Settings as IT sets them: the client id the EHR registered, no token
    URL (found in the server's smart-configuration)."""

    def configure(client_id: str = "downtime") -> None:
        settings.FHIR_CLIENT_ID = client_id
        settings.FHIR_TOKEN_URL = ""
        settings.FHIR_BEARER_TOKEN = ""
        settings.FHIR_KEY_DIR = keys / "ours"

    return configure


def pull(base: str, *options: str) -> str:
    out = io.StringIO()
    call_command("pull_fhir", "--base-url", base, *options, stdout=out)
    return out.getvalue()


def token_expiry() -> float:
    return FeedState.objects.get(name="fhir-pull").token_expires_at.timestamp()


def test_a_pull_signs_in_with_the_key_the_ehr_registered(ehr, client_of, client):
    client_of("downtime")

    pull(ehr, "--full")

    assert Patient.objects.count() == 1
    state = FeedState.objects.get(name="fhir-pull")
    assert state.last_error == ""
    assert 0 < token_expiry() - time.time() <= LIFETIME
    # The feeds page shows when the token runs out, never the token.
    client.force_login(User.objects.create_user("it", password="x"))
    page = client.get(reverse("patients:home")).text
    until = timezone.localtime(state.token_expires_at).strftime("%Y-%m-%d %H:%M")
    assert f"until {until}" in page
    token = smart.fhir_auth(ehr, "").authorization().removeprefix("Bearer ")
    assert token not in page


def test_the_token_is_kept_between_pulls_and_renewed_before_it_runs_out(ehr, client_of):
    client_of("downtime")
    pull(ehr, "--full")
    first = token_expiry()

    pull(ehr)
    assert token_expiry() == first  # the same token

    time.sleep(first - time.time() - 0.5)  # into its last quarter
    pull(ehr)
    assert token_expiry() > first  # a new one, asked for before the old ran out
    assert FeedState.objects.get(name="fhir-pull").last_error == ""


def test_a_token_the_server_no_longer_accepts_is_renewed_once(
    keys, client_of, tmp_path
):
    """The EHR's authorization server restarted and forgot the tokens it
    gave (sekmet signs them with a secret made at start): the next pull is
    answered 401, asks for a new token once, and goes on."""
    client_of("downtime")
    options = server_auth(jwks_of(keys / "ours"), jwks_of(keys / "stranger"), 3600)
    port = free_port()
    with sekmet_server(
        tmp_path / "before", port=port, loader_token=LOADER, **options
    ) as base:
        sekmet_load(base, [*SHARED, *ONE_PATIENT], token=LOADER)
        pull(base, "--full")
    first = token_expiry()
    with sekmet_server(
        tmp_path / "after", port=port, loader_token=LOADER, **options
    ) as base:
        pull(base)

    assert token_expiry() > first
    assert FeedState.objects.get(name="fhir-pull").last_error == ""
    assert Patient.objects.count() == 1


def test_a_key_the_ehr_does_not_hold_is_refused_with_a_clear_error(ehr, client_of):
    client_of("stranger")  # registered, but with another key than ours

    with pytest.raises(CommandError) as refused:
        pull(ehr, "--full")

    text = str(refused.value)
    assert "refused the client, HTTP 401: invalid_client" in text
    assert "client_assertion verification failed" in text  # the EHR's words
    assert "`manage.py fhir_keys --jwks`" in text  # what IT does about it
    state = FeedState.objects.get(name="fhir-pull")
    assert "invalid_client" in state.last_error
    assert state.cursor == ""
    assert not Patient.objects.exists()


def test_without_a_key_the_pull_says_how_to_make_one(
    ehr, client_of, settings, tmp_path
):
    client_of("nobody")  # no token in hand from an earlier pull
    settings.FHIR_KEY_DIR = tmp_path / "none"

    with pytest.raises(CommandError, match=r"make one with `manage\.py fhir_keys`"):
        pull(ehr, "--full")


def test_a_server_that_asks_for_authorization_says_which_settings(ehr, settings):
    settings.FHIR_CLIENT_ID = ""
    settings.FHIR_BEARER_TOKEN = ""

    with pytest.raises(CommandError, match="HTTP 401: the server asks for auth"):
        pull(ehr, "--full")


def test_the_private_key_stays_private_and_only_public_keys_are_published(
    settings, tmp_path, client
):
    settings.FHIR_KEY_DIR = tmp_path / "keys"
    assert "Made a RS384 key" in keys_command()
    assert "Made a" not in keys_command()  # kept, not made again

    (path,) = (tmp_path / "keys").glob("*.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "d" in json.loads(path.read_text())  # the private part, here only
    published = json.loads(keys_command("--jwks"))
    (key,) = published["keys"]
    assert {"kty", "n", "e", "kid", "alg", "use"} <= set(key)
    # A key id IT can type on a command line (--retire KID).
    assert re.fullmatch(r"\d{8}-[0-9a-f]{8}", key["kid"])
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    served = client.get(reverse("patients:fhir-client-jwks"))
    assert served.status_code == 200
    assert served["Content-Type"] == "application/jwk-set+json"
    assert served.json() == published


def test_a_new_key_signs_while_the_old_stays_published_until_retired(
    settings, tmp_path
):
    settings.FHIR_KEY_DIR = tmp_path / "keys"
    keys_command()
    (old,) = [key["kid"] for key in json.loads(keys_command("--jwks"))["keys"]]

    assert "Made a ES384 key" in keys_command("--new", "--alg", "ES384")
    published = json.loads(keys_command("--jwks"))["keys"]
    assert [key["alg"] for key in published] == ["RS384", "ES384"]
    assert smart.client_keys()[-1].kid == published[1]["kid"]  # the new one signs

    with pytest.raises(CommandError, match="the one signing"):
        keys_command("--retire", published[1]["kid"])
    assert f"Key {old} deleted" in keys_command("--retire", old)
    assert [key["alg"] for key in json.loads(keys_command("--jwks"))["keys"]] == [
        "ES384"
    ]


def test_a_bulk_export_signs_its_kick_off_polls_and_downloads(ehr, client_of, settings):
    """The manifest says requiresAccessToken: the files are fetched with
    the token too (from the FHIR server itself only)."""
    client_of("downtime")
    # This EHR wants every type granted for a system-level export.
    with pytest.raises(CommandError, match=r"HTTP 403: .* \(FHIR_SCOPES\)"):
        pull(ehr, "--bulk", "--full")
    settings.FHIR_SCOPES = "system/*.rs"

    output = pull(ehr, "--bulk", "--full")

    assert "Pulled by Bulk Data export:" in output
    assert Patient.objects.count() == 1
    assert FeedState.objects.get(name="fhir-pull").way == "bulk"


def check(base: str) -> str:
    out = io.StringIO()
    call_command("fhir_check", "--base-url", base, stdout=out)
    return out.getvalue()


def test_one_command_tells_it_what_works(ehr, client_of):
    client_of("downtime")

    output = check(ehr)

    assert "FHIR 4.0.1" in output
    assert "SMART Backend Services: a token from http://127.0.0.1:" in output
    for kind in ("Patient", "Encounter", "Observation", "Appointment"):
        assert re.search(rf"^{kind} +can be read$", output, re.MULTILINE)
    assert "Bulk Data export" in output
    assert output.rstrip().endswith("The connection works.")


def test_one_command_tells_it_what_does_not_work(ehr, client_of):
    client_of("stranger")
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of the checks above failed"):
        call_command("fhir_check", "--base-url", ehr, stdout=out)

    output = out.getvalue()
    assert re.search(r"^Sign-in +FAILED: .*invalid_client", output, re.MULTILINE)
    assert re.search(r"^Patient +not checked: no sign-in$", output, re.MULTILINE)


def test_a_server_that_refuses_every_token_fails_after_one_renewal(
    ehr, client_of, settings
):
    """Tokens from the EHR's real token endpoint, sent to a FHIR API that
    answers 401 to all of them: one new token, then a clear error."""
    refused = []

    class AlwaysUnauthorized(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            refused.append(self.headers.get("Authorization", ""))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    client_of("downtime")
    settings.FHIR_TOKEN_URL = ehr.removesuffix("/fhir") + "/auth/token"
    with (
        serving(AlwaysUnauthorized) as api,
        pytest.raises(CommandError, match="HTTP 401 to a new access token"),
    ):
        pull(api, "--full")

    assert len(refused) == 2
    assert refused[0] != refused[1]  # the second, a token asked for anew
    assert all(header.startswith("Bearer ") for header in refused)
