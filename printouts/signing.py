"""The server's Ed25519 signing key: every file a ward station keeps is signed.

A published file is described by a *statement* (what it is, for which ward,
its data as-of time, its SHA-256), and the statement is signed. A station
checks the signature with the public key it pinned at enrolment, then the
file against the statement's SHA-256, before it keeps or opens anything.

The keys live under ``DATA_DIR/keys/signing`` (never in the repository, and
not in the database, so a database dump cannot sign anything):

- ``<id>.pem``: a private key, readable by the server's account only;
- ``current``: the id of the key in use;
- ``chain.json``: every public key in order, each after the first endorsed
  by the one before it, so that a station that pinned an older key can
  follow a routine rotation (``manage.py signing_key --rotate``). A rotation
  after a theft breaks the chain instead (``--break-chain``): every station
  is then enrolled again.

The first key is made on first use, under a lock, by whichever process
signs first.
"""

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.utils import timezone


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return _raw(self.private)


@dataclass(frozen=True)
class Signed:
    statement: str  # canonical JSON, signed as its UTF-8 bytes
    signature: str  # base64
    key_id: str


def statement_sign(payload: dict) -> Signed:
    """Sign what a file is; the statement is kept verbatim beside the file."""
    return text_sign(canonical(payload))


def text_sign(statement: str) -> Signed:
    """Sign a statement kept before (again, with the key in use now)."""
    key = key_current()
    return Signed(statement, _b64(key.private.sign(statement.encode())), key.key_id)


def statement_verify(*, statement: str, signature: str, public_key: str) -> bool:
    """True if ``signature`` is the signature of ``statement`` by that key
    (base64 of its 32 raw bytes)."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    try:
        key.verify(base64.b64decode(signature), statement.encode())
    except Exception:  # cryptography's InvalidSignature, or a malformed one
        return False
    return True


def canonical(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def endorsement_text(*, key_id: str, public_key: str, previous: str) -> bytes:
    """What a key signs to endorse its successor (the station checks the same
    text: ``downtime_station.trust``)."""
    return (
        f"downtime-station signing key {key_id} {public_key} after {previous}".encode()
    )


def keys_chain() -> list[dict]:
    """Every public key, oldest first: ``id``, ``public_key`` (base64),
    ``created_at``, ``previous`` and ``endorsement`` (both None for a key
    that starts a chain)."""
    key_current()
    return json.loads((_directory() / "chain.json").read_text())


def key_current() -> SigningKey:
    """The key in use; made on first use."""
    directory = _directory()
    current = directory / "current"
    if not current.exists():
        with _locked(directory):
            if not current.exists():
                _add_key(directory, previous=None)
    return _load(directory, current.read_text().strip())


def key_rotate(*, endorse: bool = True) -> SigningKey:
    """A new key in use. Endorsed by the one before it (a routine rotation:
    stations follow), or not (the old key was stolen: stations must be
    enrolled again, as a thief could endorse a key of theirs)."""
    old = key_current()
    directory = _directory()
    with _locked(directory):
        key = _add_key(directory, previous=old if endorse else None)
    (directory / f"{old.key_id}.pem").unlink(missing_ok=True)
    return key


def _add_key(directory: Path, *, previous: SigningKey | None) -> SigningKey:
    """Make a key, add it to the chain, make it current (under the lock)."""
    private = Ed25519PrivateKey.generate()
    key = SigningKey(key_id_of(_raw(private)), private)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(directory / f"{key.key_id}.pem", pem)
    chain_file = directory / "chain.json"
    chain = json.loads(chain_file.read_text()) if chain_file.exists() else []
    public = _b64(key.public_raw)
    entry = {
        "id": key.key_id,
        "public_key": public,
        "created_at": timezone.now().isoformat(),
        "previous": None,
        "endorsement": None,
    }
    if previous is not None:
        text = endorsement_text(
            key_id=key.key_id, public_key=public, previous=previous.key_id
        )
        entry["previous"] = previous.key_id
        entry["endorsement"] = _b64(previous.private.sign(text))
    _write(chain_file, json.dumps([*chain, entry], indent=1).encode())
    _write(directory / "current", key.key_id.encode())
    return key


_LOADED: dict[tuple[Path, str], SigningKey] = {}


def _load(directory: Path, key_id: str) -> SigningKey:
    """Read ``current`` each time (a rotation takes effect at once in every
    process), each key's file once."""
    cached = _LOADED.get((directory, key_id))
    if cached is None:
        pem = (directory / f"{key_id}.pem").read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"signing key {key_id} is not an Ed25519 key")
        cached = _LOADED[(directory, key_id)] = SigningKey(key_id, private)
    return cached


def _directory() -> Path:
    directory = settings.DATA_DIR / "keys" / "signing"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One process at a time makes or rotates keys (workers start together)."""
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, data: bytes) -> None:
    """Readable by this account only; written whole or not at all."""
    temporary = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "wb") as output:
        output.write(data)
        output.flush()
        os.fsync(output.fileno())
    os.replace(temporary, path)


def _raw(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def iso(moment: dt.datetime | None) -> str | None:
    """Times in statements: UTC, to the second."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()
