from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from patients.admin import ReadOnlyAdmin
from stations.models import Station
from stations.services import station_revoke


@admin.register(Station)
class StationAdmin(ReadOnlyAdmin):
    """Shown here; made on the stations page (/stations/), which gives the
    one-time enrolment code."""

    list_display = (
        "name",
        "enrolled_at",
        "last_seen_at",
        "version",
        "free_disk",
        "revoked_at",
    )
    list_filter = ("locations",)
    search_fields = ("name", "notes")
    exclude = ("code_hash", "token_hash")
    readonly_fields = (
        *(f.name for f in Station._meta.fields if not f.name.endswith("_hash")),
        "locations",
    )
    actions = ("revoke",)

    @admin.action(description=_("Revoke the selected stations"))
    def revoke(self, request, queryset) -> None:
        count = 0
        for station in queryset.filter(revoked_at__isnull=True):
            station_revoke(station=station, user=request.user)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d station revoked.", "%(count)d stations revoked.", count)
            % {"count": count},
            messages.SUCCESS,
        )
