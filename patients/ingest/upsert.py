"""Writing a chunk of mirrored rows in one statement.

On PostgreSQL the rows are copied (``COPY``) into a temporary table and
merged from there with ``INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING``:
no model instances, no per-value conversion in Python, no query text with
tens of thousands of parameters. Other databases (SQLite, for the demo) use
Django's ``bulk_create`` with the same conflict rule.
"""

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

KEY = ("source_type", "source_id")


def upsert(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert or update ``rows`` (field attname -> value); {source id: pk}.

    Each row names its fields by attname (``patient_id``); fields it leaves
    out take the model's default. Call inside a transaction.
    """
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        return _copy_and_merge(model, rows)
    model.objects.bulk_create(
        [model(**row) for row in rows],
        update_conflicts=True,
        unique_fields=list(KEY),
        update_fields=[f.name for f in _columns(model) if f.name not in KEY],
    )
    return _pks(model, rows)


def _copy_and_merge(model, rows) -> dict[str, int]:
    fields = _columns(model)
    defaults = [f.get_default() for f in fields]
    is_json = [isinstance(f, models.JSONField) for f in fields]
    table = Identifier(model._meta.db_table)
    stage = Identifier(f"stage_{model._meta.db_table}")
    columns = SQL(", ").join(Identifier(f.column) for f in fields)
    updates = SQL(", ").join(
        SQL("{0} = EXCLUDED.{0}").format(Identifier(f.column))
        for f in fields
        if f.name not in KEY
    )
    # psycopg's own cursor, its errors raised as Django's (IntegrityError...)
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        cursor.execute(SQL("DROP TABLE IF EXISTS pg_temp.{}").format(stage))
        cursor.execute(
            SQL("CREATE TEMPORARY TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                stage, columns, table
            )
        )
        with cursor.copy(SQL("COPY {} ({}) FROM STDIN").format(stage, columns)) as copy:
            for row in rows:
                values = []
                for f, default, json_field in zip(
                    fields, defaults, is_json, strict=True
                ):
                    value = row.get(f.attname, default)
                    # A NUL, which PostgreSQL refuses, never gets here: the
                    # importer holds the resource (sources.content_problem).
                    values.append(Jsonb(value) if json_field else value)
                copy.write_row(values)
        # The importer compares versions before it writes; the WHERE keeps a
        # concurrent import of an older copy from overwriting a newer one
        # between that comparison and this statement.
        cursor.execute(
            SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT (source_type, source_id) DO UPDATE SET {updates} "
                "WHERE {table}.source_updated_at IS NULL "
                "OR EXCLUDED.source_updated_at IS NULL "
                "OR EXCLUDED.source_updated_at >= {table}.source_updated_at "
                "RETURNING source_id, id"
            ).format(table=table, columns=columns, stage=stage, updates=updates)
        )
        pks = dict(cursor.fetchall())
        if len(pks) < len(rows):  # some were older: their rows' ids still
            cursor.execute(
                SQL(
                    "SELECT t.source_id, t.id FROM {table} t JOIN {stage} s "
                    "ON t.source_type = s.source_type AND t.source_id = s.source_id"
                ).format(table=table, stage=stage)
            )
            pks = dict(cursor.fetchall())
        cursor.execute(SQL("DROP TABLE {}").format(stage))
    return pks


def existing(
    model: type[models.Model], source_type: str, ids: Sequence[str]
) -> dict[str, tuple[int, str, Any]]:
    """{source id: (pk, hash, resource digest, source updated at)} of the
    rows already there."""
    if connection.vendor != "postgresql":
        return {
            source_id: tuple(rest)
            for source_id, *rest in model.objects.filter(
                source_type=source_type, source_id__in=ids
            ).values_list(
                "source_id", "pk", "source_hash", "source_digest", "source_updated_at"
            )
        }
    # One array parameter rather than a thousand: much less to build and parse.
    query = SQL(
        "SELECT source_id, id, source_hash, source_digest, source_updated_at FROM {} "
        "WHERE source_type = %s AND source_id = ANY(%s)"
    ).format(Identifier(model._meta.db_table))
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        rows = wrapper.cursor.execute(query, (source_type, list(ids))).fetchall()
    return {source_id: tuple(rest) for source_id, *rest in rows}


def refresh_statistics(tables: Iterable[type[models.Model]]) -> None:
    """ANALYZE tables after a large load, before autovacuum gets to them.

    Until then PostgreSQL plans with the statistics of a nearly empty table,
    and looking rows up by source id scans the whole type.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(SQL("ANALYZE {}").format(Identifier(model._meta.db_table)))


def _pks(model, rows) -> dict[str, int]:
    kinds = {row["source_type"] for row in rows}
    ids = [row["source_id"] for row in rows]
    return dict(
        model.objects.filter(source_type__in=kinds, source_id__in=ids).values_list(
            "source_id", "pk"
        )
    )


@cache
def _columns(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]
