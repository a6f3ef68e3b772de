from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from patients.summary.clinical import REPORT_STATUS
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


@register.simple_tag
def warning_mark(label: str = "") -> SafeString:
    """The ⚠ before what must not be missed, as a screen reader should say
    it: ``label`` ("Warning:" unless given) rather than the symbol, which
    each reader names differently, or not at all. The symbol stays on the
    line of what it marks."""
    return format_html(
        '<span class="visually-hidden">{}</span> '
        '<span aria-hidden="true">⚠&nbsp;</span>',
        label or _("Warning:"),
    )


@register.filter
def report_status(code: str) -> str:
    """A report's status as a reader says it ("preliminary"); a code this
    does not know, as sent."""
    return str(REPORT_STATUS.get(code, code))
