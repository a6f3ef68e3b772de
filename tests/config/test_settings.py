import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_secret_key,
    env_timezone,
    env_url,
)
from tests.processes import REPO, app_env


@pytest.mark.parametrize(
    ("read", "value", "message"),
    [
        (lambda e: env_bool("DEBUG", False, environ=e), "yes", "DEBUG must be true"),
        (lambda e: env_int("WORKERS", 2, environ=e), "2.5", "WORKERS must be a whole"),
        (
            lambda e: env_int("WORKERS", 2, min_value=1, environ=e),
            "0",
            "WORKERS must be at least 1",
        ),
        (lambda e: env_list("HOSTS", environ=e), "a,,b", "HOSTS must be a comma"),
        (
            lambda e: env_choice("LEVEL", "en", ["en", "fr"], environ=e),
            "de",
            "LEVEL must be one of en, fr",
        ),
        (
            lambda e: env_timezone("ZONE", "UTC", environ=e),
            "Europe/Atlantis",
            "ZONE must be an IANA time zone",
        ),
        (
            lambda e: env_url("BROKER", schemes=["redis"], environ=e),
            "amqp://guest:guest@rabbit:5672//",
            "BROKER must start with redis://",
        ),
        (
            lambda e: env_url("BROKER", schemes=["redis"], environ=e),
            "redis://:secret@redis:notaport/0",
            "BROKER is not a valid URL",
        ),
        (
            lambda e: env_database("DB", sqlite_path="x", environ=e),
            "mysql://root:secret@db/hospital",
            "DB must be a postgres://",
        ),
    ],
)
def test_malformed_value_is_refused_naming_the_variable(read, value, message):
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        read(
            {
                "DEBUG": value,
                "WORKERS": value,
                "HOSTS": value,
                "LEVEL": value,
                "ZONE": value,
                "BROKER": value,
                "DB": value,
            }
        )
    assert "secret" not in str(refused.value), "credentials must never be echoed"


def test_empty_value_counts_as_unset():
    assert env_bool("DEBUG", True, environ={"DEBUG": "  "}) is True
    assert env_list("HOSTS", ["a"], environ={"HOSTS": ""}) == ["a"]


def test_well_formed_values_are_read():
    environ = {"DEBUG": "TRUE", "N": "7", "HOSTS": "a.example, b.example"}
    assert env_bool("DEBUG", False, environ=environ) is True
    assert env_int("N", 0, environ=environ) == 7
    assert env_list("HOSTS", environ=environ) == ["a.example", "b.example"]
    database = env_database(
        "DB", sqlite_path="x", environ={"DB": "postgres://u:p@db:5432/mirror"}
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "mirror"


@pytest.mark.parametrize(
    "key", [None, "short", "django-insecure-" + "x" * 60, "ab" * 40]
)
def test_production_refuses_a_missing_or_weak_secret_key(tmp_path, key):
    environ = {} if key is None else {"SECRET_KEY": key}
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY") as refused:
        env_secret_key(
            "SECRET_KEY", production=True, fallback_file=tmp_path / "k", environ=environ
        )
    assert key is None or key not in str(refused.value)
    assert not (tmp_path / "k").exists()


def test_demo_secret_key_is_generated_once_and_kept(tmp_path):
    first = env_secret_key(
        "SECRET_KEY", production=False, fallback_file=tmp_path / "k", environ={}
    )
    again = env_secret_key(
        "SECRET_KEY", production=False, fallback_file=tmp_path / "k", environ={}
    )
    assert first == again
    assert len(first) >= 50
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


def start_django(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=app_env(DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE must be an IANA time zone"),
        ({"HL7_ISOLATED_ACK": "AA"}, "HL7_ISOLATED_ACK must be one of AR, AE"),
        (
            {"CELERY_TASK_TIME_LIMIT": "7200"},
            "CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < "
            "CELERY_VISIBILITY_TIMEOUT must hold",
        ),
        ({"PRODUCTION": "true"}, "SECRET_KEY is required when PRODUCTION is true"),
    ],
)
def test_the_application_refuses_to_start_on_a_malformed_setting(
    tmp_path, env, message
):
    started = start_django(tmp_path, **env)
    assert started.returncode != 0
    assert message in started.stderr


def test_the_application_starts_on_embedded_defaults(tmp_path):
    started = start_django(tmp_path, DATABASE_URL="", CELERY_BROKER_URL="")
    assert started.returncode == 0, started.stderr
