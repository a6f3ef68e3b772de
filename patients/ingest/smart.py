"""SMART Backend Services: the mirror's own client key, and the access
tokens the EHR's authorization server gives for it.

The EHR registers this server as a backend client with its public key
(the JWKS, printed by ``manage.py fhir_keys --jwks`` and served at
``/.well-known/jwks.json``). To read, the client signs a short assertion
with its private key (RS384 or ES384, as the SMART specification allows),
exchanges it at the token endpoint for an access token of a few minutes,
keeps that token in memory, and asks for a new one before it runs out or
once when the server refuses it (HTTP 401).

The private keys live under ``FHIR_KEY_DIR`` (``DATA_DIR/keys/fhir``):
never in the repository and not in the database, so a dump of either
cannot read the EHR. Each key is a private JWK of its own, readable by the
server's account only; the newest signs, and every key kept is published,
so that a new key can be registered before the old one is retired
(``fhir_keys --new``, then ``--retire KID``).
"""

import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, Key, KeySet, RSAKey

from patients.ingest.pull import BearerToken, PullError
from patients.ingest.sources import Unreadable, read_json

ALGORITHMS = ("RS384", "ES384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A token is renewed when less than this part of its life is left, or less
# than a minute: a page requested just before its end must not arrive after
# it.
RENEW_AT = 0.25


class AuthError(PullError):
    """No access token could be had; the message says why, for IT."""


# The client's keys ------------------------------------------------------------


def key_dir() -> Path:
    return Path(settings.FHIR_KEY_DIR)


def client_keys() -> list[Key]:
    """The client's private keys, oldest first: the last one signs."""
    folder = key_dir()
    if not folder.is_dir():
        return []
    # Named <when made>-<kid>.json: in the order they were made.
    paths = sorted(folder.glob("*-*.json"))
    return [JWKRegistry.import_key(json.loads(path.read_text())) for path in paths]


def key_new(algorithm: str = "RS384") -> Key:
    """A new private key, kept (readable by this account only) and signing
    from now on."""
    # A key id IT can read and type: the day it was made, then random hex
    # (never a leading "-", which a command line would take for an option).
    kid = f"{time.strftime('%Y%m%d')}-{secrets.token_hex(4)}"
    parameters = {"alg": algorithm, "use": "sig", "kid": kid}
    if algorithm == "RS384":
        key = RSAKey.generate_key(2048, parameters=parameters)
    elif algorithm == "ES384":
        key = ECKey.generate_key("P-384", parameters=parameters)
    else:
        raise ValueError(f"{algorithm}: not one of {', '.join(ALGORITHMS)}")
    folder = key_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{time.time_ns():020d}-{key.kid}.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as output:
        json.dump(key.as_dict(private=True), output)
    return key


def key_retire(kid: str) -> bool:
    """Delete a key that no longer signs: False if there is no such key, or
    it is the one signing."""
    keys = client_keys()
    if not keys or keys[-1].kid == kid or kid not in {key.kid for key in keys}:
        return False
    for path in key_dir().glob(f"*-{kid}.json"):
        path.unlink()
    return True


def jwks() -> dict:
    """The public JWKS of every key kept (no private part)."""
    return KeySet(client_keys()).as_dict(private=False)


# Access tokens --------------------------------------------------------------


@dataclass
class Token:
    value: str
    expires_at: float  # time.time()
    lifetime: float  # seconds


class SmartAuth:
    """Access tokens for one client at one token endpoint, requested with a
    signed assertion and kept until they are due for renewal."""

    renews = True

    def __init__(
        self,
        *,
        client_id: str,
        token_url: str,
        scopes: str,
        timeout: int = 60,
    ) -> None:
        self.client_id = client_id
        self.token_url = token_url
        self.scopes = scopes
        self.timeout = timeout
        self._token: Token | None = None
        self._lock = threading.Lock()

    @property
    def expires_at(self) -> float | None:
        """When the token in hand runs out (time.time()), if there is one."""
        return self._token.expires_at if self._token else None

    def authorization(self) -> str:
        """The Authorization header: a token in hand, or a new one."""
        with self._lock:
            token = self._token
            if token is None or _due(token):
                token = self._token = self._request()
            return f"Bearer {token.value}"

    def refused(self, header: str) -> None:
        """The server answered 401 to ``header``: that token is dropped (a
        request after this asks for a new one)."""
        with self._lock:
            if self._token and header == f"Bearer {self._token.value}":
                self._token = None

    def _request(self) -> Token:
        keys = client_keys()
        if not keys:
            raise AuthError(
                "This server has no client key yet: make one with "
                "`manage.py fhir_keys` and register its public key with the EHR."
            )
        key = keys[-1]
        now = int(time.time())
        assertion = jwt.encode(
            {"alg": key.get("alg") or "RS384", "kid": key.kid, "typ": "JWT"},
            {
                "iss": self.client_id,
                "sub": self.client_id,
                "aud": self.token_url,
                "exp": now + 300,
                "jti": uuid.uuid4().hex,
            },
            key,
            algorithms=list(ALGORITHMS),
        )
        form = {
            "grant_type": "client_credentials",
            "scope": self.scopes,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        answer = _post_form(self.token_url, form, self.timeout)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(
                f"The token endpoint ({_where(self.token_url)}) answered without "
                "an access token."
            )
        lifetime = answer.get("expires_in")
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = 300  # SMART: "should not exceed five minutes"
        return Token(value, time.time() + lifetime, lifetime)


def _due(token: Token) -> bool:
    return token.expires_at - time.time() < min(60.0, RENEW_AT * token.lifetime)


def _post_form(url: str, form: dict, timeout: int) -> dict:
    request = urllib.request.Request(  # noqa: S310 - http(s), checked in discovery or settings
        url,
        data=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    where = _where(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as error:
        raise AuthError(_refusal(where, error.code, error.read())) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise AuthError(
            f"The token endpoint ({where}) could not be reached: {reason}."
        ) from None
    try:
        _text, answer = read_json(body)
    except Unreadable as error:
        raise AuthError(
            f"The token endpoint ({where}) did not answer with JSON: {error}."
        ) from None
    if not isinstance(answer, dict):
        raise AuthError(f"The token endpoint ({where}) did not answer with an object.")
    return answer


def _refusal(where: str, status: int, body: bytes) -> str:
    """What IT needs from an OAuth error answer (RFC 6749 5.2)."""
    try:
        _text, answer = read_json(body)
    except Unreadable:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    error = str(answer.get("error") or "")[:100]
    detail = str(answer.get("error_description") or "")[:300]
    said = f": {error}" + (f" ({detail})" if detail else "") if error else ""
    hint = ""
    if error in ("invalid_client", "unauthorized_client") or status == 401:
        hint = (
            " Check FHIR_CLIENT_ID and that the EHR holds this server's public key "
            "(`manage.py fhir_keys --jwks`)."
        )
    elif error == "invalid_scope":
        hint = " Check FHIR_SCOPES against what the EHR granted this client."
    return (
        f"The token endpoint ({where}) refused the client, HTTP {status}{said}.{hint}"
    )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


def discover_token_url(base_url: str, timeout: int = 60) -> str:
    """The token endpoint a FHIR server announces in its
    ``.well-known/smart-configuration``."""
    url = f"{base_url.rstrip('/')}/.well-known/smart-configuration"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - the base URL's own scheme
    where = _where(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            _text, found = read_json(response.read())
    except urllib.error.HTTPError as error:
        raise AuthError(
            f"{where} answered HTTP {error.code}: set FHIR_TOKEN_URL to the EHR's "
            "token endpoint."
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise AuthError(f"{where} could not be reached: {reason}.") from None
    except Unreadable as error:
        raise AuthError(f"{where} did not answer with JSON: {error}.") from None
    token_url = found.get("token_endpoint") if isinstance(found, dict) else None
    if not isinstance(token_url, str) or urlsplit(token_url).scheme not in (
        "http",
        "https",
    ):
        raise AuthError(
            f"{where} names no token endpoint: set FHIR_TOKEN_URL to the EHR's "
            "token endpoint."
        )
    return token_url


# The settings' client ---------------------------------------------------------

_AUTHS: dict[tuple[str, str, str], SmartAuth] = {}
_AUTHS_LOCK = threading.Lock()


def fhir_auth(base_url: str, scopes: str):
    """What signs this server's requests to ``base_url``, as set: SMART
    Backend Services with ``FHIR_CLIENT_ID`` (one client a process, whose
    token outlives a pull), else ``FHIR_BEARER_TOKEN``, else nothing.
    ``scopes``: asked for unless ``FHIR_SCOPES`` says otherwise."""
    if settings.FHIR_CLIENT_ID:
        token_url = settings.FHIR_TOKEN_URL or discover_token_url(
            base_url, settings.FHIR_TIMEOUT
        )
        wanted = settings.FHIR_SCOPES or scopes
        with _AUTHS_LOCK:
            return _AUTHS.setdefault(
                (settings.FHIR_CLIENT_ID, token_url, wanted),
                SmartAuth(
                    client_id=settings.FHIR_CLIENT_ID,
                    token_url=token_url,
                    scopes=wanted,
                    timeout=settings.FHIR_TIMEOUT,
                ),
            )
    if settings.FHIR_BEARER_TOKEN:
        return BearerToken(settings.FHIR_BEARER_TOKEN)
    return None
