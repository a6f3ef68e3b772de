"""Reports and documents: DiagnosticReport (imaging, pathology, lab panels)
and DocumentReference (letters, notes), as plain text (``ingest.text``).
Only text given inline is taken in; an attachment by URL, or in a format
that is not text, is listed and never fetched."""

from collections.abc import Mapping

from patients.ingest import text as t
from patients.ingest import values as v
from patients.ingest.mappers.base import Mapper, Row
from patients.ingest.mappers.clinical import subject
from patients.ingest.values import Invalid
from patients.models import Report

DIAGNOSTIC_STATUSES = {
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
}
DOCUMENT_STATUSES = {"current", "superseded", "entered-in-error"}
DOC_STATUSES = {"preliminary", "final", "amended", "entered-in-error"}


class DiagnosticReportMapper(Mapper):
    resource_type = "DiagnosticReport"
    model = Report
    links = ("patient", "encounter")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        path = "DiagnosticReport"
        title = v.concept_text(resource.get("code"), f"{path}.code")
        if not title:
            raise Invalid(
                f"{path}.code is missing: what the report is about is unknown"
            )
        period = resource.get("effectivePeriod") or {}
        issued = v.datetime(resource.get("issued"), f"{path}.issued") or v.datetime(
            resource.get("effectiveDateTime") or period.get("start"),
            f"{path}.effective",
        )
        conclusion = t.tidy(v.text(resource.get("conclusion"), f"{path}.conclusion"))
        if not conclusion:
            conclusion = "; ".join(
                found
                for found in (
                    v.concept_text(c, f"{path}.conclusionCode")
                    for c in v.items(
                        resource.get("conclusionCode"), f"{path}.conclusionCode"
                    )
                )
                if found
            )
        texts, attachments = attachments_of(
            v.items(resource.get("presentedForm"), f"{path}.presentedForm"),
            f"{path}.presentedForm",
        )
        row = Row(
            {
                "kind": Report.Kind.DIAGNOSTIC,
                "category": first_text(resource.get("category"), f"{path}.category"),
                "title": title,
                "code": v.concept_code(resource.get("code"), f"{path}.code"),
                "status": v.code(
                    resource.get("status"),
                    f"{path}.status",
                    DIAGNOSTIC_STATUSES,
                    required=True,
                ),
                "issued_at": issued,
                "author": displays(
                    [
                        *v.items(
                            resource.get("resultsInterpreter"),
                            f"{path}.resultsInterpreter",
                        ),
                        *v.items(resource.get("performer"), f"{path}.performer"),
                    ],
                    f"{path}.performer",
                ),
                "conclusion": conclusion,
                "text": "\n\n".join(texts),
                "attachments": attachments,
            }
        )
        subject(row, resource, f"{path}.subject", urns)
        row.want(
            "encounter",
            resource.get("encounter"),
            f"{path}.encounter",
            ("Encounter",),
            urns,
        )
        return row


class DocumentReferenceMapper(Mapper):
    resource_type = "DocumentReference"
    model = Report
    links = ("patient", "encounter")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        path = "DocumentReference"
        status = v.code(
            resource.get("status"), f"{path}.status", DOCUMENT_STATUSES, required=True
        )
        document = v.code(resource.get("docStatus"), f"{path}.docStatus", DOC_STATUSES)
        title = v.concept_text(resource.get("type"), f"{path}.type") or v.text(
            resource.get("description"), f"{path}.description"
        )
        contents = [
            entry.get("attachment")
            for entry in v.items(resource.get("content"), f"{path}.content")
            if isinstance(entry, dict)
        ]
        if not contents or not all(isinstance(a, dict) for a in contents):
            raise Invalid(f"{path}.content.attachment is missing: there is no document")
        texts, attachments = attachments_of(contents, f"{path}.content.attachment")
        title = title or next(
            (
                v.text(a["title"], f"{path}.content.attachment.title")
                for a in contents
                if a.get("title")
            ),
            "",
        )
        if not title:
            raise Invalid(f"{path}.type is missing: what the document is is unknown")
        context = resource.get("context") or {}
        if not isinstance(context, dict):
            raise Invalid(f"{path}.context is not an object")
        row = Row(
            {
                "kind": Report.Kind.DOCUMENT,
                "category": first_text(resource.get("category"), f"{path}.category"),
                "title": title,
                "code": v.concept_code(resource.get("type"), f"{path}.type"),
                # The document's own status (final, preliminary) while the
                # reference is current; else why it no longer counts.
                "status": (document or status) if status == "current" else status,
                "issued_at": v.datetime(resource.get("date"), f"{path}.date"),
                "author": displays(
                    v.items(resource.get("author"), f"{path}.author"), f"{path}.author"
                ),
                "text": "\n\n".join(texts),
                "attachments": attachments,
            }
        )
        subject(row, resource, f"{path}.subject", urns)
        encounters = v.items(context.get("encounter"), f"{path}.context.encounter")
        row.want(
            "encounter",
            encounters[0] if encounters else None,
            f"{path}.context.encounter",
            ("Encounter",),
            urns,
        )
        return row


def attachments_of(attachments: list, path: str) -> tuple[list[str], list[dict]]:
    """(texts given inline, the others listed: title, type, URL)."""
    texts, others = [], []
    for attachment in attachments:
        if not isinstance(attachment, dict):
            raise Invalid(f"{path} is not an Attachment")
        found = t.attachment_text(attachment, path)
        if found:
            texts.append(found)
        elif found is None:
            url = v.text(attachment.get("url"), f"{path}.url")
            others.append(
                {
                    "title": v.text(attachment.get("title"), f"{path}.title")[:255],
                    "type": t.media_type(attachment.get("contentType") or "")[0][:64],
                    # Only a web address is listed; anything else (file:,
                    # javascript:) is not a link anyone should follow.
                    "url": url[:2048]
                    if url.startswith(("https://", "http://"))
                    else "",
                }
            )
    return texts, others


def first_text(concepts, path: str) -> str:
    for concept in v.items(concepts, path):
        if found := v.concept_text(concept, path):
            return found
    return ""


def displays(references: list, path: str) -> str:
    """The names a list of References shows (their ``display``)."""
    names = []
    for reference in references:
        if isinstance(reference, dict) and reference.get("display"):
            name = v.text(reference["display"], f"{path}.display")
            if name not in names:
                names.append(name)
    return "; ".join(names)
