"""Settings, all read from the environment; `.env.example` documents each variable.

With nothing set, the embedded defaults serve the demo: SQLite in ``var/`` and
Celery tasks run inline. ``PRODUCTION=true`` demands PostgreSQL, Redis and a
strong secret key, and turns on the secure settings that ``check --deploy`` wants.
"""

import datetime as dt
import re
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_secret_key,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = env_bool("PRODUCTION", False)
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when PRODUCTION is true.")

# Everything the application writes (SQLite file, packs, demo key) lives here.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env_secret_key(
    "SECRET_KEY", production=PRODUCTION, fallback_file=DATA_DIR / "secret_key"
)

_LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", () if PRODUCTION else _LOCAL_HOSTS)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required when PRODUCTION is true "
        "(the host names users type, comma-separated)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "health_check",
    "axes",
    "accounts",
    "patients",
    "printouts",
    "downtime",
    "stations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Outside the others: it sees each page as it is sent.
    "config.invisible.VisibleMarksMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionLimitsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as its documentation asks: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "patients.context_processors.freshness",
                "downtime.context_processors.downtime",
            ],
        },
    },
]

# Database ------------------------------------------------------------------

DATABASES = {
    "default": env_database("DATABASE_URL", sqlite_path=DATA_DIR / "db.sqlite3")
}
if PRODUCTION and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must point at PostgreSQL when PRODUCTION is true."
    )
# Time limits of a statement, and of its wait for a lock, in seconds (0: none).
# A web request's are short, so that a locked table answers a page saying the
# database is busy (patients.middleware) rather than holding a worker until
# gunicorn kills it; commands, the HL7 listener and tasks wait longer.
# config/wsgi.py and config/asgi.py mark a web process.
WEB_PROCESS = env_bool("DOWNTIME_WEB_PROCESS", False)
DB_STATEMENT_TIMEOUT = (
    env_int("DB_WEB_STATEMENT_TIMEOUT", 15, min_value=0)
    if WEB_PROCESS
    else env_int("DB_STATEMENT_TIMEOUT", 600, min_value=0)
)
DB_LOCK_TIMEOUT = (
    env_int("DB_WEB_LOCK_TIMEOUT", 5, min_value=0)
    if WEB_PROCESS
    else env_int("DB_LOCK_TIMEOUT", 60, min_value=0)
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = " ".join(
        [
            _options.get("options", ""),
            f"-c statement_timeout={DB_STATEMENT_TIMEOUT * 1000}",
            f"-c lock_timeout={DB_LOCK_TIMEOUT * 1000}",
        ]
    ).strip()
    # psycopg's own default, which Django turns off: statements sent with
    # server-side binding (the HL7 listener's, patients/ingest/hl7v2/rows.py)
    # may be prepared. Django's own queries bind on the client and never are.
    _options.setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Accounts ------------------------------------------------------------------

# Argon2 first: new and changed passwords are hashed with it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after LOGIN_FAILURE_LIMIT failures for one
# user name from one address, that pair waits LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, min_value=1)
AXES_COOLOFF_TIME = dt.timedelta(
    minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, min_value=1)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# How many reverse proxies in front of the application append the address
# they were reached from to X-Forwarded-For (0: none is trusted, the header
# is ignored). Sign-in lockouts, the access log and the stations' limits
# count by the address this finds (accounts/network.py).
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0, min_value=0)
AXES_CLIENT_IP_CALLABLE = "accounts.network.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_VERBOSE = False
# A ward computer is shared: a session ends after SESSION_IDLE_MINUTES without
# a request, after SESSION_MAX_HOURS whatever happens, and with the browser.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 15, min_value=1)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12, min_value=1)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "patients:home"
LOGOUT_REDIRECT_URL = "patients:home"

# Languages and time ----------------------------------------------------------

LANGUAGES = [("en", _("English")), ("fr", _("French")), ("nl", _("Dutch"))]
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "en", [code for code, _name in LANGUAGES])
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_timezone("TIME_ZONE", "Europe/Brussels")
USE_TZ = True

# Static files ----------------------------------------------------------------

STATIC_URL = "static/"
# Production serves the hashed, compressed files that collectstatic gathers
# here when the image is built; elsewhere whitenoise serves from the apps.
STATIC_ROOT = (
    Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))).resolve()
    if PRODUCTION
    else None
)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Security ------------------------------------------------------------------

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Monitors and container health checks probe over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, min_value=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a TLS-terminating proxy that overwrites this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages load nothing but this site's own styles, scripts and images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
    }
}

# Celery ----------------------------------------------------------------------
# Tasks are idempotent and take ids only, so a task is acknowledged after it
# ran and re-delivered if its worker dies. The Redis visibility timeout must
# outlast the hard time limit, or a long task would be handed out twice.

_REDIS_SCHEMES = ("redis", "rediss")
_BROKER_URL = env_url("CELERY_BROKER_URL", schemes=_REDIS_SCHEMES)
if PRODUCTION and not _BROKER_URL:
    raise ImproperlyConfigured("CELERY_BROKER_URL is required when PRODUCTION is true.")
# Without a broker (the demo), tasks run inline in the calling process, and
# the in-process transport makes sure nothing ever dials a server.
CELERY_TASK_ALWAYS_EAGER = not _BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = _BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = (
    env_url("CELERY_RESULT_BACKEND", _BROKER_URL, schemes=_REDIS_SCHEMES) or None
)
CELERY_RESULT_EXPIRES = 3600
# Task state lives in the database; a result is stored only when the caller
# asks (apply_async(ignore_result=False)). Storing one by default would make
# every queueing subscribe to the result backend first, and hang on it.
CELERY_TASK_IGNORE_RESULT = True
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, min_value=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, min_value=1)
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, min_value=1)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < "
        "CELERY_VISIBILITY_TIMEOUT must hold "
        f"(now {CELERY_TASK_SOFT_TIME_LIMIT} < {CELERY_TASK_TIME_LIMIT} < "
        f"{CELERY_VISIBILITY_TIMEOUT})."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # A web request that queues a task must not hang when Redis is down.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Priorities, on Redis: 0 is the highest. Every task goes at 5 unless it says
# otherwise, and a downtime's final renders at 0 (DOWNTIME_RENDER_PRIORITY),
# so that a worker takes them before anything else queued.
CELERY_TASK_DEFAULT_PRIORITY = 5
DOWNTIME_RENDER_PRIORITY = 0
# A planned downtime's packs are rendered again this long before its start.
DOWNTIME_REFRESH_MINUTES = env_int("DOWNTIME_REFRESH_MINUTES", 15, min_value=1)
# Readiness: a ward none of whose packs was downloaded (to print) for this
# many days is shown amber (ready, with a warning). READINESS_TOKEN: a
# monitoring system's bearer token for /downtime/readiness.json (empty: IT's
# session only).
READINESS_DOWNLOAD_DAYS = env_int("READINESS_DOWNLOAD_DAYS", 7, min_value=1)
# Downtime registration numbers: this prefix, six digits and a check digit.
# It must not begin any real MRN (allocation refuses if one does).
DOWNTIME_NUMBER_PREFIX = env_str("DOWNTIME_NUMBER_PREFIX", "DT").upper()
if not re.fullmatch(r"[A-Z]{1,6}", DOWNTIME_NUMBER_PREFIX):
    raise ImproperlyConfigured("DOWNTIME_NUMBER_PREFIX must be 1 to 6 letters.")
# The assigning authority of a patient admitted with a downtime number on the
# census journal: the MRN system of the mirror's "DT..." patients, and where
# an HL7 A40 from a downtime number looks when the EHR's own system misses.
DOWNTIME_MRN_SYSTEM = env_str("DOWNTIME_MRN_SYSTEM", "urn:downtime:number")
# Postponement calls: a downtime with no expected end postpones the
# appointments of this many days from now (its page says the end is a guess).
CALLS_HORIZON_DAYS = env_int("CALLS_HORIZON_DAYS", 7, min_value=1)
READINESS_TOKEN = env_str("READINESS_TOKEN", "")
if READINESS_TOKEN and len(READINESS_TOKEN) < 32:
    raise ImproperlyConfigured("READINESS_TOKEN must be at least 32 characters.")
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TIMEZONE = TIME_ZONE

# Health --------------------------------------------------------------------

HEALTH_DISK_MIN_FREE_MB = env_int("HEALTH_DISK_MIN_FREE_MB", 1024, min_value=0)
HEALTH_HEARTBEAT_MAX_AGE = env_int("HEALTH_HEARTBEAT_MAX_AGE", 180, min_value=60)

# FHIR feeds ----------------------------------------------------------------
# The EHR's FHIR R4 server for `manage.py pull_fhir` (empty: no pull).

FHIR_BASE_URL = env_url("FHIR_BASE_URL", schemes=("https", "http")).rstrip("/")
FHIR_BEARER_TOKEN = env_str("FHIR_BEARER_TOKEN")
FHIR_PAGE_SIZE = env_int("FHIR_PAGE_SIZE", 500, min_value=1)
FHIR_TIMEOUT = env_int("FHIR_TIMEOUT", 60, min_value=1)
# SMART Backend Services: with a client id, pulls sign in with the private
# key of `manage.py fhir_keys` (kept in FHIR_KEY_DIR, never in the database).
FHIR_CLIENT_ID = env_str("FHIR_CLIENT_ID")
# Empty: found in the server's .well-known/smart-configuration.
FHIR_TOKEN_URL = env_url("FHIR_TOKEN_URL", schemes=("https", "http"))
# Empty: system/<type>.rs for each type the mirror keeps.
FHIR_SCOPES = env_str("FHIR_SCOPES")
FHIR_KEY_DIR = Path(env_str("FHIR_KEY_DIR", str(DATA_DIR / "keys" / "fhir")))
# A Bulk Data export not finished within this many hours is cancelled.
FHIR_BULK_MAX_HOURS = env_int("FHIR_BULK_MAX_HOURS", 6, min_value=1)
# Beat asks for a Bulk Data export of what changed this often (0: never),
# for servers where that is the only way to see changes.
FHIR_BULK_EVERY_MINUTES = env_int("FHIR_BULK_EVERY_MINUTES", 0, min_value=0)

# HL7 v2 feed ---------------------------------------------------------------
# `manage.py run_mllp` listens for the interface engine's messages.

HL7_DEFAULT_CHARSET = env_choice(
    "HL7_DEFAULT_CHARSET", "utf-8", ["utf-8", "latin-1", "cp1252", "ascii"]
)
# A frame larger than this is answered AR and only its first bytes are kept.
HL7_MAX_MESSAGE_BYTES = env_int(
    "HL7_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, min_value=1024
)
# MSH-11 processing ids applied (P: production); others are answered AR, so
# that test or training messages never reach the mirror by mistake.
HL7_PROCESSING_IDS = env_list("HL7_PROCESSING_IDS", ["P"])
# MSH-12 version ids read; others are answered AR with ERR code 203
# (unsupported version id): the readers know the segments of 2.3 to 2.8.
HL7_VERSIONS = env_list(
    "HL7_VERSIONS",
    [
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
    ],
)
# MSH-3 of our acknowledgements.
HL7_APPLICATION = env_str("HL7_APPLICATION", "DOWNTIME")
# The listener's connections prepare their statements on the server; turn it
# off behind a pooler that cannot keep them (PgBouncer in transaction mode).
HL7_PREPARED_STATEMENTS = env_bool("HL7_PREPARED_STATEMENTS", True)
# The answer to every message while a downtime isolates the inbound feeds
# (each is stored, not applied): AR, HL7's refusal for a reason unrelated to
# the message (engines keep it and send it again later), or AE, an error in
# the message (engines usually set it aside and carry on with the next).
HL7_ISOLATED_ACK = env_choice("HL7_ISOLATED_ACK", "AR", ["AR", "AE"])
# PID-3 identifier type codes (CX-5) that make an MRN, most wanted first.
HL7_MRN_TYPES = env_list("HL7_MRN_TYPES", ["MR", "PI", "PT"])
# The MRN system of patients the HL7 feed names, when the mirror also takes
# FHIR (the FHIR identifier system of the hospital's MRN, so that both feeds
# find the same patient); empty: PID-3's assigning authority.
HL7_MRN_SYSTEM = env_str("HL7_MRN_SYSTEM")

# Downtime packs ------------------------------------------------------------
# Files live under DATA_DIR/packs: published packs by content hash, and the
# cache of rendered patient sections.

PACK_DIR = DATA_DIR / "packs"
PACK_LAB_DAYS = env_int("PACK_LAB_DAYS", 7, min_value=1)
# Reports (imaging, letters, notes) of the last so many days are printed.
PACK_REPORT_DAYS = env_int("PACK_REPORT_DAYS", 7, min_value=1)
PACK_REFRESH_MINUTES = env_int("PACK_REFRESH_MINUTES", 15, min_value=1)
PACK_KEEP = env_int("PACK_KEEP", 5, min_value=1)
PACK_DEBOUNCE_SECONDS = env_int("PACK_DEBOUNCE_SECONDS", 60, min_value=0)
# A process rendering a pack refreshes its claim's heartbeat six times per
# this many seconds; a claim silent for longer is taken back (its process
# died, or its machine): by the next tick, a worker's start or a redelivery.
PACK_HEARTBEAT_MAX_AGE = env_int("PACK_HEARTBEAT_MAX_AGE", 60, min_value=10)
# Data older than these many minutes shows amber, then red.
FRESHNESS_AMBER_MINUTES = env_int("FRESHNESS_AMBER_MINUTES", 15, min_value=1)
FRESHNESS_RED_MINUTES = env_int("FRESHNESS_RED_MINUTES", 60, min_value=1)

# Ward stations -------------------------------------------------------------
# Ward PCs keep their wards' newest packs (`station/`, `downtime-station`).
# What the manifest tells them: ask for changes every CHECK seconds (a 304
# when nothing changed), report what they hold every SYNC seconds, and while
# a declared downtime's final set is not complete, ask every DOWNTIME seconds.
STATION_CHECK_SECONDS = env_int("STATION_CHECK_SECONDS", 15, min_value=5)
STATION_SYNC_SECONDS = env_int("STATION_SYNC_SECONDS", 120, min_value=30)
STATION_DOWNTIME_SECONDS = env_int("STATION_DOWNTIME_SECONDS", 30, min_value=5)
# Readiness: a ward whose best station copy's data is older than this, or
# that no station holds, is red; a station not heard from for this long is
# named.
STATION_COPY_MAX_MINUTES = env_int("STATION_COPY_MAX_MINUTES", 30, min_value=1)
STATION_SILENT_MINUTES = env_int("STATION_SILENT_MINUTES", 10, min_value=1)
# Requests a minute: per station; failed tokens per address; enrolments per
# address (counted per web process, see stations/limits.py).
STATION_RATE_PER_MINUTE = env_int("STATION_RATE_PER_MINUTE", 120, min_value=10)
STATION_AUTH_FAILURES_PER_MINUTE = env_int(
    "STATION_AUTH_FAILURES_PER_MINUTE", 10, min_value=1
)
STATION_ENROL_PER_MINUTE = env_int("STATION_ENROL_PER_MINUTE", 10, min_value=1)

# Logging -------------------------------------------------------------------
# Log lines carry internal ids only, never names, MRNs or birth dates.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    # WeasyPrint reports every layout step at INFO.
    "loggers": {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice(
            "LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
        ),
    },
}
