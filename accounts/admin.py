from django.contrib import admin

from accounts.models import AccessLog, WardMembership
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

    list_display = ("at", "username", "roles", "action", "target", "outcome", "address")
    list_filter = ("action", "outcome", "roles")
    search_fields = ("username", "target")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")
    readonly_fields = tuple(f.name for f in AccessLog._meta.fields)
