"""Fixed-window request counters in Django's cache.

With the default cache (local memory) each web process counts for itself,
so a client may make up to one limit per gunicorn worker: enough to keep a
runaway station or a guessing client from taking the server's time, and it
keeps working when Redis is down (a shared cache, if one is configured,
makes the limits exact). Guessing is hopeless anyway: codes carry about 99
bits, tokens 256.
"""

import time

from django.core.cache import cache


def _name(key: str, seconds: int) -> str:
    return f"stations-limit:{key}:{int(time.time() // seconds)}"


def hit(key: str, *, limit: int, seconds: int = 60) -> bool:
    """Count one request; True once ``key`` has made more than ``limit`` in
    this window."""
    name = _name(key, seconds)
    cache.add(name, 0, timeout=seconds * 2)
    try:
        count = cache.incr(name)
    except ValueError:  # expired in between
        cache.set(name, 1, timeout=seconds * 2)
        count = 1
    return count > limit


def reached(key: str, *, limit: int, seconds: int = 60) -> bool:
    """True when ``key`` has used up ``limit`` in this window (not counted)."""
    return (cache.get(_name(key, seconds)) or 0) >= limit
