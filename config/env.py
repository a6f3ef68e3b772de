"""Strict readers for settings that come from the environment.

Each reader refuses a malformed value with ``ImproperlyConfigured`` naming the
variable, so a typo stops the process at start instead of running on a guess.
An empty value counts as unset (``VAR=`` in an env file), so the default applies.
Values that may hold credentials (URLs, keys) are never echoed in errors.
"""

import os
import secrets
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_DATABASE_SCHEMES = ("postgres", "postgresql", "sqlite")


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def env_str(name: str, default: str = "", *, environ: Mapping | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, *, environ: Mapping | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ImproperlyConfigured(
            f"{name} must be true or false (or 1 or 0), not {value!r}."
        ) from None


def env_int(
    name: str,
    default: int,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    environ: Mapping | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number, not {value!r}."
        ) from None
    if min_value is not None and number < min_value:
        raise ImproperlyConfigured(
            f"{name} must be at least {min_value}, not {number}."
        )
    if max_value is not None and number > max_value:
        raise ImproperlyConfigured(f"{name} must be at most {max_value}, not {number}.")
    return number


def env_list(
    name: str, default: Sequence[str] = (), *, environ: Mapping | None = None
) -> list[str]:
    """A comma-separated list; an empty item (``a,,b``) is refused as a typo."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise ImproperlyConfigured(
            f"{name} must be a comma-separated list without empty items, not {value!r}."
        )
    return items


def env_choice(
    name: str, default: str, choices: Sequence[str], *, environ: Mapping | None = None
) -> str:
    value = env_str(name, default, environ=environ)
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, not {value!r}."
        )
    return value


def env_timezone(name: str, default: str, *, environ: Mapping | None = None) -> str:
    value = env_str(name, default, environ=environ)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone such as Europe/Brussels, not {value!r}."
        ) from None
    return value


def env_url(
    name: str,
    default: str = "",
    *,
    schemes: Sequence[str],
    environ: Mapping | None = None,
) -> str:
    """A URL with one of ``schemes`` and a host; the value itself is never echoed."""
    value = env_str(name, default, environ=environ)
    if not value:
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not a valid URL.") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must start with {' or '.join(s + '://' for s in schemes)} "
            f"(found scheme {parts.scheme!r})."
        )
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} must name a host.")
    return value


def env_database(
    name: str, *, sqlite_path: Path, environ: Mapping | None = None
) -> dict:
    """Django DATABASES entry from a URL; SQLite at ``sqlite_path`` when unset."""
    value = env_str(name, environ=environ)
    if not value:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            # Wait for a writer instead of failing at once: the demo runs
            # the web server and inline tasks against one file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    scheme = urlsplit(value).scheme
    if scheme not in _DATABASE_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// (or sqlite://) URL "
            f"(found scheme {scheme!r})."
        )
    try:
        return dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not a valid database URL.") from None


def env_secret_key(
    name: str, *, production: bool, fallback_file: Path, environ: Mapping | None = None
) -> str:
    """The signing key: required and strong in production.

    Outside production an unset key is generated once into ``fallback_file``,
    so a demo keeps its sessions across restarts without a shared default.
    """
    value = _raw(name, environ)
    if value is None and production:
        raise ImproperlyConfigured(
            f"{name} is required when PRODUCTION is true; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    if value is None:
        return _read_or_create_key(fallback_file)
    if production and (
        len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            f"{name} is too weak for production: use at least 50 random characters."
        )
    return value


def _read_or_create_key(path: Path) -> str:
    """Create the key file atomically: a reader never sees it half-written."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:  # another process started at the same moment
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
