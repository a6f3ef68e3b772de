"""The files a station keeps: verified before they are kept, encrypted at
rest, verified again before they are opened.

Each file is encrypted with AES-256-GCM under ``data.key``; its signed
statement is the associated data, so a file cannot be passed off under
another statement. Opening a file decrypts it (a byte changed on disk
fails there), compares its SHA-256 with the statement's and checks the
statement's signature again. The newest ``KEEP`` versions of each ward's
pack (each clinic's list of a day) are kept.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from downtime_station import home as files
from downtime_station.trust import Untrusted, verified

KEEP = 3
MAGIC = b"DST1"


class Refused(Exception):
    """A kept file that failed a check: it is not opened or printed."""


@dataclass(frozen=True)
class Held:
    """One kept file and what its signed statement says of it."""

    item: str
    statement: str
    signature: str
    key_id: str
    file: str
    received_at: str
    about: dict  # the statement, read

    @property
    def place(self) -> int | None:
        """The ward or clinic it belongs to; None for a blank form."""
        location = self.about.get("location")
        return location["id"] if location else None

    @property
    def slot(self) -> tuple:
        """What it is a version of: a ward's pack, a clinic's list of a day,
        a ward's label sheets, a blank form in a language (a station may
        serve wards that print in two), a block of downtime numbers."""
        about = self.about
        language = about.get("language", "") if about["kind"] == "form" else ""
        return (
            about["kind"],
            self.place,
            about.get("day"),
            about.get("key", ""),
            language,
        )

    @property
    def moment(self) -> str:
        """Its data's as-of time (ISO), else when it was made: newest first."""
        return self.about.get("as_of") or self.about.get("generated_at") or ""

    @property
    def sha256(self) -> str:
        return self.about["sha256"]

    def as_dict(self) -> dict:
        return {
            "item": self.item,
            "statement": self.statement,
            "signature": self.signature,
            "key_id": self.key_id,
            "file": self.file,
            "received_at": self.received_at,
        }


class Store:
    def __init__(self, home: Path, trusted: dict[str, str]) -> None:
        self.home = home
        self.trusted = trusted
        self.folder = home / "files"
        self.index_path = home / "index.json"

    # What is held ---------------------------------------------------------

    def held(self) -> list[Held]:
        """Every file kept, newest data first. An index entry whose statement
        no longer verifies is listed too: opening it says why it is refused."""
        entries = files.read_json(self.index_path, [])
        kept = []
        for entry in entries:
            try:
                about = self.statement(
                    entry["statement"], entry["signature"], entry["key_id"]
                )
            except Refused:
                about = _unverified(entry)
            kept.append(Held(about=about, **entry))
        return sorted(kept, key=lambda held: held.moment, reverse=True)

    def holds(self, item: str, sha256: str, signature: str) -> bool:
        """Kept already, with this signature: a file signed again (a new
        server key) is fetched and kept again with its new signature."""
        return any(
            h.item == item and h.sha256 == sha256 and h.signature == signature
            for h in self.held()
        )

    # Keeping ----------------------------------------------------------------

    def keep(
        self, *, item: str, statement: str, signature: str, key_id: str, data: bytes
    ) -> Held:
        """Keep a downloaded file whose statement verifies and whose bytes
        match it; older versions beyond KEEP go. Raises Refused otherwise."""
        about = self._checked(statement, signature, key_id, data)
        if about.get("item") != item:
            raise Refused(f"{item}: its statement is of another file")
        name = f"{item}-{about['sha256'][:16]}.bin"
        nonce = secrets.token_bytes(12)
        sealed = self._cipher().encrypt(nonce, data, statement.encode())
        self.folder.mkdir(exist_ok=True)
        files.private(self.folder, directory=True)
        files.write_atomically(self.folder / name, MAGIC + nonce + sealed)
        held = Held(
            item=item,
            statement=statement,
            signature=signature,
            key_id=key_id,
            file=name,
            received_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            about=about,
        )
        others = [h for h in self.held() if h.item != item]
        self._save([held, *others])
        return held

    def forget_places(self, places: set[int]) -> int:
        """Drop every file of a ward or clinic the station no longer serves
        (no patient data is kept beyond need). Returns how many went."""
        kept = self.held()
        gone = [h for h in kept if h.place is not None and h.place not in places]
        if gone:
            self._save([h for h in kept if h not in gone])
        return len(gone)

    def _save(self, held: list[Held]) -> None:
        """Write the index (newest KEEP per slot), then delete the files no
        longer in it: a crash in between leaves a stray file, never an
        entry without its file."""
        chosen, counts = [], {}
        for entry in sorted(held, key=lambda h: h.moment, reverse=True):
            counts[entry.slot] = counts.get(entry.slot, 0) + 1
            if counts[entry.slot] <= KEEP:
                chosen.append(entry)
        files.write_json(self.index_path, [h.as_dict() for h in chosen])
        wanted = {h.file for h in chosen}
        if self.folder.exists():
            for path in self.folder.iterdir():
                if path.name not in wanted and not path.name.startswith(".tmp-"):
                    path.unlink(missing_ok=True)

    # Opening --------------------------------------------------------------

    def opened(self, held: Held) -> bytes:
        """The file's bytes, after every check; Refused, saying which failed:
        the statement's signature, then the encryption's own check, then the
        SHA-256."""
        self.statement(held.statement, held.signature, held.key_id)
        try:
            blob = (self.folder / held.file).read_bytes()
        except OSError:
            raise Refused("its file is missing from the station's folder") from None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
            raise Refused("its file is not one this station wrote")
        nonce, sealed = blob[4:16], blob[16:]
        try:
            data = self._cipher().decrypt(nonce, sealed, held.statement.encode())
        except InvalidTag:
            raise Refused("its file was changed on disk") from None
        self._checked(held.statement, held.signature, held.key_id, data)
        return data

    def statement(self, statement: str, signature: str, key_id: str) -> dict:
        """The statement, read, if signed by a key this station trusts."""
        try:
            return verified(
                statement=statement,
                signature=signature,
                key_id=key_id,
                trusted=self.trusted,
            )
        except Untrusted as error:
            raise Refused(str(error)) from None

    def _checked(
        self, statement: str, signature: str, key_id: str, data: bytes
    ) -> dict:
        about = self.statement(statement, signature, key_id)
        if hashlib.sha256(data).hexdigest() != about.get("sha256"):
            raise Refused("its content does not match the SHA-256 it was signed with")
        return about

    # The key ------------------------------------------------------------------

    def _cipher(self) -> AESGCM:
        return AESGCM(data_key(self.home))


def data_key(home: Path) -> bytes:
    """The station's 256-bit data key, made on first use, readable by this
    account only (docs/decisions.md: why a key file and not another)."""
    path = home / "data.key"
    try:
        return base64.b64decode(path.read_bytes())
    except FileNotFoundError:
        pass
    key = AESGCM.generate_key(bit_length=256)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as output:
        output.write(base64.b64encode(key))
        output.flush()
        os.fsync(output.fileno())
    return key


def _unverified(entry: dict) -> dict:
    """What an index entry says of itself when its signature fails: enough
    to list it, never to open it."""
    try:
        about = json.loads(entry["statement"])
    except ValueError:
        about = {}
    about.setdefault("kind", "?")
    about.setdefault("location", None)
    about.setdefault("day", None)
    about["unverified"] = True
    return about
