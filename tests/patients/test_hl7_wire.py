"""The HL7 listener's statements sent straight through libpq (wire.py), on
the real PostgreSQL: what psycopg's cursors did for them, it must do too."""

import datetime as dt
import json

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from psycopg.types.json import Jsonb

from patients.ingest.hl7v2 import statements, wire

pytestmark = pytest.mark.django_db(transaction=True)


def _psycopg() -> psycopg.Connection:
    connection.ensure_connection()
    return connection.connection


def _prepared_here() -> list[str]:
    """Statement texts prepared on this connection by the listener's code."""
    return [
        row[0]
        for row in _psycopg().execute(
            "SELECT statement FROM pg_prepared_statements "
            "WHERE name LIKE 'hl7%%' ORDER BY prepare_time"
        )
    ]


def test_values_go_and_come_back_as_psycopg_makes_them():
    sent = [
        "Ærøskøbing, 東京",
        2**40,
        7,
        None,
        b"\x0bMSH|\x00\xff",
        dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        Jsonb([{"system": "urn:mrn", "value": "A-1"}]),
    ]
    (answer,) = wire.exchange(
        _psycopg(),
        [("SELECT %s::text, %s::bigint, %s::int, %s::text, %s, %s, %s", sent)],
        prepare=True,
    )
    row = wire.rows(answer, _psycopg())[0]
    assert row[:5] == ("Ærøskøbing, 東京", 2**40, 7, None, b"\x0bMSH|\x00\xff")
    assert row[5] == dt.datetime(2026, 11, 30, 8, 15, tzinfo=dt.UTC)
    # As Django loads JSON: the text, which its JSONField then reads.
    assert json.loads(row[6]) == [{"system": "urn:mrn", "value": "A-1"}]


def test_a_statement_is_prepared_once_then_run_by_name_unless_turned_off(settings):
    for number in (1, 2, 3):
        assert statements.run(connection, "SELECT %s + 1", [number], fetch=True) == [
            (number + 1,)
        ]
    assert _prepared_here() == ["SELECT $1 + 1"]
    settings.HL7_PREPARED_STATEMENTS = False  # behind PgBouncer in transaction mode
    assert statements.run(connection, "SELECT %s * 2", [4], fetch=True) == [(8,)]
    assert _prepared_here() == ["SELECT $1 + 1"]


def test_a_failing_statement_raises_its_error_and_those_after_it_do_not_run():
    _psycopg().execute("CREATE TEMPORARY TABLE seen (name text PRIMARY KEY)")
    sql = "INSERT INTO seen (name) VALUES (%s)"
    statements.run(connection, sql, ["hl7"])

    def three_in_one_round_trip():
        with transaction.atomic(), statements.batched():
            for name in ("fhir", "hl7", "bulk"):
                statements.run(connection, sql, [name])  # each waits for the next
            statements.send(commit=True)

    with pytest.raises(IntegrityError):
        three_in_one_round_trip()
    assert statements.run(connection, "SELECT name FROM seen", [], fetch=True) == [
        ("hl7",)
    ]


def test_statements_are_prepared_anew_now_and_then_and_the_old_ones_closed(
    monkeypatch,
):
    """A plan is made for the tables' sizes when its statement is prepared:
    one made on a nearly empty table would scan it whole once it has grown.
    Each renewal closes the statements it replaces, so none pile up."""
    monkeypatch.setattr(wire, "_RENEW_AFTER", (3, 3600.0))
    names = []
    for number in range(7):
        assert statements.run(connection, "SELECT %s + 1", [number], fetch=True) == [
            (number + 1,)
        ]
        assert _prepared_here() == ["SELECT $1 + 1"]
        names.append(
            _psycopg()
            .execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'hl7%%'")
            .fetchone()[0]
        )
    assert len(set(names)) == 3  # prepared at the 1st, 3rd and 6th round trips


def test_a_statement_the_server_no_longer_has_is_prepared_again():
    assert statements.run(connection, "SELECT %s::text", ["a"], fetch=True) == [("a",)]
    _psycopg().execute("DEALLOCATE ALL")  # as a pooler resetting the session may
    with pytest.raises(Exception, match="does not exist"):
        statements.run(connection, "SELECT %s::text", ["b"], fetch=True)
    assert statements.run(connection, "SELECT %s::text", ["c"], fetch=True) == [("c",)]


def test_a_value_that_cannot_be_sent_leaves_the_connection_as_it_was():
    with pytest.raises(psycopg.ProgrammingError, match="cannot adapt"):
        wire.exchange(_psycopg(), [("SELECT %s", [object()])], prepare=True)
    assert _psycopg().pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    assert statements.run(connection, "SELECT 1", [], fetch=True) == [(1,)]


@pytest.mark.usefixtures("connection_replaced_after")
def test_a_connection_lost_in_a_round_trip_is_closed_not_left_half_way(
    test_database_url,
):
    backend = _psycopg().info.backend_pid
    with psycopg.connect(test_database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])
    with pytest.raises(psycopg.OperationalError):
        wire.exchange(_psycopg(), [("SELECT 1", [])], prepare=True)
    assert _psycopg().closed
    connection.close()
    assert statements.run(connection, "SELECT 1", [], fetch=True) == [(1,)]


def test_only_placeholders_are_numbered():
    assert wire._numbered("SELECT %s, '100%%', %s") == b"SELECT $1, '100%', $2"
    with pytest.raises(ValueError, match="%d"):
        wire._numbered("SELECT %d")


def test_a_transaction_begins_as_psycopg_would_begin_it(test_database_url):
    """Outside autocommit, the round trip begins the transaction with the
    connection's isolation level and access mode, as psycopg's BEGIN does."""
    with psycopg.connect(test_database_url) as own:
        own.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        own.read_only = True
        answers = wire.exchange(
            own,
            [("SHOW transaction_isolation", []), ("SHOW transaction_read_only", [])],
            prepare=False,
        )
        assert [wire.rows(answer, own) for answer in answers] == [
            [("serializable",)],
            [("on",)],
        ]
        assert own.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
