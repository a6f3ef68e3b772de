from django.contrib import admin

from patients.admin import ReadOnlyAdmin
from printouts.models import Pack, PackSchedule, ReportPrinting, WardLanguage


@admin.register(Pack)
class PackAdmin(ReadOnlyAdmin):
    list_display = (
        "title",
        "kind",
        "day",
        "status",
        "reason",
        "requested_at",
        "generated_at",
        "as_of",
        "page_count",
        "patient_count",
        "attempts",
    )
    list_filter = ("status", "kind", "reason")
    search_fields = ("title", "sha256")
    date_hierarchy = "requested_at"
    ordering = ("-requested_at", "-pk")
    list_select_related = ("location",)
    readonly_fields = tuple(f.name for f in Pack._meta.fields)


@admin.register(PackSchedule)
class PackScheduleAdmin(admin.ModelAdmin):
    list_display = ("location", "refresh_minutes")
    autocomplete_fields = ("location",)
    ordering = ("location__name",)


@admin.register(WardLanguage)
class WardLanguageAdmin(admin.ModelAdmin):
    """Set by IT; the beat's next tick renders the place's packs again (the
    language is part of their digest), and its label sheets and blank forms
    follow."""

    list_display = ("location", "language")
    list_filter = ("language",)
    search_fields = ("location__name",)
    autocomplete_fields = ("location",)
    ordering = ("location__name",)
    list_select_related = ("location",)


@admin.register(ReportPrinting)
class ReportPrintingAdmin(admin.ModelAdmin):
    """Set by IT for a ward that asks for reports in full; the beat's next
    tick renders its packs again (the choice is part of their digest)."""

    list_display = ("location", "full_text")
    search_fields = ("location__name",)
    autocomplete_fields = ("location",)
    ordering = ("location__name",)
    list_select_related = ("location",)
