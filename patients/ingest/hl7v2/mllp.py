"""The MLLP listener: frames in, acknowledgements out, over asyncio.

A connection stays open for as many messages as the sender sends; several
connections are served at once, each by one of the listener's threads
(``Listener``). Each message is handed to ``hl7_receive`` (the database work
is synchronous) and answered before the connection's next message is read,
so one sender's messages are applied in the order sent.
"""

import asyncio
import logging
import os
import select
import signal
import socket
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connections

from patients.ingest.hl7v2.framing import CR, END, START, Frame, Framer
from patients.ingest.hl7v2.inbox import hl7_receive, hl7_replay
from patients.models import InboundMessage

logger = logging.getLogger(__name__)


class Listener:
    """The main thread's event loop accepts connections and hands each to
    one of ``workers`` threads, the one serving the fewest; each thread runs
    an event loop of its own for its connections, and reads, applies and
    answers their messages there, one at a time. Each connection has a
    database connection of its own, open while it is: Django keeps them per
    task where an event loop runs (asgiref's ``Local``).

    A message is applied in the thread that read it: handing it to a worker
    pool and the answer back cost a quarter of the listener's throughput on
    one connection (bench/mllp.py: 549 to 652 against 723 to 784 messages/s,
    interleaved), in the wake-ups of two threads and the hand-overs of the
    interpreter's lock between them: the listener's CPU a message was 0.70
    to 0.82 ms with the pool, 0.56 to 0.62 ms without. A thread's loop
    waits while a message is applied, which is why each connection's thread
    is chosen once, by load; connections beyond ``workers`` share threads
    and take turns, a message each.
    """

    def __init__(self, host: str, port: int, workers: int = 4) -> None:
        self.host, self.port = host, port
        self.workers = [_Worker(number) for number in range(1, max(1, workers) + 1)]

    async def serve(self, ready: Callable[[str], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        # Messages stored but never applied (the process stopped between the
        # two): applied now, before anything new. A sender that had no ACK
        # sends them again, and the duplicate is recognised.
        counts = await asyncio.to_thread(_apply_leftovers)
        if counts:
            logger.info("Applied messages left from before the restart: %s", counts)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listening = socket.create_server((self.host, self.port), family=family)
        listening.setblocking(False)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Django refuses its database calls in a thread whose event loop is
        # running, lest they hold up everything else that loop serves: in a
        # worker, holding up its other connections is the point, each waits
        # for its turn as it waited for a free thread before (the variable is
        # read at each call; set before the threads start, in this process,
        # which is only the listener).
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        for worker in self.workers:
            worker.start()
        address = listening.getsockname()
        if ready:
            ready(f"{address[0]}:{address[1]}")
        accepting = asyncio.create_task(self._accept(listening))
        try:
            await stop.wait()
        finally:
            accepting.cancel()
            listening.close()
            for worker in self.workers:  # each finishes the message in hand
                worker.stop()
            await asyncio.to_thread(lambda: [w.thread.join() for w in self.workers])

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _address = await loop.sock_accept(listening)
            except OSError as error:  # out of file descriptors, say
                logger.error("Could not accept a connection (%s)", error)
                await asyncio.sleep(0.5)
                continue
            worker = min(self.workers, key=lambda w: w.connections)
            worker.take(connection)


class _Worker:
    """A thread with its own event loop, serving the connections handed to
    it."""

    def __init__(self, number: int) -> None:
        self.connections = 0  # served now (read by the accepting thread)
        self.counting = threading.Lock()  # two threads change it
        # The loop holds its tasks only weakly: one not kept here could be
        # collected in the middle of its connection, which would then never
        # be answered (seen in CI).
        self.tasks: set[asyncio.Task] = set()
        self.loop = asyncio.new_event_loop()
        self.stopped: asyncio.Event | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"hl7-{number}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        self.started.wait()

    def take(self, connection: socket.socket) -> None:
        with self.counting:
            self.connections += 1
        self.loop.call_soon_threadsafe(self._serve, connection)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopped.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._until_stopped())
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

    async def _until_stopped(self) -> None:
        self.stopped = asyncio.Event()
        self.started.set()
        await self.stopped.wait()

    def _serve(self, connection: socket.socket) -> None:
        task = self.loop.create_task(self._connection(connection))
        self.tasks.add(task)
        task.add_done_callback(self._served)

    def _served(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        with self.counting:
            self.connections -= 1

    async def _connection(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=connection)
        except OSError:  # gone before it was served
            connection.close()
            return
        # None: the sender left already; what it sent is still read and kept.
        host, port = (writer.get_extra_info("peername") or ("?", 0))[:2]
        peer = f"{host}:{port}"
        logger.info("Connection from %s, served by %s", peer, self.thread.name)
        framer = Framer(settings.HL7_MAX_MESSAGE_BYTES)
        try:
            while data := await reader.read(65536):
                for frame in framer.feed(data):
                    reply = _receive(frame, peer)
                    if frame.unframed is None:
                        writer.write(START + reply + END + CR)
                        await writer.drain()
            rest = framer.rest()
            if rest is not None:  # kept, though no one is there to answer
                _receive(rest, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as error:  # the database is down: nothing was stored
            # No ACK: the sender keeps the message and sends it again once it
            # has reconnected. Logged by kind only (no message content).
            logger.error(
                "Connection from %s closed: a message could not be stored (%s)",
                peer,
                type(error).__name__,
            )
        finally:
            writer.close()
            connections.close_all()  # this connection's: one per task here


def _apply_leftovers() -> dict[str, int]:
    try:
        leftovers = InboundMessage.objects.filter(
            status=InboundMessage.Status.RECEIVED
        ).order_by("pk")
        return hl7_replay(messages=list(leftovers))
    finally:
        connections.close_all()


def _receive(frame: Frame, peer: str) -> bytes:
    _drop_broken_connections()
    return hl7_receive(
        raw=frame.raw,
        peer=peer,
        truncated_from=frame.size if frame.size > len(frame.raw) else 0,
        unframed=frame.unframed,
    )


def _drop_broken_connections() -> None:
    """A connection keeps its database connection from one message to the
    next (a new one costs more than the message); one that no longer answers
    (the database restarted) is dropped first, so that the message does not
    fail for it, and the message opens another.

    Asking the server costs a round trip, a fifth of a message: it is asked
    only when the last statement failed, or when it has said something
    unasked (a server that stops or ends a connection tells its clients).
    Django's own ``close_old_connections`` would close it after every
    message, as at the end of a web request when CONN_MAX_AGE is 0.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or not (
            connection.errors_occurred or _unasked(connection)
        ):
            continue
        if connection.is_usable():
            connection.errors_occurred = False  # a deadlock, say: not asked again
        else:
            connection.close()


def _unasked(connection) -> bool:
    """Bytes from the server wait on an idle connection."""
    try:
        socket = connection.connection.fileno()
    except AttributeError:  # SQLite: no server
        return False
    waiting = select.poll()  # not select(): any descriptor number
    waiting.register(socket, select.POLLIN)
    return bool(waiting.poll(0))
