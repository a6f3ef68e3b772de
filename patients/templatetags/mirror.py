from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.units import display_unit

register = template.Library()


@register.filter
def next_doses(hours: list[int]) -> list[str]:
    """The due hours of the next 24 hours, from now, as "14:00"; a dose of
    tomorrow says so."""
    now = timezone.localtime()
    doses = []
    for hour in sorted(hours, key=lambda hour: (hour - now.hour - 1) % 24):
        text = f"{hour:02d}:00"
        if hour <= now.hour:
            text = _("%(time)s tomorrow") % {"time": text}
        doses.append(text)
    return doses


@register.filter
def unit(code: str) -> str:
    """A UCUM unit as a nurse writes it: "mm[Hg]" as "mmHg", "Cel" as "°C"."""
    return display_unit(code)
