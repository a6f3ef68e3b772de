import datetime as dt

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def clock(value: dt.datetime | None) -> str:
    """ "14:05" today, "29 Nov 14:05" on another day: a downtime can last
    days, and a bare time would then mislead."""
    if not value:  # None, or "" from a template's missing attribute
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return date_format(local, "H:i")
    return date_format(local, "j M H:i")
