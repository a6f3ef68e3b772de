"""The mirror's rows as HL7 v2 segments describe them: patients (PID),
clinicians (XCN), locations (PL). Every write keeps ``source_hash`` and
``source_updated_at`` (the event's time) as the FHIR importer does, so pack
digests see the change and an older event never overwrites a newer one."""

import contextlib
import functools
import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils import timezone
from psycopg.types.datetime import TimestamptzLoader

from patients.ingest import values
from patients.ingest.hl7v2.message import Code, Message, Problem
from patients.models import Clinician, Location, Patient, Sex

FEED = "hl7"
_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER}


def write(
    model: type[models.Model],
    current: models.Model | None,
    key: tuple[str, str],
    fields: dict,
    event_at: datetime,
) -> tuple[models.Model, str]:
    """Create or update one mirrored row; (row, "new" | "updated" |
    "unchanged" | "older"). ``key``: (source type, source id) of a new row."""
    digest = content_hash(fields)
    if current is not None:
        if current.source_hash == digest:
            return current, "unchanged"
        if current.source_updated_at and event_at < current.source_updated_at:
            return current, "older"
        values = {
            **fields,
            "source_hash": digest,
            "source_updated_at": event_at,
            "received_at": timezone.now(),
        }
        for name, value in values.items():
            setattr(current, name, value)
        save_row(model, current.pk, values)
        return current, "updated"
    values = {
        "source_feed": FEED,
        "source_type": key[0],
        "source_id": key[1][:128],
        "source_updated_at": event_at,
        "source_hash": digest,
        "received_at": timezone.now(),
        **fields,
    }
    return insert_row(model, values), "new"


def insert_row(
    model: type[models.Model], values: dict, *, flushed: bool = True
) -> models.Model:
    """A new row of ``values`` (the model's defaults for the rest), in plain
    SQL; the instance, as ``create()`` would return it. ``flushed`` False,
    outside a transaction on PostgreSQL: committed without waiting for the
    disk (``synchronous_commit`` off for this statement alone); the next
    ordinary commit on the server flushes it with its own."""
    for field in model._meta.concrete_fields:
        if not field.primary_key and field.name not in values:
            values[field.name] = field.get_default()
    return model(pk=save_row(model, None, values, flushed=flushed), **values)


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
    sql, fields = _statement(model, tuple(values), new, increment, unflushed)
    params = []
    for field, value in zip(fields, values.values(), strict=True):
        if field.is_relation and isinstance(value, models.Model):
            value = value.pk
        params.append(field.get_db_prep_save(value, db))
    if pk is None:
        return run(db, sql, params, fetch=True)[0][0]
    run(db, sql, params if new else [*params, pk])
    return pk


def _next_id(db, model: type[models.Model]) -> int:
    """A new row's id, drawn from its table's sequence ahead of the INSERT,
    ``_IDS_AHEAD`` at a time for each connection (those drawn and not used
    when it closes are gaps in the numbering, as a rolled-back INSERT leaves).
    Ids are not in the order rows are made across connections: nothing reads
    them as an order of events (received_at, source_updated_at are)."""
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
) -> tuple[str, list]:
    """The SQL of ``save_row`` and the fields of its values, made once."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    columns = [quote(field.column) for field in fields]
    table = quote(model._meta.db_table)
    if insert:
        returning = "id"
        if unflushed:  # this statement's own transaction, and only its
            returning += ", set_config('synchronous_commit', 'off', true)"
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - our columns
            f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {returning}"
        ), fields
    assignments = ", ".join(f"{column} = %s" for column in columns)
    if increment:
        counter = quote(increment)
        assignments += f", {counter} = {counter} + 1"
    return f"UPDATE {table} SET {assignments} WHERE id = %s", fields  # noqa: S608


def run(db, sql: str, params: list, *, fetch: bool = False) -> list:
    """Run one of the listener's statements; its rows if ``fetch``.

    On PostgreSQL, through a psycopg cursor kept with the connection rather
    than a new cursor and Django's wrapper around it for every statement,
    and reading timestamps with psycopg's compiled loader where Django's
    own is in Python (with each statement's SQL made once: a message's
    instructions from 8.0 to 6.3 million, callgrind over bench/mllp.py's
    messages).
    Errors are still Django's (``IntegrityError``...), and still mark the
    connection as having failed."""
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else []
    waiting = _waiting()
    if waiting is not None and not sql.startswith("SELECT"):
        _forget(sql)
        if not fetch:
            waiting.append((sql, params))
            return []
    reads, writes = _cursors(db, 2)[:2]
    with db.wrap_database_errors:
        if waiting:
            _send(db.connection, writes, waiting, (reads, sql, params))
        else:
            reads.execute(sql, params)
        return reads.fetchall() if fetch else []


def _cursors(db, count: int) -> list:
    """The connection's first ``count`` kept cursors: the first for reads,
    the second for the writes sent ahead of a read (their answers are not
    read), more for reads sent together (``ahead``), one cursor each."""
    if db.connection is None:
        db.ensure_connection()
    kept = _CURSORS.get(db.connection)
    if kept is None or kept[0].closed:
        kept = _CURSORS[db.connection] = []
    while len(kept) < count:
        cursor = db.connection.cursor()
        # Aware datetimes in UTC, the connection's time zone, as Django's are.
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        kept.append(cursor)
    return kept


_CURSORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Within it (a message's transaction), writes wait: each is sent with
    the next read, or with the others by ``send``, in one round trip
    (psycopg's pipeline mode); reads the message is about to make go
    together first (``read_ahead``). A message took 8 to 10 round trips one
    after the other, and takes 3 or 4 (with the inbox row's): bench/mllp.py
    applies 8 to 15% more a second on a 2-core machine whose database is on
    the same host, where the two ends' work, more than the waiting, is most
    of a message; more where the database is across a network. Django's own
    queries (the ORM's) send the writes waiting first, so everything runs in
    the order written.

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
        with db.wrap_database_errors:
            _send(db.connection, _cursors(db, 2)[1], waiting, commit=commit)


def _send(connection, writes, waiting: list, read=None, *, commit=False) -> None:
    statements = list(waiting)
    waiting.clear()  # if one fails, the transaction is rolled back whole
    with connection.pipeline():
        for sql, params in statements:
            writes.execute(sql, params)
        if read is not None:
            cursor, sql, params = read
            cursor.execute(sql, params)
        if commit:  # as a statement: commit() would wait for it here
            writes.execute("COMMIT")


def _send_first(execute, sql, params, many, context):
    """Django's queries within ``batched``: the writes waiting go first."""
    if not sql.startswith("SELECT"):
        _forget(sql)
    if waiting := _waiting():
        db = context["connection"]
        with db.wrap_database_errors:
            _send(db.connection, _cursors(db, 2)[1], waiting)
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

    Only at the start of a ``batched`` transaction (``read_ahead``)."""
    reads = [read for read in reads if read is not None]
    waiting = _waiting()
    if not reads or waiting is None or waiting or _LOCAL.ahead:
        return
    db = connections[DEFAULT_DB_ALIAS]
    cursors = _cursors(db, 2 + len(reads))[2:]
    sent = []
    with db.wrap_database_errors:
        with db.connection.pipeline():
            for read, cursor in zip(reads, cursors, strict=False):
                sql = _select(read, db.vendor)[0]
                cursor.execute(sql, read.params)
                sent.append((sql, read, cursor))
        _LOCAL.ahead = {
            (sql, tuple(read.params)): (read.model._meta.db_table, cursor.fetchall())
            for sql, read, cursor in sent
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


def content_hash(fields: dict) -> str:
    text = json.dumps(
        fields, sort_keys=True, default=lambda o: getattr(o, "pk", str(o))
    )
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def mrn(message: Message, seq: int = 1) -> tuple[str, str]:
    """(system, MRN) from PID-3: the repetition whose type (CX-5) comes first
    in ``HL7_MRN_TYPES``, else the first; PID-2 for old senders."""
    choices = []
    for rep in range(1, message.repetitions("PID", 3, seq=seq) + 1):
        value = message.value("PID", 3, 1, seq=seq, rep=rep)
        if value:
            kind = message.value("PID", 3, 5, seq=seq, rep=rep).upper()
            authority = message.value("PID", 3, 4, seq=seq, rep=rep) or (
                message.value("PID", 3, 4, 2, seq=seq, rep=rep)
            )
            choices.append((kind, authority, value))
    ranked = sorted(
        choices,
        key=lambda c: (
            settings.HL7_MRN_TYPES.index(c[0])
            if c[0] in settings.HL7_MRN_TYPES
            else len(settings.HL7_MRN_TYPES)
        ),
    )
    if ranked:
        _kind, authority, value = ranked[0]
    else:
        value = message.value("PID", 2, seq=seq)
        authority = message.value("PID", 2, 4, seq=seq)
    if not value:
        raise Problem(
            "has no patient identifier (MRN)",
            segment="PID",
            field=3,
            code=Code.REQUIRED_MISSING,
            sequence=seq,
        )
    if len(value) > 64:
        raise Problem("is longer than 64 characters", segment="PID", field=3)
    return settings.HL7_MRN_SYSTEM or authority or "HL7", value


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


def find_patient(system: str, number: str) -> Patient | None:
    found = fetch(patient_read(system, number))
    if found is not None:
        _remember(found)
    return found


def patient_read(system: str, number: str) -> Read:
    return one(Patient, "mrn_system = %s AND mrn = %s", [system, number], lock=True)


def read_ahead(message: Message, reads: Callable[[int | None], list]) -> None:
    """Send the PID's patient's read ``ahead``, with those ``reads`` gives
    for the patient's id. The id is the one the patient had when this
    process last saw them (None: not seen), a guess: after a merge, or an
    admission rolled back, no one takes the reads made with it, and they are
    made again with the right id."""
    try:
        system, number = mrn(message)
    except Problem:
        return  # the patient's read raises it again, in order
    try:
        later = reads(_PATIENT_IDS.get((system, number)))
    except Problem:
        later = []  # raised again as the message is applied
    ahead(patient_read(system, number), *later)


def _remember(row: Patient) -> None:
    if len(_PATIENT_IDS) > 200_000:  # a few tens of MB at most
        _PATIENT_IDS.clear()
    _PATIENT_IDS[(row.mrn_system, row.mrn)] = row.pk


_PATIENT_IDS: dict[tuple[str, str], int] = {}


# Patient fields and where PID gives them: a field the message leaves empty
# keeps what the mirror has; only HL7's explicit null ("") clears it.
_KEPT_UNLESS_NULLED = {
    "given": ("PID", 5, 2),
    "prefix": ("PID", 5, 5),
    "birth_date": ("PID", 7, 1),
    "sex": ("PID", 8, 1),
    "phone": ("PID", 13, 1),
    "address": ("PID", 11, 1),
    "deceased_at": ("PID", 29, 1),
}


def patient(
    message: Message, event_at: datetime, *, update: bool = False
) -> tuple[Patient, str]:
    """The PID's patient. ``update``: ADT, whose PID is the patient's record,
    brings the mirror's up to date; other messages (orders, results,
    appointments) name the patient and create one the mirror lacks, but
    their PID, often a few fields, never overwrites what ADT said."""
    system, number = mrn(message)
    current = find_patient(system, number)
    if current is not None and not update:
        return current, "known"
    family = message.value("PID", 5, 1)
    given = " ".join(
        part
        for part in (message.value("PID", 5, 2), message.value("PID", 5, 3))
        if part
    )
    if not family and not given:
        raise Problem(
            "has neither a family nor a given name",
            segment="PID",
            field=5,
            code=Code.REQUIRED_MISSING,
        )
    sex = message.value("PID", 8).upper()[:1]
    fields = {
        "mrn_system": system[:255],
        "mrn": number,
        "identifiers": _identifiers(message),
        "family": family[:128],
        "given": given[:128],
        "prefix": message.value("PID", 5, 5)[:32],
        "birth_date": message.date("PID", 7),
        "sex": _SEX.get(sex, Sex.UNKNOWN) if sex else "",
        "phone": phone(message, "PID", 13),
        "address": _address(message),
        **_contact(message),
        "deceased_at": message.timestamp("PID", 29)
        if message.value("PID", 30).upper() != "N"
        else None,
    }
    if current is not None:
        for name, where in _KEPT_UNLESS_NULLED.items():
            if fields[name] in ("", None) and not message.is_null(*where):
                fields[name] = getattr(current, name)
        if not message.has("NK1"):
            for name in ("contact_name", "contact_relationship", "contact_phone"):
                fields[name] = getattr(current, name)
        fields["family"] = fields["family"] or current.family
    fields["sex"] = fields["sex"] or Sex.UNKNOWN
    fields["name_search"] = values.search_key(fields["given"], fields["family"])
    row, outcome = write(
        Patient, current, ("Patient", f"hl7:{system}:{number}"), fields, event_at
    )
    _remember(row)
    return row, outcome


def _identifiers(message: Message) -> list[dict]:
    found = []
    for rep in range(1, message.repetitions("PID", 3) + 1):
        value = message.value("PID", 3, 1, rep=rep)
        if value:
            found.append(
                {
                    "type": message.value("PID", 3, 5, rep=rep)[:16],
                    "system": message.value("PID", 3, 4, rep=rep)[:255],
                    "value": value[:64],
                }
            )
    return found


def phone(message: Message, segment: str, field: int, seq: int = 1) -> str:
    """XTN: the number as written, else its parts."""
    written = message.value(segment, field, 1, seq=seq)
    if written:
        return written[:64]
    parts = [message.value(segment, field, n, seq=seq) for n in (5, 6, 7)]
    number = " ".join(p for p in parts if p)
    extension = message.value(segment, field, 8, seq=seq)
    return (f"{number} ext. {extension}" if extension else number)[:64]


def _address(message: Message) -> str:
    parts = [message.value("PID", 11, n) for n in (1, 2, 3, 4, 5, 6)]
    return ", ".join(p for p in parts if p)[:512]


def _contact(message: Message) -> dict:
    if not message.has("NK1"):
        return {"contact_name": "", "contact_relationship": "", "contact_phone": ""}
    name = " ".join(
        p for p in (message.value("NK1", 2, 2), message.value("NK1", 2, 1)) if p
    )
    return {
        "contact_name": name[:255],
        "contact_relationship": (
            message.value("NK1", 3, 2) or message.value("NK1", 3, 1)
        )[:64],
        "contact_phone": phone(message, "NK1", 5),
    }


def clinician(
    message: Message, segment: str, field: int, event_at: datetime, seq: int = 1
) -> Clinician | None:
    """The XCN's clinician, by id (XCN-1), created or brought up to date."""
    number = message.value(segment, field, 1, seq=seq)
    if not number:
        return None
    authority = message.value(segment, field, 9, seq=seq)
    fields = {
        "family": message.value(segment, field, 2, seq=seq)[:128],
        "given": message.value(segment, field, 3, seq=seq)[:128],
        "prefix": message.value(segment, field, 6, seq=seq)[:32],
        "identifier_system": authority[:255],
        "identifier_value": number[:128],
    }
    current = fetch(clinician_read(message, segment, field, seq))
    if current is not None:  # a name the message leaves out is kept
        fields = {k: v or getattr(current, k) for k, v in fields.items()}
    row, _ = write(
        Clinician,
        current,
        ("Practitioner", f"hl7:{authority}:{number}"),
        fields,
        event_at,
    )
    return row


def clinician_read(
    message: Message, segment: str, field: int, seq: int = 1
) -> Read | None:
    """The read of the XCN's clinician; None: the XCN has no id."""
    number = message.value(segment, field, 1, seq=seq)
    if not number:
        return None
    return one(
        Clinician,
        "identifier_value = %s AND identifier_system IN (%s, '')",
        [number, message.value(segment, field, 9, seq=seq)],
    )


_WARDS = (Location.Kind.WARD, Location.Kind.CLINIC)


def place(
    message: Message, segment: str, field: int, *, required: bool, seq: int = 1
) -> tuple[Location | None, Location | None, Location | None]:
    """(ward, room, bed) of a PL (point of care^room^bed). The ward must be
    known to the mirror; a room or bed it does not know yet is added."""
    point = message.value(segment, field, 1, seq=seq)
    if not point:
        if required:
            raise Problem(
                "gives no location (point of care)",
                segment=segment,
                field=field,
                code=Code.REQUIRED_MISSING,
                sequence=seq,
            )
        return None, None, None
    room_name = message.value(segment, field, 2, seq=seq)
    bed_name = message.value(segment, field, 3, seq=seq)
    found = fetch_all(place_read(message, segment, field, seq))
    ward = next((row for row in found if row.kind in _WARDS), None)
    known = [row for row in found if row.kind not in _WARDS]
    if ward is None:
        raise Problem(
            "names a ward or clinic the mirror does not know (point of care)",
            segment=segment,
            field=field,
            component=1,
            code=Code.TABLE_VALUE,
            sequence=seq,
        )
    room = (
        _part(known, ward, ward, Location.Kind.ROOM, room_name) if room_name else None
    )
    bed = (
        _part(known, room or ward, ward, Location.Kind.BED, bed_name)
        if bed_name
        else None
    )
    return ward, room, bed


def place_read(message: Message, segment: str, field: int, seq: int = 1) -> Read | None:
    """The read of a PL's ward, and of the rooms and beds under it that the
    PL names, in one query; None: the PL names no point of care."""
    point = message.value(segment, field, 1, seq=seq)
    if not point:
        return None
    names = [message.value(segment, field, n, seq=seq) for n in (2, 3)]
    names = [name for name in names if name]
    wards = "kind IN ('ward', 'clinic') AND (code = %s OR name = %s)"
    where, params = wards, [point, point]
    if names:
        marks = ", ".join(["%s"] * len(names))
        under = f"(SELECT id FROM patients_location WHERE {wards} ORDER BY kind, id LIMIT 1)"  # noqa: S608, E501
        where += (
            f" OR (kind IN ('room', 'bed') AND ward_id = {under}"
            f" AND (code IN ({marks}) OR name IN ({marks})))"
        )
        params += [point, point, *names, *names]
    return Read(Location, where, params, order="kind, id")


def _part(
    known: list[Location], parent: Location, ward: Location, kind: str, name: str
) -> Location:
    """The room or bed ``name`` under ``parent``, among ``known``; added if
    the mirror does not have it yet."""
    for found in known:
        if (
            found.kind == kind
            and found.part_of_id == parent.pk
            and name
            in (
                found.code,
                found.name,
            )
        ):
            return found
    row, _ = write(
        Location,
        None,
        ("Location", f"hl7:{parent.pk}:{kind}:{name}"),
        {
            "kind": kind,
            "name": name[:255],
            "code": name[:64],
            "part_of": parent,
            "ward": ward,
            "status": "active",
        },
        timezone.now(),
    )
    return row
