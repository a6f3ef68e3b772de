from django.contrib import admin
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AccessLog, WardMembership
from config.spreadsheet import FormulaSafeWriter
from patients.admin import ReadOnlyAdmin


@admin.register(WardMembership)
class WardMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "location")
    list_filter = ("location",)
    search_fields = ("user__username", "user__last_name", "location__name")
    autocomplete_fields = ("location",)
    list_select_related = ("user", "location")


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    """Read-only, as the database makes it: rows are never changed."""

    list_display = (
        "at",
        "username",
        "roles",
        "station",
        "action",
        "target",
        "outcome",
        "address",
    )
    list_filter = ("action", "outcome", "roles", "station")
    list_select_related = ("station",)
    search_fields = ("username", "target")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")
    readonly_fields = tuple(f.name for f in AccessLog._meta.fields)
    actions = ("export_csv",)

    @admin.action(description=_("Export the selected entries as CSV"))
    def export_csv(self, request, queryset) -> HttpResponse:
        """For an auditor: filter the list (by user, action, outcome, date),
        select all, export. Times in UTC, as stored. A name typed on a ward
        station or a target cannot become a formula in the auditor's
        spreadsheet."""
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="access-log-{stamp}.csv"'
        )
        response["Cache-Control"] = "no-store"
        writer = FormulaSafeWriter(response)
        fields = [f.name for f in AccessLog._meta.fields if f.name != "user"]
        writer.writerow(fields)
        entries = queryset.select_related("station").order_by("at", "pk")
        for entry in entries.iterator():
            writer.writerow([_csv_value(entry, name) for name in fields])
        return response


def _csv_value(entry: AccessLog, name: str) -> str:
    value = getattr(entry, name)
    if name == "at":
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return "" if value is None else str(value)
