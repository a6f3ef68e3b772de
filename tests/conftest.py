import os
from urllib.parse import urlsplit

import hypothesis
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import translation

from tests.processes import missing

# Property tests (tests/patients/test_feed_properties.py). "ci", the default:
# a few examples, the same ones every run. "long": a search for new ones,
# `HYPOTHESIS_PROFILE=long pytest tests/patients/test_feed_properties.py`.
# Their examples share a test's fixtures (the wards), each rolled back alone.
_SHARED_FIXTURES = [hypothesis.HealthCheck.function_scoped_fixture]
hypothesis.settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=_SHARED_FIXTURES,
)
hypothesis.settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[*_SHARED_FIXTURES, hypothesis.HealthCheck.too_slow],
    print_blob=True,
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with the fix, when the database the suite needs is down."""
    url = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=url["HOST"],
            port=url["PORT"] or 5432,
            user=url["USER"],
            password=url["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError:
        pytest.exit(
            f"PostgreSQL is not reachable at {url['HOST']}:{url['PORT']}; README.md "
            "(Running the tests) says how to get it, e.g. "
            "`docker compose -f compose.dev.yml up -d db redis`.",
            returncode=1,
        )


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Each test writes under a folder of its own: its own signing key too."""
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def _feed_freshness_written_anew():
    """The HL7 listener writes its feed's freshness at most once a second
    and remembers when it last did; each test's database is new."""
    from patients.ingest.hl7v2 import inbox

    inbox._FRESH.clear()


@pytest.fixture(autouse=True)
def _hospital_language():
    """Each test ends in the hospital's language: a request's LocaleMiddleware
    leaves this thread in the language the browser asked for."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The suite's Redis (database 15); fails in CI, skips elsewhere, if down."""
    url = settings.CELERY_BROKER_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        missing(f"Redis at {urlsplit(url).netloc}")
    finally:
        client.close()
    return url


@pytest.fixture
def test_database_url(transactional_db) -> str:
    """DATABASE_URL of the test database, for app processes the test starts.

    Only transactional tests commit, so only they can share rows with them.
    """
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path="/" + connection.settings_dict["NAME"]).geturl()


@pytest.fixture
def connection_replaced_after():
    """A test that ends this process's database connection leaves a new one
    to the tests after it, pass or fail."""
    yield
    connection.close()
