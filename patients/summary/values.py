"""Plain values of a summary: local ISO times, translated labels, ages,
the natural order of beds."""

import datetime as dt
from functools import cache

from django.db import models
from django.utils import timezone, translation
from django.utils.translation import pgettext

SEX_LETTER = {
    "female": lambda: pgettext("sex, one letter", "F"),
    "male": lambda: pgettext("sex, one letter", "M"),
    "other": lambda: pgettext("sex, one letter", "X"),
}


def label(choices: type[models.TextChoices], value: str) -> str:
    """``get_FOO_display()``, translated once per language and value rather
    than every label of the field on every row (a census is 25 rows)."""
    return _labels(choices, translation.get_language()).get(value, value)


@cache
def _labels(choices: type[models.TextChoices], language: str | None) -> dict:
    with translation.override(language):
        return {value: str(text) for value, text in choices.choices}


def age(born: dt.date | None, today: dt.date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def iso(value, *, date_only: bool = False) -> str:
    """Local time, as ISO text (the templates format it for the language)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
        return value.date().isoformat() if date_only else value.isoformat()
    return value.isoformat()


def clock(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%H:%M")


def bed_order(name: str) -> tuple:
    """Natural order: bed 2 before bed 10; no bed last."""
    digits = "".join(c if c.isdigit() else " " for c in name).split()
    return (not name, [int(d) for d in digits], name)
