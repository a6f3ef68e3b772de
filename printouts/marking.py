"""What a pack says of a downtime on its pages, as plain values.

``printouts`` does not know what a downtime is: the app that declares them
(``downtime``, in its ``AppConfig.ready``) registers the function that tells
the marking of now (``marking_source_register``). With none registered,
packs are never marked.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Marking:
    """A pack made now is marked: a drill says only that it is one, a real
    downtime the time the data was frozen at (None: none had come)."""

    drill: bool
    frozen_at: dt.datetime | None


MarkingSource = Callable[[], Marking | None]
_sources: list[MarkingSource] = []


def marking_source_register(source: MarkingSource) -> None:
    """Called once at start-up by the app that declares downtimes; a second
    call replaces the first (``ready()`` may run again in tests)."""
    _sources[:] = [source]


def marking_now() -> Marking | None:
    """The marking of a pack made now (reads the database); None outside a
    downtime."""
    return _sources[0]() if _sources else None
