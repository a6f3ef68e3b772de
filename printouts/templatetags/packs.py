"""Filters of the pack templates: the data carries ISO text (it is hashed),
these format it as the hospital reads it."""

import datetime as dt

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from printouts.pdf import BAR_HEIGHT_MM, code128

register = template.Library()


@register.filter
def when(value: str) -> str:
    """ISO date-time to "22/11/2026 14:05"; ISO date to "22/11/2026"."""
    if not value:
        return ""
    if "T" in value:
        return date_format(dt.datetime.fromisoformat(value), "d/m/Y H:i")
    return date_format(dt.date.fromisoformat(value), "d/m/Y")


@register.filter
def time_of_day(value: str) -> str:
    """ISO date-time to "14:05"."""
    return date_format(dt.datetime.fromisoformat(value), "H:i") if value else ""


@register.filter
def barcode(value: str) -> str:
    """An <img> of the value's Code 128 barcode, at its true size."""
    if not value:
        return ""
    url, width = code128(value)
    return format_html(
        '<img class="barcode" src="{}" style="width: {}mm; height: {}mm" alt="">',
        url,
        f"{width:.2f}",
        f"{BAR_HEIGHT_MM:.1f}",
    )


@register.simple_tag
def hours(start: int = 6) -> list[int]:
    """The MAR grid's 24 hour columns, from the ward's day start."""
    return [(start + step) % 24 for step in range(24)]


@register.filter
def freshness(pack) -> str:
    """ "fresh", "amber" or "red": how old the pack's data is."""
    age = (timezone.now() - pack.as_of).total_seconds() / 60
    if age >= settings.FRESHNESS_RED_MINUTES:
        return "red"
    return "amber" if age >= settings.FRESHNESS_AMBER_MINUTES else "fresh"
