"""Which of the server's signing keys the station trusts, and checking a
signed statement against them.

At enrolment the station pins the server's key of the moment. After a
routine rotation, the server's chain endorses each new key with the one
before it; the station trusts a new key only through such an endorsement
from a key it already trusts. A key the server made after a theft starts
a new chain, and the station refuses it until it is enrolled again.
"""

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Untrusted(Exception):
    """A statement whose signature does not verify with a trusted key."""


def key_id_of(public_key: str) -> str:
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def endorsement_text(*, key_id: str, public_key: str, previous: str) -> bytes:
    """The text a key signs to endorse its successor (the server's
    ``printouts.signing.endorsement_text``)."""
    return (
        f"downtime-station signing key {key_id} {public_key} after {previous}".encode()
    )


def _verifies(public_key: str, signature: str, data: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(signature), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def followed(trusted: dict[str, str], chain: list[dict]) -> dict[str, str]:
    """``trusted`` (key id: public key) and every key of ``chain`` endorsed,
    link by link, by one of them."""
    result = dict(trusted)
    for entry in chain:
        key_id, public = entry.get("id"), entry.get("public_key")
        previous, endorsement = entry.get("previous"), entry.get("endorsement")
        if key_id in result or previous not in result or not endorsement:
            continue
        if key_id_of(public) != key_id:
            continue
        text = endorsement_text(key_id=key_id, public_key=public, previous=previous)
        if _verifies(result[previous], endorsement, text):
            result[key_id] = public
    return result


def verified(
    *, statement: str, signature: str, key_id: str, trusted: dict[str, str]
) -> dict:
    """The statement, read, if its signature verifies with that trusted key;
    else Untrusted, saying why."""
    public = trusted.get(key_id)
    if public is None:
        raise Untrusted(f"signed with key {key_id}, which this station does not trust")
    if not _verifies(public, signature, statement.encode()):
        raise Untrusted("its signature does not match its statement")
    try:
        read = json.loads(statement)
    except ValueError:
        raise Untrusted("its statement is not JSON") from None
    if not isinstance(read, dict) or read.get("format") != 1:
        raise Untrusted("its statement is not of a known format")
    return read
