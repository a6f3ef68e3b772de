"""What IT sees of the mirror in the admin: the feeds, the quarantine, the
HL7 inbox and the ward structure, all read-only.

Patient records are not browsed here: they are read through the nurses'
pages, which check the reader's wards and write the access log. The lists
and pages of the quarantine and the HL7 inbox show what was received, when,
from whom and what came of it; the raw content, which holds patient data,
is on a page of its own (``RawContentAdmin``), for IT, and logged.
"""

import json

from django.contrib import admin, messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import AccessLog, Role
from accounts.selectors import user_roles
from accounts.services import access_denied, access_record
from patients.ingest.hl7v2.inbox import hl7_replay
from patients.models import FeedState, InboundMessage, Location, QuarantinedResource
from patients.selectors import inbound_message_patients, quarantined_resource_patients
from patients.services import quarantine_replay


class ReadOnlyAdmin(admin.ModelAdmin):
    """The mirror is written by its feeds only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RawContentAdmin(ReadOnlyAdmin):
    """Rows whose raw content holds patient data: the list and the change
    page show only what describes it; IT reads the content on a page of its
    own (``<id>/raw/``), reached by a button that says the look is logged.

    That page answers a POST only (the button's; a GET goes back to the
    change page), writes the access log row in the transaction that reads
    the content, and renders inside it: no row, no content. Anyone else is
    refused and the refusal logged, as on the nurses' pages.
    """

    raw_action: str  # AccessLog.Action
    raw_target: str  # what the access log's target calls a row, before its id
    raw_button: str  # the button's label, which says the look is logged

    def raw_text(self, row) -> str:
        raise NotImplementedError

    def raw_patients(self, row) -> list[int]:
        """The internal ids of the mirror's patients the content is about."""
        raise NotImplementedError

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}_raw"
        raw = self.admin_site.admin_view(self.raw_view)
        return [path("<int:pk>/raw/", raw, name=name), *super().get_urls()]

    def page_url(self, page: str, pk: int) -> str:
        """This admin's ``page`` ("change", "raw") of row ``pk``."""
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}"
        return reverse(name, args=[pk])

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if not self.may_read_raw(request):
            fields.remove("raw_content")
        return fields

    def may_read_raw(self, request: HttpRequest) -> bool:
        return Role.IT in user_roles(user=request.user) and self.has_view_permission(
            request
        )

    @admin.display(description=_("raw content"))
    def raw_content(self, row) -> str:
        """A button of the change page's own form: it posts to the raw page."""
        return format_html(
            '<button type="submit" formaction="{}" class="raw-content-button">{}'
            '</button><p class="raw-content-note">{}</p>',
            self.page_url("raw", row.pk),
            self.raw_button,
            _(
                "It holds patient data: it is shown on a page of its own, and "
                "each look is written to the access log under your name."
            ),
        )

    def raw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return redirect(self.page_url("change", pk))
        target = f"{self.raw_target} {pk}"
        if not self.may_read_raw(request):
            access_denied(request=request, action=self.raw_action, target=target)
        with transaction.atomic():
            row = self.get_object(request, str(pk))
            if row is None:
                raise Http404
            entry = access_record(
                request=request,
                action=self.raw_action,
                outcome=AccessLog.Outcome.ALLOWED,
                target=target,
                patients=self.raw_patients(row),
            )
            return render(
                request,
                "admin/patients/raw_content.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "original": row,
                    "title": gettext("Raw content of %(what)s") % {"what": row},
                    "text": self.raw_text(row),
                    "entry": entry,
                },
            )


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
        "way",
        "export",
        "token_expires_at",
        "summary",
    )
    readonly_fields = fields
    ordering = ("name",)

    @admin.display(description=_("last error"))
    def short_error(self, state: FeedState) -> str:
        return Truncator(state.last_error).chars(80)

    @admin.display(description=_("last export"))
    def export(self, state: FeedState) -> str:
        return _preformatted(json.dumps(state.last_export, indent=2, sort_keys=True))

    @admin.display(description=_("last summary"))
    def summary(self, state: FeedState) -> str:
        return _preformatted(json.dumps(state.last_summary, indent=2, sort_keys=True))


@admin.register(QuarantinedResource)
class QuarantinedResourceAdmin(RawContentAdmin):
    """Held FHIR resources. The reason names the element, never its value
    (``patients.ingest.values``), so it is shown; the resource is not."""

    raw_action = AccessLog.Action.QUARANTINED
    raw_target = "quarantined resource"
    raw_button = _("Show the raw resource (this is logged in the access log)")
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
        "references",
        "raw_content",
    )
    readonly_fields = fields
    actions = ("replay",)

    @admin.display(description=_("reason"))
    def short_reason(self, row: QuarantinedResource) -> str:
        return Truncator(row.reason).chars(100)

    def raw_text(self, row: QuarantinedResource) -> str:
        try:
            return json.dumps(json.loads(row.raw), indent=2, ensure_ascii=False)
        except ValueError:
            return row.raw  # shown exactly as received

    def raw_patients(self, row: QuarantinedResource) -> list[int]:
        return quarantined_resource_patients(resource=row)

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
    return format_html('<pre class="preformatted">{}</pre>', text)


@admin.register(InboundMessage)
class InboundMessageAdmin(RawContentAdmin):
    """The HL7 listener's inbox: every message received, and what came of it.
    Errors name the segment and field, never the value, so they are shown;
    the message is not."""

    raw_action = AccessLog.Action.HL7_MESSAGE
    raw_target = "inbound message"
    raw_button = _("Show the raw message (this is logged in the access log)")
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
        "raw_content",
    )
    readonly_fields = fields
    actions = ("replay",)

    @admin.display(description=_("error"))
    def short_error(self, row: InboundMessage) -> str:
        return Truncator(row.error).chars(100)

    def raw_text(self, row: InboundMessage) -> str:
        raw = bytes(row.raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # shown as received, byte for byte
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def raw_patients(self, row: InboundMessage) -> list[int]:
        return inbound_message_patients(message=row)

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
