# Load the Celery app with Django so that `delay_on_commit` finds it.
from config.celery import app as celery_app

__all__ = ("celery_app",)
