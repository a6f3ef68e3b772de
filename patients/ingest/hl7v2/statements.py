"""The HL7 listener's SQL: a message's rows read and written in plain SQL
on Django's connection, and on PostgreSQL sent together (``batched``,
``ahead``) straight through libpq (wire.py): a message reads and writes a
handful of rows once each, where Django's ORM cost several times the
statements themselves (bench/mllp.py). Errors are still Django's
(``IntegrityError``...)."""

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    connections,
    models,
)

from patients.ingest.hl7v2 import wire


def insert_row(
    model: type[models.Model], values: dict, *, flushed: bool = True
) -> models.Model:
    """A new row of ``values`` (the model's defaults for the rest), in plain
    SQL; the instance, as ``create()`` would return it. ``flushed`` False,
    outside a transaction on PostgreSQL: committed without waiting for the
    disk (``synchronous_commit`` off for this statement alone); the next
    ordinary commit on the server flushes it with its own."""
    _defaults(model, values)
    return _instance(model, save_row(model, None, values, flushed=flushed), values)


def _defaults(model: type[models.Model], values: dict) -> None:
    for field in model._meta.concrete_fields:
        if not field.primary_key and field.name not in values:
            values[field.name] = field.get_default()


def store_first(model: type[models.Model], values: dict) -> models.Model:
    """A new row that must be committed before anything else is done on the
    connection (a message's inbox row), as ``insert_row(flushed=False)``
    makes it. On PostgreSQL, outside a transaction, its INSERT waits for the
    statements that come next and goes first in their round trip, in a
    transaction of its own that the server commits before it begins the
    next (``ahead``): a round trip a message fewer. Its id is set once it
    has been sent; ``stored`` sends it by itself, and ``discard`` forgets it
    if nothing came next.

    Its commit does not wait for the disk: the next commit on the server,
    of the apply or of the failure, before any ACK, flushes it with its own
    (the server's log is written in order). The listener dying meanwhile
    loses nothing; only the database server crashing within that
    millisecond loses the row, of a message not yet acknowledged, which the
    sender therefore still has and sends again."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.in_atomic_block or _waiting() is not None:
        return insert_row(model, values, flushed=False)
    _defaults(model, values)
    sql, params = _write(db, model, values, True, "", True)
    row = _instance(model, None, values)
    _LOCAL.first = (sql, params, row)
    return row


def stored() -> None:
    """Send the row ``store_first`` keeps, if it is still waiting: alone, or
    at the start of a transaction, committed before it in the round trip of
    the transaction's BEGIN. A connection the database has ended (a
    restart), outside a transaction, is replaced once."""
    if pending():
        db = connections[DEFAULT_DB_ALIAS]
        try:
            _send_stored(db)
        except (OperationalError, InterfaceError):
            if db.in_atomic_block or usable(db):
                raise
            db.close()
            _send_stored(db)


def usable(db) -> bool:
    """The connection is open and answers."""
    return db.connection is not None and db.is_usable()


def _send_stored(db) -> None:
    if db.connection is None:
        db.ensure_connection()
    if db.connection.autocommit:  # committed as it runs
        _took(_exchange(db, [_LOCAL.first[:2]])[0], db)
    else:
        _exchange(db, _first(db), first=True)


def pending() -> bool:
    """A row ``store_first`` keeps has not been sent yet."""
    return getattr(_LOCAL, "first", None) is not None


def discard() -> None:
    """Forget a row ``store_first`` keeps that was never sent (its message
    had no answer: the sender still has it and sends it again)."""
    _LOCAL.first = None


def _first(db) -> list[tuple[str, list]]:
    """The statements of the row kept, committed on its own, in a transaction
    begun before them; then the transaction begins again (``_exchange`` with
    ``first``)."""
    begin = wire.begin_command(db.connection)
    return [_LOCAL.first[:2], ("COMMIT", []), (begin, [])]


def _took(answer, db) -> None:
    """The row kept is stored: its id, from its INSERT's answer."""
    _LOCAL.first[2].pk = wire.rows(answer, db.connection)[0][0]
    _LOCAL.first = None


def _instance(model: type[models.Model], pk: int | None, values: dict) -> models.Model:
    """``model(pk=pk, **values)``, built as a queryset builds its rows: from
    the values in the fields' order, rows named by their id, and those given
    as instances kept as the related instance (about half the time)."""
    args, related = [], []
    for field in model._meta.concrete_fields:
        value = pk if field.primary_key else values[field.name]
        if field.is_relation and isinstance(value, models.Model):
            related.append((field, value))
            value = value.pk
        args.append(value)
    row = model(*args)
    for field, value in related:
        field.set_cached_value(row, value)
    return row


def save_row(
    model: type[models.Model],
    pk: int | None,
    values: dict,
    *,
    increment: str = "",
    flushed: bool = True,
) -> int:
    """INSERT (``pk`` None) or UPDATE one row in plain SQL; its pk.
    ``increment``: a counter column the UPDATE adds one to; ``flushed``: as
    for ``insert_row``.

    A message writes a handful of rows, each once: building the statement
    through Django's ORM cost several times the statement itself
    (bench/mllp.py).
    """
    db = connections[DEFAULT_DB_ALIAS]
    unflushed = not (flushed or db.in_atomic_block or db.vendor != "postgresql")
    new = pk is None
    if new and _waiting() is not None:  # the INSERT can wait too: no answer
        pk = _next_id(db, model)
        values = {model._meta.pk.name: pk, **values}
    sql, params = _write(db, model, values, new, increment, unflushed)
    if pk is None:
        return run(db, sql, params, fetch=True)[0][0]
    run(db, sql, params if new else [*params, pk])
    return pk


def _write(db, model, values: dict, new: bool, increment: str, unflushed: bool):
    """The SQL and parameters of ``save_row`` (an UPDATE's id not among them)."""
    sql, fields, plain = _statement(model, tuple(values), new, increment, unflushed)
    params = []
    for field, kind, value in zip(fields, plain, values.values(), strict=True):
        if field.is_relation and isinstance(value, models.Model):
            value = value.pk
        if type(value) is kind and (kind is not datetime or value.tzinfo):
            params.append(value)  # what preparing it would return
        else:
            params.append(field.get_db_prep_save(value, db))
    return sql, params


def _next_id(db, model: type[models.Model]) -> int:
    """A new row's id, drawn from its table's sequence ahead of the INSERT,
    ``_IDS_AHEAD`` at a time for each connection (those drawn and not used
    when it closes are gaps in the numbering, as a rolled-back INSERT leaves).
    Across connections ids are then not in the order rows are made: events
    are ordered by their times (source_updated_at, admitted_at), and an id
    only breaks a tie between rows those times cannot tell apart."""
    ids = _IDS.setdefault(db.connection, {}).setdefault(model, [])
    if not ids:
        rows = run(
            db,
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
            "FROM generate_series(1, %s) ORDER BY 1 DESC",
            [model._meta.db_table, model._meta.pk.column, _IDS_AHEAD],
            fetch=True,
        )
        ids.extend(row[0] for row in rows)
    return ids.pop()


_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_IDS_AHEAD = 32


@functools.cache
def _statement(
    model: type[models.Model],
    names: tuple[str, ...],
    insert: bool,
    increment: str,
    unflushed: bool,
) -> tuple[str, list, list]:
    """The SQL of ``save_row``, the fields of its values and, for each, the
    type of value that Django's preparing would return as it is (None: none
    is), made once: most of a message's values are text, ids and aware
    times, and preparing them cost more than the rest of a write."""
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    plain = [_plain(field, db.vendor) for field in fields]
    columns = [quote(field.column) for field in fields]
    table = quote(model._meta.db_table)
    if insert:
        returning = "id"
        if unflushed:  # this statement's own transaction, and only its
            returning += ", set_config('synchronous_commit', 'off', true)"
        return (
            (
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - our columns
                f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {returning}"
            ),
            fields,
            plain,
        )
    assignments = ", ".join(f"{column} = %s" for column in columns)
    if increment:
        counter = quote(increment)
        assignments += f", {counter} = {counter} + 1"
    sql = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608
    return sql, fields, plain


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


def run(db, sql: str, params: list, *, fetch: bool = False) -> list:
    """Run one of the listener's statements; its rows if ``fetch``.

    On PostgreSQL, straight through libpq (wire.py) rather than a cursor
    and Django's wrapper around it for every statement (each statement's
    SQL made once: a message's instructions from 8.0 to 6.3 million,
    callgrind over bench/mllp.py's messages; later, from 3.47 to 2.75
    million without psycopg's cursors). Errors are still Django's
    (``IntegrityError``...), and still mark the connection as having failed."""
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else []
    stored()
    waiting = _waiting()
    if waiting is not None and not sql.startswith("SELECT"):
        _forget(sql)
        if not fetch:
            waiting.append((sql, params))
            return []
    statements = [*_taken(waiting), (sql, params)]
    answer = _exchange(db, statements)[-1]
    return wire.rows(answer, db.connection) if fetch else []


def _exchange(db, statements: list, *, first: bool = False) -> list:
    """``statements`` in one round trip (wire.exchange); their answers, or
    the error of the one that failed, as Django's. ``first``: the first
    three are the row kept's (``_first``), which is stored once its INSERT
    and its COMMIT answered, whatever came after them."""
    if db.connection is None:
        db.ensure_connection()
    with db.wrap_database_errors:
        answers = wire.exchange(
            db.connection, statements, prepare=settings.HL7_PREPARED_STATEMENTS
        )
        if first and wire.answered(answers[0]) and wire.answered(answers[1]):
            _took(answers[0], db)
        wire.raise_first(answers, db.connection)
    return answers


def _taken(waiting: list | None) -> list:
    """The writes waiting, now to be sent: if one fails, the transaction is
    rolled back whole."""
    if not waiting:
        return []
    taken = list(waiting)
    waiting.clear()
    return taken


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Within it (a message's transaction), writes wait: each is sent with
    the next read, or with the others by ``send``, in one round trip
    (libpq's pipeline mode, wire.py); the reads the message is about to make go
    together first (``mirror.read_ahead``). A message took 8 to 10 round
    trips one after the other, and takes 3 or 4 with the inbox row's:
    bench/mllp.py applies about 14% more a second on a 2-core machine whose
    database is on the same host, where the two ends' work, more than the
    waiting, is most of a message; more where the database is across a
    network. Django's own queries (the ORM's) send the writes waiting
    first, so everything runs in the order written.

    New rows' ids are drawn ahead (``_next_id``), so no INSERT waits for its
    answer. A write that fails raises with the read or ``send`` it went
    with, inside the same transaction, which is then rolled back whole as
    before. Only on PostgreSQL: elsewhere each write is sent at once."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or _waiting() is not None:
        yield
        return
    _LOCAL.waiting, _LOCAL.ahead = [], {}
    try:
        with db.execute_wrapper(_send_first):
            yield
    finally:
        _LOCAL.waiting, _LOCAL.ahead = None, {}


def send(*, commit: bool = False) -> None:
    """Send the writes waiting; ``commit``: with the COMMIT, in the same round
    trip, when the transaction is the outermost (Django's commit then finds
    nothing to do); within another (a test's), Django releases its savepoint
    as usual."""
    db = connections[DEFAULT_DB_ALIAS]
    waiting = _waiting()
    if waiting is None:
        return
    commit = commit and len(db.atomic_blocks) == 1 and not db.savepoint_ids
    if waiting or commit:
        # COMMIT as a statement: commit() would wait for it on its own.
        _exchange(db, _taken(waiting) + ([("COMMIT", [])] if commit else []))


def _send_first(execute, sql, params, many, context):
    """Django's queries within ``batched``: the row kept and the writes
    waiting go first."""
    stored()
    if not sql.startswith("SELECT"):
        _forget(sql)
    if waiting := _waiting():
        _exchange(context["connection"], _taken(waiting))
    return execute(sql, params, many, context)


def _waiting() -> list | None:
    return getattr(_LOCAL, "waiting", None)


class Read(NamedTuple):
    """A read a message makes: the rows of ``model`` matching ``where`` (SQL
    on its columns, with ``params``), locked or not, in ``order``."""

    model: type[models.Model]
    where: str
    params: list
    lock: bool = False
    order: str = "id"
    limit: int | None = None


def one(model: type[models.Model], where: str, params: list, **options) -> Read:
    """The read of the first matching row, as ``fetch`` makes it."""
    return Read(model, where, params, limit=1, **options)


def ahead(*reads: Read | None) -> None:
    """Send the reads a message is about to make (None: not this one) with
    its transaction's BEGIN, in one round trip, as the first statements of
    the transaction, in the order given (locks are taken in that order, as
    the reads one by one took them). ``fetch`` and ``fetch_all`` then take
    their rows from here, each read once, unless a write to its table came
    between (the rows could have changed): that read is made again.

    Only at the start of a ``batched`` transaction (``mirror.read_ahead``)."""
    reads = [read for read in reads if read is not None]
    waiting = _waiting()
    if not reads or waiting is None or waiting or _LOCAL.ahead:
        return
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    first = _first(db) if pending() else []
    selects = [(_select(read, db.vendor)[0], read.params) for read in reads]
    answers = _exchange(db, first + selects, first=bool(first))[len(first) :]
    _LOCAL.ahead = {
        (sql, tuple(params)): (
            read.model._meta.db_table,
            wire.rows(answer, db.connection),
        )
        for (sql, params), read, answer in zip(selects, reads, answers, strict=True)
    }


def _forget(sql: str) -> None:
    """Before a write (``sql``): the reads made ahead of its table, which it
    may change, are made again if needed."""
    ahead = getattr(_LOCAL, "ahead", None)
    if ahead:
        for key, (table, _rows) in list(ahead.items()):
            if table in sql:
                del ahead[key]


_LOCAL = threading.local()  # a worker thread's, as its Django connection is


def fetch(read: Read) -> models.Model | None:
    """The first row ``read`` finds (made with ``one``), else None."""
    return next(iter(fetch_all(read)), None)


def fetch_all(read: Read) -> list:
    """The rows ``read`` finds, as instances. A message reads a few rows once
    each: a queryset's compiling cost twice the query, and ``raw()``
    building its instances as much again (bench/mllp.py)."""
    db = connections[DEFAULT_DB_ALIAS]
    sql, load = _select(read, db.vendor)
    ahead = getattr(_LOCAL, "ahead", None)
    found = ahead.pop((sql, tuple(read.params)), None) if ahead else None
    rows = found[1] if found else run(db, sql, read.params, fetch=True)
    return [load(row, db) for row in rows]


def _select(read: Read, vendor: str) -> tuple[str, Callable]:
    return _select_sql(
        read.model, read.where, read.lock, read.order, read.limit, vendor
    )


@functools.lru_cache(maxsize=512)
def _select_sql(model, where: str, lock: bool, order: str, limit, vendor: str):
    """The SQL of a read and what makes instances of its rows, made once."""
    db = connections[DEFAULT_DB_ALIAS]
    columns, load = _loader(model, vendor)
    sql = f"SELECT {columns} FROM {db.ops.quote_name(model._meta.db_table)} "  # noqa: S608
    sql += f"WHERE {where} ORDER BY {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    if lock and db.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql, load


@functools.cache
def _loader(model: type[models.Model], vendor: str) -> tuple[str, Callable]:
    """The column list of ``model`` and what makes an instance of a row of
    them: the database's values converted as the ORM converts them (JSON
    text, SQLite's dates) and ``Model.from_db``, as a queryset does."""
    db = connections[DEFAULT_DB_ALIAS]
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
