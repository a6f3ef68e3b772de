"""Test settings: the real settings, pointed at the local PostgreSQL and Redis.

Set here, not in the Makefile, so that a bare `pytest` tests the same thing.
Redis database 15 keeps test queues away from a developer's own data.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/downtime")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

from config.settings import *  # noqa: F403

# Celery lets this variable override every app's own broker URL; tests that
# start a Redis of their own talk to it through apps of their own.
del os.environ["CELERY_BROKER_URL"]
