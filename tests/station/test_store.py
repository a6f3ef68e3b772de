"""What a station keeps: only files whose signed statement verifies, encrypted
on disk, checked again before opening; the newest three of each ward."""

import hashlib
import json

import pytest
from downtime_station import audit
from downtime_station.store import KEEP, Refused, Store
from downtime_station.trust import followed

from printouts.signing import key_rotate, keys_chain, statement_sign

PDF = b"%PDF-1.7 a ward pack " + bytes(range(256)) * 40


def statement(item: str, data: bytes, *, ward: int = 7, as_of: str = "") -> dict:
    return {
        "format": 1,
        "item": item,
        "kind": "ward",
        "location": {"id": ward, "name": f"Ward {ward}"},
        "day": None,
        "as_of": as_of or "2026-12-04T10:00:00+00:00",
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def trusted() -> dict[str, str]:
    return {entry["id"]: entry["public_key"] for entry in keys_chain()}


def kept(store: Store, item: str, data: bytes = PDF, **about):
    signed = statement_sign(statement(item, data, **about))
    return store.keep(
        item=item,
        statement=signed.statement,
        signature=signed.signature,
        key_id=signed.key_id,
        data=data,
    )


def test_a_kept_file_is_encrypted_on_disk_and_opens_to_its_bytes(tmp_path):
    store = Store(tmp_path, trusted())

    held = kept(store, "pack-1")

    on_disk = (tmp_path / "files" / held.file).read_bytes()
    assert b"%PDF" not in on_disk
    assert b"a ward pack" not in on_disk
    assert store.opened(held) == PDF
    assert (tmp_path / "data.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "files").stat().st_mode & 0o077 == 0


def test_a_file_from_an_untrusted_key_or_with_other_bytes_is_not_kept(tmp_path):
    store = Store(tmp_path, {})
    with pytest.raises(Refused, match="does not trust"):
        kept(store, "pack-1")

    store = Store(tmp_path, trusted())
    signed = statement_sign(statement("pack-1", PDF))
    with pytest.raises(Refused, match="does not match the SHA-256"):
        store.keep(
            item="pack-1",
            statement=signed.statement,
            signature=signed.signature,
            key_id=signed.key_id,
            data=PDF + b"tampered in transit",
        )
    assert store.held() == []


def test_a_file_or_statement_changed_on_disk_is_refused_at_open(tmp_path):
    store = Store(tmp_path, trusted())
    first, second = kept(store, "pack-1"), kept(store, "pack-2", ward=8)
    path = tmp_path / "files" / first.file
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0xFF
    path.write_bytes(bytes(blob))
    index = json.loads((tmp_path / "index.json").read_text())
    for entry in index:
        if entry["item"] == "pack-2":  # an as-of time moved forward by hand
            entry["statement"] = entry["statement"].replace("10:00", "23:00")
    (tmp_path / "index.json").write_text(json.dumps(index))

    with pytest.raises(Refused, match="changed on disk"):
        store.opened(first)
    edited = next(h for h in store.held() if h.item == "pack-2")
    assert edited.about["unverified"] is True
    with pytest.raises(Refused, match="signature does not match"):
        store.opened(edited)
    assert second.about["as_of"].startswith("2026-12-04T10:00")


def test_the_newest_three_of_each_ward_are_kept_and_a_ward_given_up_goes(tmp_path):
    store = Store(tmp_path, trusted())
    for hour in range(10, 15):
        kept(store, f"pack-{hour}", as_of=f"2026-12-04T{hour}:00:00+00:00")
    kept(store, "pack-99", ward=8)

    items = [held.item for held in store.held() if held.about["location"]["id"] == 7]
    assert items == ["pack-14", "pack-13", "pack-12"][:KEEP]
    assert len(list((tmp_path / "files").iterdir())) == KEEP + 1

    assert store.forget_places({8}) == KEEP
    assert [held.item for held in store.held()] == ["pack-99"]
    assert len(list((tmp_path / "files").iterdir())) == 1


def test_a_blank_form_in_each_language_is_a_copy_of_its_own(tmp_path):
    """A station serving a Dutch and a French ward keeps both languages'
    forms, each the newest of its own."""
    store = Store(tmp_path, trusted())
    for item, language, hour in (
        ("form-1", "nl", 10),
        ("form-2", "fr", 10),
        *((f"form-{hour}", "nl", hour) for hour in range(11, 15)),
    ):
        signed = statement_sign(
            {
                **statement(item, PDF, as_of=f"2026-12-04T{hour}:00:00+00:00"),
                "kind": "form",
                "location": None,
                "key": "mar",
                "language": language,
            }
        )
        store.keep(
            item=item,
            statement=signed.statement,
            signature=signed.signature,
            key_id=signed.key_id,
            data=PDF,
        )

    held = {h.item: h.about["language"] for h in store.held()}
    assert held == {"form-14": "nl", "form-13": "nl", "form-12": "nl", "form-2": "fr"}


def test_a_routine_rotation_is_followed_and_a_broken_chain_is_not(tmp_path):
    pinned = trusted()  # what the station pinned at enrolment
    key_rotate()
    rotated = followed(pinned, keys_chain())
    store = Store(tmp_path, rotated)
    assert len(rotated) == 2
    assert store.opened(kept(store, "pack-1")) == PDF  # signed by the new key

    key_rotate(endorse=False)  # after a theft: stations must enrol again
    assert followed(rotated, keys_chain()) == rotated
    with pytest.raises(Refused, match="does not trust"):
        kept(Store(tmp_path, rotated), "pack-2")


def test_the_local_log_is_a_chain_that_shows_a_line_changed(tmp_path):
    for action in ("open", "print", "open"):
        audit.record(tmp_path, person="Jane", action=action, item="pack-1")
    assert audit.broken_at(tmp_path) is None
    entries, upto = audit.unsent(tmp_path)
    assert ([e["action"] for e in entries], upto) == (["open", "print", "open"], 3)
    audit.mark_sent(tmp_path, upto)
    assert audit.unsent(tmp_path) == ([], 3)

    log = tmp_path / audit.NAME
    log.write_text(log.read_text().replace('"print"', '"open"', 1))
    assert audit.broken_at(tmp_path) == 2


def test_a_file_signed_again_is_not_taken_for_the_one_held(tmp_path):
    store = Store(tmp_path, trusted())
    held = kept(store, "pack-1")
    assert store.holds("pack-1", held.sha256, held.signature)
    assert not store.holds("pack-1", held.sha256, "another signature")
    assert not store.holds("pack-1", "0" * 64, held.signature)
