"""Printouts a ward keeps beside its packs, published and signed like them:
its label sheets (with each ward pack, in the ward's language), the blank
downtime forms (once per template version and language the wards print
in), a block's downtime number labels (when the block is allocated). A new
row only when what it shows changed."""

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from patients.models import Location
from printouts import documents, pdf
from printouts.models import Pack, Printout
from printouts.selectors import paper_language, paper_languages
from printouts.signing import iso, key_current, statement_sign, text_sign

KEEP = 3  # versions of each printout kept on the server


def printout_publish(
    *,
    kind: str,
    title: str,
    data: bytes,
    pages: int,
    content_digest: str,
    location: Location | None = None,
    key: str = "",
    language: str | None = None,
    as_of: dt.datetime | None = None,
    patients: list[int] | None = None,
) -> Printout:
    """The file first (under its SHA-256), then the signed row; the newest
    row of the same printout when its content is unchanged."""
    language = language or settings.LANGUAGE_CODE
    newest = printout_newest(kind=kind, location=location, key=key, language=language)
    if newest is not None and newest.content_digest == content_digest:
        return newest
    sha256 = hashlib.sha256(data).hexdigest()
    documents.write_atomically(settings.PACK_DIR / "files" / f"{sha256}.pdf", data)
    with transaction.atomic():
        printout = Printout.objects.create(
            kind=kind,
            location=location,
            key=key,
            title=title,
            language=language,
            as_of=as_of,
            generated_at=timezone.now(),
            page_count=pages,
            size=len(data),
            sha256=sha256,
            content_digest=content_digest,
            patients=patients or [],
        )
        signed = statement_sign(_statement(printout))
        Printout.objects.filter(pk=printout.pk).update(
            statement=signed.statement,
            signature=signed.signature,
            signing_key=signed.key_id,
        )
    printout.refresh_from_db()
    return printout


def _statement(printout: Printout) -> dict:
    place = printout.location
    return {
        "format": 1,
        "item": f"{printout.kind}-{printout.pk}",
        "kind": printout.kind,
        "location": {"id": place.pk, "name": place.name} if place else None,
        "day": None,
        "key": printout.key,
        "title": printout.title,
        "language": printout.language,
        "as_of": iso(printout.as_of),
        "generated_at": iso(printout.generated_at),
        "sha256": printout.sha256,
        "size": printout.size,
        "pages": printout.page_count,
        "patients": len(printout.patients),
    }


def printout_newest(
    *, kind: str, location: Location | None, key: str, language: str
) -> Printout | None:
    return (
        Printout.objects.filter(
            kind=kind, location=location, key=key, language=language
        )
        .order_by("-generated_at", "-pk")
        .first()
    )


def labels_publish(*, ward: Location, as_of: dt.datetime) -> Printout | None:
    """The ward's label sheets, as its census stands (with each ward pack),
    in the ward's language; none for an empty ward."""
    entries = documents.label_entries(ward=ward)
    if not entries:
        return None
    language = paper_language(location=ward)
    digest = _digest(entries, language)
    newest = printout_newest(
        kind=Printout.Kind.LABELS, location=ward, key="", language=language
    )
    if newest is not None and newest.content_digest == digest:
        return newest
    sheets = documents.label_sheets(ward=ward, language=language, entries=entries)
    return printout_publish(
        kind=Printout.Kind.LABELS,
        title=ward.name,
        data=sheets.pdf,
        pages=sheets.pages,
        content_digest=digest,
        location=ward,
        language=language,
        as_of=as_of,
        patients=sheets.patient_ids,
    )


def forms_languages() -> list[str]:
    """The languages blank forms are kept in: the hospital's, and those of
    its wards and clinics."""
    places = Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    )
    used = {settings.LANGUAGE_CODE, *paper_languages(locations=places)}
    return [code for code, _name in settings.LANGUAGES if code in used]


def forms_due(*, language: str | None = None) -> list[str]:
    """The blank forms not yet published for today's templates, in
    ``language`` (None: in one of ``forms_languages`` at least)."""
    languages = [language] if language else forms_languages()
    missing = set().union(*(_forms_missing(code) for code in languages))
    return [form for form in documents.FORMS if form in missing]


def _forms_missing(language: str) -> set[str]:
    published = Printout.objects.filter(
        kind=Printout.Kind.FORM,
        language=language,
        content_digest=_digest(documents.template_version(), language),
    ).values_list("key", flat=True)
    return set(documents.FORMS) - set(published)


def forms_publish(*, language: str | None = None) -> list[Printout]:
    """Every blank form of the current templates not published yet, in
    ``language`` (None: in each of ``forms_languages``)."""
    languages = [language] if language else forms_languages()
    return [printout for code in languages for printout in _forms_publish(code)]


def _forms_publish(language: str) -> list[Printout]:
    published = []
    for form in forms_due(language=language):
        data = documents.blank_form(form=form, language=language)
        published.append(
            printout_publish(
                kind=Printout.Kind.FORM,
                title=_form_title(form, language),
                data=data,
                pages=pdf.page_count(data),
                content_digest=_digest(documents.template_version(), language),
                key=form,
                language=language,
            )
        )
    return published


def _form_title(form: str, language: str) -> str:
    with translation.override(language):
        return str(documents.FORMS[form])


def _digest(content, language: str) -> str:
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(
        f"{documents.template_version()}|{language}|{text}".encode()
    ).hexdigest()


def printouts_prune() -> tuple[int, set[str]]:
    """Keep the newest KEEP of each printout; returns how many rows went and
    the files they named (deleted by the caller once nothing names them)."""
    old = []
    slots = Printout.objects.values_list("kind", "location", "key", "language")
    for kind, location, key, language in slots.distinct():
        newest = Printout.objects.filter(
            kind=kind, location=location, key=key, language=language
        ).order_by("-generated_at", "-pk")
        old += list(newest.values_list("pk", flat=True)[KEEP:])
    files = set(Printout.objects.filter(pk__in=old).values_list("sha256", flat=True))
    deleted, _ = Printout.objects.filter(pk__in=old).delete()
    return deleted, files


def signatures_renew() -> int:
    """Ready packs and printouts signed by a key no longer in use, signed
    again with the current one, their statements unchanged: after a
    rotation (stations enrolled again after a broken chain trust only the
    new key), or when the keys were lost and made anew. Returns how many."""
    current = key_current().key_id
    renewed = 0
    for rows in (
        Pack.objects.filter(status=Pack.Status.READY).exclude(signature=""),
        Printout.objects.all(),
    ):
        stale = rows.exclude(signing_key=current).values_list("pk", "statement")
        for pk, statement in stale.iterator():
            signed = text_sign(statement)
            renewed += rows.filter(pk=pk, statement=statement).update(
                signature=signed.signature, signing_key=signed.key_id
            )
    return renewed


def signatures_stale() -> bool:
    current = key_current().key_id
    packs = Pack.objects.filter(status=Pack.Status.READY).exclude(signature="")
    return (
        packs.exclude(signing_key=current).exists()
        or Printout.objects.exclude(signing_key=current).exists()
    )


def printout_discard(*, printout: Printout) -> None:
    """A printout whose file is missing or damaged: its row goes, and it is
    made again (forms and number labels at the next tick, label sheets with
    the ward's next pack)."""
    Printout.objects.filter(pk=printout.pk).delete()
