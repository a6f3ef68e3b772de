"""The HL7 listener's rows: a message reads and writes a handful of rows,
each once, in plain SQL made from the models' ``_meta`` on Django's
connection (building them through the ORM cost several times the
statements themselves, bench/mllp.py). Errors are Django's
(``IntegrityError``...).

On PostgreSQL a message's statements run in psycopg's pipeline mode
(``pipeline``), from its store to the end of its transaction: the store,
in a transaction of its own, goes with the BEGIN and the first reads; a
write does not wait but goes with the next statement whose answer is
needed; the COMMIT goes with the last writes. The reads a handler needs at
one point go together (``find``). A message so takes two round trips
(stored and read, written), one more for a read that needs another's
answer or a new row whose id is used (``insert_row``; ``add_row`` does not
wait). Django's ``atomic``, or psycopg's ``transaction()``, would add two
(a wait for the BEGIN, and one before the COMMIT), and the ORM reads an
UPDATE's row count before the pipeline has it: no statement of Django's
may run inside ``transaction`` (it raises, ``_no_orm``). Elsewhere (SQLite)
``transaction`` is Django's ``atomic``.
"""

import contextlib
import functools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import NamedTuple

import psycopg
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    OperationalError,
    connections,
    models,
)
from django.db import transaction as django


class Read(NamedTuple):
    """A read a message makes: the rows of ``model`` matching ``where`` (SQL
    on its columns, with ``params``), locked or not, in ``order``."""

    model: type[models.Model]
    where: str
    params: tuple
    lock: bool = False
    order: str = "id"
    limit: int | None = None


def read(model: type[models.Model], where: str, params: Iterable, **options) -> Read:
    return Read(model, where, tuple(params), **options)


def one(model: type[models.Model], where: str, params: Iterable, **options) -> Read:
    """The read of the first matching row."""
    return Read(model, where, tuple(params), limit=1, **options)


class Found(dict):
    """Rows of reads sent together (``find``), by read. Each read's rows are
    taken once: asked for again (a write since may have changed them), or
    not among them, the read is made then."""

    def all(self, read: Read) -> list:
        found = self.pop(read, None)
        return found if found is not None else find(read).pop(read)

    def first(self, read: Read | None) -> models.Model | None:
        if read is None:
            return None
        return next(iter(self.all(read)), None)


def find(*reads: Read | None) -> Found:
    """Make ``reads`` (None: not this one) in one round trip, in the order
    given (locks are taken in that order); their rows, as instances."""
    reads = list(dict.fromkeys(r for r in reads if r is not None))
    db = _db()
    made = [_select_sql(r.model, r.where, r.lock, r.order, r.limit) for r in reads]
    statements = [(sql, r.params) for (sql, _load), r in zip(made, reads, strict=True)]
    answers = _run(db, statements, True)
    return Found(
        (r, [load(row, db) for row in rows])
        for r, (_sql, load), rows in zip(reads, made, answers, strict=True)
    )


def first(read: Read) -> models.Model | None:
    """The first row ``read`` finds (made with ``one``), else None."""
    return find(read).first(read)


def insert_row(model: type[models.Model], values: dict) -> models.Model:
    """A new row of ``values`` (the model's defaults for the rest); the
    instance, as ``create()`` would return it. Waits for its id."""
    _defaults(model, values)
    db = _db()
    sql, params = _write(db, model, values, "", insert=True)
    (((pk,),),) = _run(db, [(sql, params)], True)
    return _instance(model, pk, values)


def add_row(model: type[models.Model], values: dict) -> models.Model:
    """A new row whose id nothing in this message uses (nothing it makes
    points to it): as ``insert_row``, but within ``transaction`` it does not
    wait for its id, as ``save_row``; the instance has none."""
    _defaults(model, values)
    db = _db()
    sql, params = _write(db, model, values, "", insert=True)
    _run(db, [(sql, params)], False)
    return _instance(model, None, values)


def save_row(
    model: type[models.Model], pk: int, values: dict, *, increment: str = ""
) -> None:
    """UPDATE one row's ``values``; ``increment``: a counter column to add
    one to. Within ``transaction`` it does not wait for its answer."""
    db = _db()
    sql, params = _write(db, model, values, increment, insert=False)
    _run(db, [(sql, [*params, pk])], False)


def delete_rows(model: type[models.Model], where: str, params: Iterable) -> None:
    """DELETE ``model``'s rows matching ``where``; without waiting, as
    ``save_row``. Rows that point to them go with them (each model this feed
    deletes from is a list of a patient's, with nothing pointing to it)."""
    db = _db()
    table = db.ops.quote_name(model._meta.db_table)
    _run(db, [(f"DELETE FROM {table} WHERE {where}", list(params))], False)  # noqa: S608


def execute(sql: str, params: Iterable, *, answer: bool = True) -> list[tuple]:
    """One statement of the listener's own; its rows. ``answer`` False:
    within ``transaction`` it does not wait for them, as ``save_row``."""
    db = _db()
    return _run(db, [(sql, list(params))], answer)[0]


class Pipeline:
    """One message's statements in psycopg's pipeline mode, from its store
    to the end of its transaction: what each sends goes with the next
    statement whose answer is awaited, and ``close`` (leaving pipeline
    mode) waits for every answer."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(connection.pipeline())

    @property
    def open(self) -> bool:
        return bool(self.connection.pgconn.pipeline_status)

    def close(self, error: BaseException | None = None) -> None:
        """Leave pipeline mode. With the ``error`` being raised, a second
        one from the answers still awaited is logged, not raised."""
        if error is None:
            self._stack.close()
        else:
            self._stack.__exit__(type(error), error, error.__traceback__)


@contextlib.contextmanager
def pipeline() -> Iterator[Pipeline | None]:
    """A message's ``Pipeline``, closed at the end if it is still open.
    None where there is none: not PostgreSQL, or inside Django's ``atomic``
    (a test's)."""
    db = _db()
    if db.vendor != "postgresql" or db.in_atomic_block:
        yield None
        return
    db.ensure_connection()
    with db.wrap_database_errors:
        message = Pipeline(db.connection)
        try:
            yield message
        except BaseException as error:
            message.close(error)
            raise
        message.close()


def lost() -> bool:
    """The database ended this connection (a restart): it is closed, and the
    next statement opens a new one."""
    db = _db()
    if db.is_usable():
        return False
    db.close()
    return True


class Stored:
    """A row ``store`` sent: its values as attributes now, its id (``pk``)
    once its answer is in. Within a ``pipeline`` that answer comes with the
    next one awaited; asked for earlier, ``pk`` waits for it."""

    def __init__(self, row: models.Model, cursor: psycopg.Cursor | None) -> None:
        self.row = row
        self._cursor = cursor

    def __getattr__(self, name: str):
        return getattr(self.row, name)

    @property
    def pk(self) -> int:
        """The row's id; ``NotStored`` if no answer came."""
        if self.row.pk is None:
            try:
                ((self.row.pk, _off),) = self._cursor.fetchall()
            except psycopg.Error as error:
                raise NotStored from error
        return self.row.pk

    @property
    def answered(self) -> bool:
        try:
            return self.pk is not None
        except NotStored:
            return False


class NotStored(OperationalError):
    """A row ``store`` sent has no answer: the connection was lost first,
    or the statement failed."""


def store(model: type[models.Model], values: dict, within: Pipeline | None) -> Stored:
    """A new row committed before anything else is done (a message's inbox
    row): outside any transaction, as ``insert_row`` makes it, except that on
    PostgreSQL its commit does not wait for the disk. The next commit on the
    server (the message's apply or failure, before any ACK) flushes it with
    its own, the server's log being written in order: only the server
    crashing within that millisecond loses it, and then the message was not
    acknowledged, so the sender still has it and sends it again.

    ``within`` a pipeline, it is sent with what follows, in a transaction
    of its own that the server commits first."""
    db = _db()
    if within is None:
        return Stored(insert_row(model, values), None)
    _defaults(model, values)
    sql, params = _write(db, model, values, "", insert=True)
    # Off for this statement's own transaction only.
    sql += ", set_config('synchronous_commit', 'off', true)"
    connection = db.connection
    with db.wrap_database_errors:
        connection.execute("BEGIN")
        cursor = psycopg.Cursor(connection)
        cursor.execute(sql, params, prepare=bool(settings.HL7_PREPARED_STATEMENTS))
        connection.execute("COMMIT")
    return Stored(_instance(model, None, values), cursor)


@contextlib.contextmanager
def transaction(within: Pipeline | None = None) -> Iterator[None]:
    """One message's transaction: committed at the end, rolled back whole
    if anything in it raises. On PostgreSQL no statement of the ORM may run
    in it.

    On PostgreSQL it runs in pipeline mode, ``within`` the message's
    pipeline if it is still open, else in one of its own; its BEGIN and
    COMMIT are statements of the pipeline, sent with the reads and writes
    around them (psycopg's ``Connection.transaction()`` syncs the pipeline
    after its BEGIN and before its COMMIT, each a round trip of its own),
    and its end closes the pipeline, waiting for every answer.
    ``rollback()`` clears psycopg's prepared statements (they are prepared
    again). Within Django's ``atomic`` (a test's) it is a savepoint of
    Django's."""
    db = _db()
    postgresql = db.vendor == "postgresql"
    if db.in_atomic_block or not postgresql:
        with contextlib.ExitStack() as stack:
            stack.enter_context(django.atomic())
            if postgresql:
                stack.enter_context(db.wrap_database_errors)
                stack.enter_context(db.connection.pipeline())
                stack.enter_context(db.execute_wrapper(_no_orm))
            yield
        return
    db.ensure_connection()
    connection = db.connection
    if within is None or not within.open:
        within = Pipeline(connection)
    with db.wrap_database_errors:
        try:
            with db.execute_wrapper(_no_orm):
                connection.execute("BEGIN")
                yield
                connection.execute("COMMIT")
            within.close()
        except BaseException as error:
            within.close(error)
            idle = psycopg.pq.TransactionStatus.IDLE
            if connection.info.transaction_status != idle:
                connection.rollback()
            raise


def _no_orm(execute, sql, params, many, context):
    raise RuntimeError(
        "the ORM ran a statement inside an HL7 message's transaction "
        "(rows.transaction): use the statements of rows.py there"
    )


def _db():
    return connections[DEFAULT_DB_ALIAS]


def _run(db, statements: list[tuple[str, list]], answer: bool) -> list[list[tuple]]:
    """Run ``statements``; the rows of each if ``answer``. On PostgreSQL
    each goes by a cursor of its own, so that in pipeline mode all are sent
    before any answer is awaited; each is prepared on the server the first
    time and kept (psycopg's cache of prepared statements, per connection),
    unless HL7_PREPARED_STATEMENTS is off (PgBouncer in transaction mode)."""
    if db.vendor != "postgresql":
        found = []
        with db.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                found.append(cursor.fetchall() if answer else [])
        return found
    db.ensure_connection()
    prepare = bool(settings.HL7_PREPARED_STATEMENTS)
    with db.wrap_database_errors:
        cursors = []
        for sql, params in statements:
            # psycopg's own cursor: Django's binds on the client, and such
            # statements cannot be prepared.
            cursor = psycopg.Cursor(db.connection)
            cursor.execute(sql, params, prepare=prepare)
            cursors.append(cursor)
        return [cursor.fetchall() if answer else [] for cursor in cursors]


# What makes the SQL: made once for each model and set of columns.


def _defaults(model: type[models.Model], values: dict) -> None:
    """Values given by a field's name or attname (``ward`` or ``ward_id``);
    the defaults of the others."""
    for field in model._meta.concrete_fields:
        given = field.name in values or field.attname in values
        if not field.primary_key and not given:
            values[field.name] = field.get_default()


def _instance(model: type[models.Model], pk: int, values: dict) -> models.Model:
    """``model(pk=pk, **values)``, with related rows given as instances kept
    as the related instance."""
    args, related = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            value = pk
        else:
            value = values.get(field.name, values.get(field.attname))
        if field.is_relation and isinstance(value, models.Model):
            related.append((field, value))
            value = value.pk
        args.append(value)
    row = model(*args)
    for field, value in related:
        field.set_cached_value(row, value)
    return row


def _write(db, model, values: dict, increment: str, *, insert: bool):
    """The SQL and parameters of an INSERT or UPDATE (its id not among them)."""
    sql, fields, plain = _statement(model, tuple(values), insert, increment)
    params = []
    for field, kind, value in zip(fields, plain, values.values(), strict=True):
        if field.is_relation and isinstance(value, models.Model):
            value = value.pk
        if type(value) is kind and (kind is not datetime or value.tzinfo):
            params.append(value)  # what preparing it would return
        else:
            params.append(field.get_db_prep_save(value, db))
    return sql, params


@functools.cache
def _statement(model, names: tuple[str, ...], insert: bool, increment: str):
    """The SQL of ``_write``, its fields and, for each, the type of value
    that Django's preparing returns as it is (None: none is): most of a
    message's values are text, ids and aware times, and preparing them cost
    more than the rest of a write."""
    db = _db()
    quote = db.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    plain = [_plain(field, db.vendor) for field in fields]
    columns = [quote(field.column) for field in fields]
    table = quote(model._meta.db_table)
    if insert:
        marks = ", ".join(["%s"] * len(columns))
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) RETURNING id"  # noqa: S608
        )
        return sql, fields, plain
    assignments = ", ".join(f"{column} = %s" for column in columns)
    if increment:
        counter = quote(increment)
        assignments += f", {counter} = {counter} + 1"
    return f"UPDATE {table} SET {assignments} WHERE id = %s", fields, plain  # noqa: S608


def _plain(field: models.Field, vendor: str) -> type | None:
    """The type of value ``field`` sends to the database as it is."""
    kind = type(field.target_field if field.is_relation else field)
    if kind in (models.CharField, models.TextField):
        return str
    if kind in (models.BigAutoField, models.AutoField):
        return int
    if kind is models.DateTimeField and vendor == "postgresql":
        return datetime  # aware ones: psycopg sends them with their offset
    return None


@functools.lru_cache(maxsize=512)
def _select_sql(model, where: str, lock: bool, order: str, limit):
    """The SQL of a read and what makes instances of its rows."""
    db = _db()
    columns, load = _loader(model)
    sql = f"SELECT {columns} FROM {db.ops.quote_name(model._meta.db_table)} "  # noqa: S608
    sql += f"WHERE {where} ORDER BY {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    if lock and db.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql, load


@functools.cache
def _loader(model: type[models.Model]):
    """The column list of ``model`` and what makes an instance of a row of
    them: values converted as the ORM converts them (JSON text, SQLite's
    dates), then ``Model.from_db``, as a queryset does."""
    db = _db()
    fields = model._meta.concrete_fields
    names = [field.attname for field in fields]
    columns = ", ".join(db.ops.quote_name(field.column) for field in fields)
    converting = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if found:
            converting.append((index, column, found))

    def load(row: tuple, db) -> models.Model:
        values = list(row)
        for index, column, converters in converting:
            for convert in converters:
                values[index] = convert(values[index], column, db)
        return model.from_db(db.alias, names, values)

    return columns, load
