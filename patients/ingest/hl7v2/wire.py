"""The HL7 listener's statements on the wire: sent together in one round
trip through psycopg's libpq wrapper (``psycopg.pq``, pipeline mode), their
parameters dumped and their rows loaded by psycopg's compiled Transformer,
as its cursors do, without the cursors' Python around every statement.

A message runs about ten statements in two round trips. Through psycopg's
cursors each cost more of the listener's time than of the server's; sent
here, the listener's CPU a message went from 0.85-0.90 to 0.52-0.66 ms and
its instructions from 3.47 to 2.75 million (bench/hl7_cpu.py, interleaved
with the code before). Everything else on the connection (Django's ORM,
its transactions, BEGIN aside) still goes through psycopg, which finds the
connection as it left it.
"""

import functools
import itertools
import re
import select
import time
import weakref
from collections.abc import Sequence

import psycopg
from psycopg import errors, pq
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.datetime import TimestamptzLoader

Status = pq.ExecStatus
_ANSWERED = (Status.COMMAND_OK, Status.TUPLES_OK)
# A prepared statement the server no longer has (DEALLOCATE, a pooler's
# reset) or whose rows no longer fit its plan (a migration): prepared anew.
_FORGOTTEN = {"26000", "0A000"}
_MAX_PREPARED = 256  # statements prepared on a connection; then unnamed
# A prepared statement's plan is made for the sizes its tables have then, and
# made again only after they are analyzed: one prepared on an almost empty
# inbox scanned the whole table ever after (bench/mllp.py: the database's time
# a message rose from 0.47 to 1.29 ms over 20,000 messages, on a PostgreSQL
# whose autovacuum, which analyzes, is off; a minute at most where it is on).
# So a connection prepares its statements anew after this many round trips
# or seconds, whichever comes first: about 15 statements parsed again.
_RENEW_AFTER = (1000, 60.0)


def exchange(
    connection: psycopg.Connection,
    statements: Sequence[tuple[str, Sequence]],
    *,
    prepare: bool,
) -> list[pq.PGresult]:
    """Send ``statements`` (SQL with ``%s`` placeholders, parameters) in one
    round trip; the answer of each, in order, errors included: one that
    failed answers with its error and those after it were not run (their
    answer is PIPELINE_ABORTED). ``raise_first`` raises the error.

    A transaction not yet begun on the server is begun first, as psycopg
    does outside autocommit. ``prepare``: each statement is prepared on the
    server the first time it is sent, with the types of its parameters, and
    then only executed (behind PgBouncer in transaction mode: False)."""
    if connection.closed:
        raise psycopg.OperationalError("the connection is closed")
    session = _session(connection)
    pgconn = connection.pgconn
    begin = (
        not connection.autocommit
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
    )
    if begin:
        statements = [(begin_command(connection), ()), *statements]
    if prepare:
        session.renew_if_due()
    # Every parameter is dumped before anything is sent: a value that cannot
    # be leaves the connection as it was (statements due to be closed wait).
    sends = [session.bound(sql, params, prepare) for sql, params in statements]
    closes = session.closing()
    sends = closes + sends
    pgconn.enter_pipeline_mode()
    try:
        for send in sends:
            send.send(pgconn)
        pgconn.pipeline_sync()
        results = session.wait_results()
    except BaseException:
        _abandon(connection)
        raise
    pgconn.exit_pipeline_mode()
    answers = [send.answer(results, session) for send in sends][len(closes) :]
    if begin:
        raise_first(answers[:1], connection)  # nothing after it ran
        del answers[0]
    return answers


def raise_first(answers: Sequence[pq.PGresult], connection: psycopg.Connection) -> None:
    """Raise the error of the statement that failed among ``answers``, as
    psycopg would (``UniqueViolation``...)."""
    for answer in answers:
        if answer.status not in _ANSWERED and answer.status != Status.PIPELINE_ABORTED:
            raise errors.error_from_result(answer, encoding=connection.info.encoding)


def answered(answer: pq.PGresult) -> bool:
    """The statement ran."""
    return answer.status in _ANSWERED


def rows(answer: pq.PGresult, connection: psycopg.Connection) -> list[tuple]:
    """The rows of a statement's answer, loaded as psycopg loads them (and
    timestamps with its compiled loader, where Django's own is in Python)."""
    transformer = _session(connection).transformer
    transformer.set_pgresult(answer)
    return transformer.load_rows(0, answer.ntuples, tuple)


class _Send:
    """A statement ready to go: its parameters dumped, prepared or not."""

    __slots__ = ("command", "formats", "key", "name", "params", "types")

    def __init__(self, command, params, types, formats, name, key) -> None:
        self.command, self.params, self.types = command, params, types
        self.formats, self.name, self.key = formats, name, key

    def send(self, pgconn: pq.abc.PGconn) -> None:
        if self.name is None:
            pgconn.send_query_params(
                self.command, self.params, self.types, self.formats
            )
            return
        if self.key is not None:  # the first time: prepared, then run
            pgconn.send_prepare(self.name, self.command, self.types)
        pgconn.send_query_prepared(self.name, self.params, self.formats)

    def answer(self, results: list, session: "_Session") -> pq.PGresult:
        """This statement's answer, taken from the front of ``results``."""
        if self.key is not None:
            prepared = results.pop(0)
            run = results.pop(0)
            if prepared.status != Status.COMMAND_OK:
                return prepared
            session.names[self.key] = self.name
            return run
        answer = results.pop(0)
        if self.name is not None and _state(answer) in _FORGOTTEN:
            session.forget_all()
        return answer


class _Close:
    """A prepared statement closed on the server, to be prepared anew.
    Closing one the server does not have is not an error (the protocol's
    Close message), so this cannot fail the statements sent with it."""

    __slots__ = ("name",)

    def __init__(self, name: bytes) -> None:
        self.name = name

    def send(self, pgconn: pq.abc.PGconn) -> None:
        pgconn.send_close_prepared(self.name)

    def answer(self, results: list, session: "_Session") -> pq.PGresult:
        return results.pop(0)


class _Session:
    """What one connection keeps: its statements' names on the server, the
    Transformer dumping and loading its values, a poller on its socket."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self.adapters = AdaptersMap(connection.adapters)
        # Aware datetimes in UTC, the connection's time zone, as Django's are.
        self.adapters.register_loader("timestamptz", TimestamptzLoader)
        self.connection = connection
        self.transformer = Transformer(self)
        self.names: dict[tuple, bytes] = {}
        self.numbers = itertools.count(1)
        self.round_trips, self.prepared_since = 0, time.monotonic()
        self.stale: list[bytes] = []  # names to close on the server
        # Closing needs libpq 17 (psycopg's binary package brings 18);
        # with an older one, statements keep the plans they were made with.
        self.renewing = pq.version() >= 170000
        # poll(), not select(): any descriptor number.
        self.sending, self.reading = select.poll(), select.poll()
        self.sending.register(connection.pgconn.socket, select.POLLIN | select.POLLOUT)
        self.reading.register(connection.pgconn.socket, select.POLLIN)

    def bound(self, sql: str, params: Sequence, prepare: bool) -> _Send:
        command = _numbered(sql)
        transformer = self.transformer
        dumped = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
        types, formats = transformer.types, transformer.formats
        if not prepare:
            return _Send(command, dumped, types, formats, None, None)
        key = (command, types)
        name = self.names.get(key)
        if name is not None:
            return _Send(command, dumped, types, formats, name, None)
        if len(self.names) >= _MAX_PREPARED:
            return _Send(command, dumped, types, formats, None, None)
        name = f"hl7_{next(self.numbers)}".encode()
        return _Send(command, dumped, types, formats, name, key)

    def renew_if_due(self) -> None:
        """Every statement is prepared anew when it is time (``_RENEW_AFTER``)."""
        if not self.renewing:
            return
        self.round_trips += 1
        trips, seconds = _RENEW_AFTER
        now = time.monotonic()
        if self.round_trips >= trips or now - self.prepared_since >= seconds:
            self.round_trips, self.prepared_since = 0, now
            self.forget_all()

    def forget_all(self) -> None:
        """Every statement is prepared again before its next use; those the
        server has are closed with the next round trip."""
        if self.renewing:
            self.stale.extend(self.names.values())
        self.names = {}

    def closing(self) -> list[_Close]:
        """The statements to close in the round trip about to go."""
        stale, self.stale = self.stale, []
        return [_Close(name) for name in stale]

    def wait_results(self) -> list[pq.PGresult]:
        """Everything sent is flushed, then the answers read up to the sync
        (waiting in poll(), which lets other threads run)."""
        pgconn = self.connection.pgconn
        while pgconn.flush():  # more to send: the server may answer meanwhile
            self.sending.poll()
            pgconn.consume_input()
        results = []
        while True:
            if pgconn.is_busy():
                self.reading.poll()
                pgconn.consume_input()
                continue
            result = pgconn.get_result()
            if result is None:  # the end of one statement's answers
                continue
            if result.status == Status.PIPELINE_SYNC:
                return results
            results.append(result)


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _session(connection: psycopg.Connection) -> _Session:
    session = _SESSIONS.get(connection)
    if session is None:
        session = _SESSIONS[connection] = _Session(connection)
    return session


@functools.lru_cache(maxsize=1024)
def _numbered(sql: str) -> bytes:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``... (``%%``: %)."""
    numbers = itertools.count(1)

    def number(found: re.Match) -> str:
        if found[0] == "%%":
            return "%"
        if found[0] == "%s":
            return f"${next(numbers)}"
        raise ValueError(f"only %s placeholders are supported, not {found[0]}")

    return re.sub(r"%.", number, sql).encode()


def begin_command(connection: psycopg.Connection) -> str:
    """psycopg's BEGIN for this connection (its isolation level, if set)."""
    command = "BEGIN"
    if connection.isolation_level is not None:
        level = psycopg.IsolationLevel(connection.isolation_level).name
        command += f" ISOLATION LEVEL {level.replace('_', ' ')}"
    if connection.read_only is not None:
        command += " READ ONLY" if connection.read_only else " READ WRITE"
    if connection.deferrable is not None:
        command += " DEFERRABLE" if connection.deferrable else " NOT DEFERRABLE"
    return command


def _abandon(connection: psycopg.Connection) -> None:
    """After a failure in the middle of a round trip (the connection lost,
    an interruption): a connection left in pipeline mode would hang the
    next caller, so it is closed; Django opens another."""
    connection.close()


def _state(answer: pq.PGresult) -> str:
    state = answer.error_field(pq.DiagnosticField.SQLSTATE)
    return state.decode() if state else ""
