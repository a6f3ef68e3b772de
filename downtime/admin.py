from django.contrib import admin

from downtime.models import Downtime, Heartbeat, Transition


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never edited here: rows change only through the services."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "beat_at", "worker")


class TransitionInline(admin.TabularInline):
    model = Transition
    fields = ("state", "at", "user", "why")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Downtime)
class DowntimeAdmin(ReadOnlyAdmin):
    list_display = ("declared_at", "kind", "drill", "state", "frozen_at")
    list_filter = ("state", "kind", "drill")
    inlines = (TransitionInline,)
