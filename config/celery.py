"""The Celery app. Options live in settings (CELERY_*); the beat schedule lives here."""

import os

from celery import Celery

from config.env import env_int

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("downtime_contingency")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The one beat schedule of the project.
app.conf.beat_schedule = {
    # Every minute a worker records a heartbeat, so the readiness check can
    # tell that beat, the broker and at least one worker all still work.
    # A heartbeat nobody picked up within 50 s is dropped, not piled up.
    "heartbeat": {
        "task": "downtime.tasks.heartbeat",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Every 15 seconds, queue a render of each ward pack that is due: changed
    # content, older than its refresh interval, or abandoned by a dead worker
    # (its claim's heartbeat stopped).
    # Often, because a change reaches the ward stations only once its pack is
    # rendered; comparing every ward's digest costs about 0.1 s (1,000
    # patients), and PACK_DEBOUNCE_SECONDS still holds a busy ward to one
    # render a minute.
    "queue-due-packs": {
        "task": "printouts.tasks.queue_due_packs",
        "schedule": 15.0,
        "options": {"expires": 12},
    },
    # Every minute, a planned downtime gets its packs rendered shortly before
    # its start, and begins at its start.
    "downtime-tick": {
        "task": "downtime.tasks.tick",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Every minute, compare the census journal's entries with what the EHR's
    # feeds say now: an entry the EHR says too is confirmed, and the journal
    # stops standing in for the EHR once it has caught up. Nothing to do (no
    # journal stay, every entry confirmed) costs one query.
    "sync-journal": {
        "task": "downtime.tasks.sync_journal",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Every hour, delete packs beyond the newest PACK_KEEP of each ward, and
    # cached patient sections nobody used for two days.
    "prune-packs": {
        "task": "printouts.tasks.prune_packs",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# A scheduled Bulk Data export, where IT asks for one (FHIR_BULK_EVERY_MINUTES,
# read here from the environment as settings.py reads it: this module is
# loaded before Django's settings are).
_bulk_minutes = env_int("FHIR_BULK_EVERY_MINUTES", 0, min_value=0)
if _bulk_minutes:
    app.conf.beat_schedule["pull-fhir-bulk"] = {
        "task": "patients.tasks.pull_fhir_bulk",
        "schedule": 60.0 * _bulk_minutes,
        "options": {"expires": 60.0 * _bulk_minutes},
    }
