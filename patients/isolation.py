"""Whether the inbound feeds are cut, as every feed asks it.

The mirror does not know what a downtime is: the app that declares them
(``downtime``, in its ``AppConfig.ready``) registers the question
(``isolation_source_register``), as it tells the packs their marking. With
none registered there are no downtimes, and the feeds flow.
"""

from collections.abc import Callable

IsolationSource = Callable[[], bool]
_sources: list[IsolationSource] = []


def isolation_source_register(source: IsolationSource) -> None:
    """Called once at start-up; a second call replaces the first
    (``ready()`` may run again in tests)."""
    _sources[:] = [source]


def inbound_feeds_isolated() -> bool:
    """A downtime isolates the inbound feeds now (reads the database)."""
    return bool(_sources) and _sources[0]()
