import datetime as dt
import math

from django import template

register = template.Library()


@register.filter
def minutes(duration: dt.timedelta) -> int:
    """A duration in whole minutes, rounded up: "try again in 15 minutes"."""
    return math.ceil(duration.total_seconds() / 60)
