"""The server signs what it publishes, with a key of its own kept under
DATA_DIR, never in the database; a rotation is endorsed, or breaks the chain."""

import json

import pytest
from django.core.management import CommandError, call_command

from printouts.models import Printout
from printouts.published import signatures_stale
from printouts.signing import key_current, keys_chain, statement_verify
from tests.printouts.test_published import on_a_station
from tests.printouts.test_views import ready

pytestmark = pytest.mark.django_db


def test_a_published_pack_carries_a_signed_statement_of_its_file(small_ward, data_dir):
    pack = ready(small_ward)

    about = json.loads(pack.statement)
    public = {entry["id"]: entry["public_key"] for entry in keys_chain()}
    assert statement_verify(
        statement=pack.statement,
        signature=pack.signature,
        public_key=public[pack.signing_key],
    )
    assert (about["item"], about["sha256"], about["size"]) == (
        f"pack-{pack.pk}",
        pack.sha256,
        pack.size,
    )
    assert about["location"] == {"id": small_ward.pk, "name": small_ward.name}
    assert about["pages"] == pack.page_count
    assert not statement_verify(
        statement=pack.statement.replace(pack.sha256, "0" * 64),
        signature=pack.signature,
        public_key=public[pack.signing_key],
    )
    key_file = data_dir / "keys" / "signing" / f"{pack.signing_key}.pem"
    assert key_file.stat().st_mode & 0o077 == 0
    assert (key_file.parent.stat().st_mode & 0o077) == 0


def test_the_command_shows_and_rotates_the_key(capsys, data_dir):
    first = key_current()

    call_command("signing_key", "--rotate")
    call_command("signing_key", "--rotate", "--break-chain")
    shown = capsys.readouterr().out

    chain = keys_chain()
    assert [entry["previous"] for entry in chain] == [None, first.key_id, None]
    assert chain[1]["endorsement"]
    assert chain[2]["endorsement"] is None
    assert "enrol every ward station again" in shown
    assert shown.splitlines()[-1].startswith(f"* {chain[2]['id']}")
    # Only the key in use is kept; the others are public keys in the chain.
    assert [p.stem for p in (data_dir / "keys" / "signing").glob("*.pem")] == [
        chain[2]["id"]
    ]
    with pytest.raises(CommandError):
        call_command("signing_key", "--break-chain")


def test_after_a_rotation_what_stations_keep_is_signed_again_with_the_new_key(
    small_ward, capsys
):
    on_a_station(small_ward)
    pack = ready(small_ward)
    labels = Printout.objects.get(kind=Printout.Kind.LABELS)
    before = (pack.statement, labels.statement)

    call_command("signing_key", "--rotate", "--break-chain")

    new = key_current()
    assert "2 packs and printouts signed again" in capsys.readouterr().out
    pack.refresh_from_db()
    labels.refresh_from_db()
    assert (pack.statement, labels.statement) == before
    public = {entry["id"]: entry["public_key"] for entry in keys_chain()}
    for row in (pack, labels):
        assert row.signing_key == new.key_id
        assert statement_verify(
            statement=row.statement,
            signature=row.signature,
            public_key=public[new.key_id],
        )
    assert not signatures_stale()
