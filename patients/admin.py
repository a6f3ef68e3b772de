"""What IT sees of the mirror in the admin: the feeds, the quarantine, the
HL7 inbox and the ward structure, all read-only.

Patient records are not browsed here: they are read through the nurses'
pages, which check the reader's wards and write the access log.
"""

import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from patients.ingest.hl7v2.inbox import hl7_replay
from patients.models import FeedState, InboundMessage, Location, QuarantinedResource
from patients.services import quarantine_replay


class ReadOnlyAdmin(admin.ModelAdmin):
    """The mirror is written by its feeds only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FeedState)
class FeedStateAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "last_success_at",
        "last_attempt_at",
        "last_error_at",
        "short_error",
    )
    fields = (
        "name",
        "last_success_at",
        "last_attempt_at",
        "last_error_at",
        "last_error",
        "cursor",
        "summary",
    )
    readonly_fields = fields
    ordering = ("name",)

    @admin.display(description=_("last error"))
    def short_error(self, state: FeedState) -> str:
        return Truncator(state.last_error).chars(80)

    @admin.display(description=_("last summary"))
    def summary(self, state: FeedState) -> str:
        return _preformatted(json.dumps(state.last_summary, indent=2, sort_keys=True))


@admin.register(QuarantinedResource)
class QuarantinedResourceAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "feed",
        "resource_type",
        "resource_id",
        "short_reason",
        "status",
        "attempts",
    )
    list_filter = ("status", "feed", "resource_type")
    search_fields = ("reason", "resource_id")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-pk")
    fields = (
        "status",
        "feed",
        "origin",
        "resource_type",
        "resource_id",
        "reason",
        "received_at",
        "attempts",
        "replayed_at",
        "content",
        "references",
    )
    readonly_fields = fields
    actions = ("replay",)

    @admin.display(description=_("reason"))
    def short_reason(self, row: QuarantinedResource) -> str:
        return Truncator(row.reason).chars(100)

    @admin.display(description=_("raw content"))
    def content(self, row: QuarantinedResource) -> str:
        try:
            text = json.dumps(json.loads(row.raw), indent=2, ensure_ascii=False)
        except ValueError:
            text = row.raw  # shown exactly as received
        return _preformatted(text)

    @admin.action(description=_("Replay the selected resources"))
    def replay(self, request, queryset) -> None:
        ids = list(
            queryset.filter(status=QuarantinedResource.Status.HELD).values_list(
                "pk", flat=True
            )
        )
        quarantine_replay(ids=ids)
        still = QuarantinedResource.objects.filter(
            pk__in=ids, status=QuarantinedResource.Status.HELD
        ).count()
        applied = len(ids) - still
        self.message_user(
            request,
            ngettext(
                "%(applied)d resource applied, %(held)d still held.",
                "%(applied)d resources applied, %(held)d still held.",
                applied,
            )
            % {"applied": applied, "held": still},
            messages.WARNING if still else messages.SUCCESS,
        )


@admin.register(Location)
class LocationAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "ward", "part_of", "identifier_value", "source_id")
    list_filter = ("kind", "source_feed")
    search_fields = ("name", "identifier_value", "source_id")
    list_select_related = ("ward", "part_of")
    ordering = ("kind", "name")


def _preformatted(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """The HL7 listener's inbox: every message received, and what came of it."""

    list_display = (
        "received_at",
        "message_type",
        "control_id",
        "sender",
        "status",
        "ack_code",
        "short_error",
        "attempts",
    )
    list_filter = ("status", "ack_code", "message_type")
    search_fields = ("control_id", "sender", "error")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-pk")
    fields = (
        "status",
        "ack_code",
        "error",
        "outcome",
        "message_type",
        "control_id",
        "sender",
        "event_at",
        "received_at",
        "applied_at",
        "attempts",
        "peer",
        "digest",
        "content",
    )
    readonly_fields = fields
    actions = ("replay",)

    @admin.display(description=_("error"))
    def short_error(self, row: InboundMessage) -> str:
        return Truncator(row.error).chars(100)

    @admin.display(description=_("raw bytes"))
    def content(self, row: InboundMessage) -> str:
        raw = bytes(row.raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # shown as received, byte for byte
        return _preformatted(text.replace("\r\n", "\n").replace("\r", "\n"))

    @admin.action(description=_("Apply the selected messages again"))
    def replay(self, request, queryset) -> None:
        chosen = queryset.exclude(
            status__in=[InboundMessage.Status.APPLIED, InboundMessage.Status.DUPLICATE]
        ).order_by("pk")
        counts = hl7_replay(messages=list(chosen))
        failing = counts.get("failed", 0) + counts.get("rejected", 0)
        applied = sum(counts.values()) - failing
        self.message_user(
            request,
            ngettext(
                "%(applied)d message went through, %(failing)d still failing.",
                "%(applied)d messages went through, %(failing)d still failing.",
                applied,
            )
            % {"applied": applied, "failing": failing},
            messages.WARNING if failing else messages.SUCCESS,
        )
