"""Downtime registration numbers: temporary MRNs for patients who arrive
while the EHR cannot register them.

A number is the prefix (DOWNTIME_NUMBER_PREFIX), six digits of a sequence
that is never reused, and a check digit (Luhn), so that a digit copied wrong
from paper is caught: "DT0001234" is read out as DT 000123 4.
"""

import datetime as dt
import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from downtime.models import Downtime, DowntimeNumber, NumberBlock
from downtime.selectors import downtime_active
from downtime.worklists import worklist_add_number
from patients.models import Location, Patient
from printouts import pdf
from printouts.models import Printout
from printouts.published import printout_publish
from printouts.selectors import paper_language

LABELS_PER_SHEET = 21  # printouts' label sheets: 3 x 7 of 63.5 x 38.1 mm
MAX_BLOCK = 50 * LABELS_PER_SHEET


def check_digit(digits: str) -> str:
    """Luhn's check digit of a string of digits."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def number_text(sequence: int) -> str:
    digits = f"{sequence:06d}"
    return f"{settings.DOWNTIME_NUMBER_PREFIX}{digits}{check_digit(digits)}"


def spaced(number: str) -> str:
    """As read out and printed: "DT 000123 4"."""
    prefix = settings.DOWNTIME_NUMBER_PREFIX
    digits = number.removeprefix(prefix)
    return f"{prefix} {digits[:-1]} {digits[-1:]}"


def numbers_allocate(*, location: Location, count: int, user) -> NumberBlock:
    """The next ``count`` numbers, as a block for this ward or department.

    Two allocations at once never share a number: the sequence is unique,
    and the loser of a race takes the numbers after the winner's."""
    if not 1 <= count <= MAX_BLOCK:
        raise ValidationError(
            _("Allocate between 1 and %(most)d numbers at a time.")
            % {"most": MAX_BLOCK}
        )
    prefix = settings.DOWNTIME_NUMBER_PREFIX
    # The census journal's patients have downtime numbers for MRNs.
    real = Patient.objects.exclude(mrn_system=settings.DOWNTIME_MRN_SYSTEM)
    if real.filter(mrn__istartswith=prefix).exists():
        raise ValidationError(
            _(
                "Some real MRNs start with %(prefix)s: downtime numbers could be "
                "taken for them. Choose another DOWNTIME_NUMBER_PREFIX."
            )
            % {"prefix": prefix}
        )
    for _attempt in range(5):
        first = (DowntimeNumber.objects.aggregate(top=Max("sequence"))["top"] or 0) + 1
        try:
            with transaction.atomic():
                block = NumberBlock.objects.create(
                    location=location,
                    first=first,
                    last=first + count - 1,
                    allocated_at=timezone.now(),
                    allocated_by=user,
                )
                DowntimeNumber.objects.bulk_create(
                    DowntimeNumber(sequence=n, number=number_text(n), block=block)
                    for n in range(first, first + count)
                )
            return block
        except IntegrityError:  # allocated by someone else meanwhile: after it
            continue
    raise ValidationError(_("Numbers are being allocated elsewhere: try again."))


def number_labels(*, block: NumberBlock, language: str) -> bytes:
    """The block's numbers as sheets of labels with barcodes, to stick on a
    new arrival's wristband, forms and samples."""
    numbers = [
        {"number": number, "spaced": spaced(number)}
        for number in block.numbers.values_list("number", flat=True)
    ]
    with translation.override(language):
        html = render_to_string(
            "downtime/number_labels.html",
            {
                "language": language,
                "place": block.location.name,
                # A section per sheet: a grid does not break across pages.
                "sheets": [
                    numbers[start : start + LABELS_PER_SHEET]
                    for start in range(0, len(numbers), LABELS_PER_SHEET)
                ],
            },
        )
        data, _fetcher = pdf.html_to_pdf(html)
    return data


def number_labels_due() -> list[NumberBlock]:
    """Blocks whose label sheets ward stations do not have yet."""
    published = set(
        Printout.objects.filter(kind=Printout.Kind.NUMBERS).values_list(
            "key", flat=True
        )
    )
    blocks = NumberBlock.objects.select_related("location").order_by("pk")
    return [block for block in blocks if _key(block) not in published]


def number_labels_publish(*, block: NumberBlock) -> Printout:
    """A block's label sheets, signed, for the stations of its ward."""
    language = paper_language(location=block.location)
    data = number_labels(block=block, language=language)
    numbers = list(block.numbers.values_list("number", flat=True))
    return printout_publish(
        kind=Printout.Kind.NUMBERS,
        title=f"{number_text(block.first)} - {number_text(block.last)}",
        data=data,
        pages=pdf.page_count(data),
        content_digest=hashlib.sha256(" ".join(numbers).encode()).hexdigest(),
        location=block.location,
        key=_key(block),
        language=language,
    )


def _key(block: NumberBlock) -> str:
    return f"block-{block.pk}"


def number_use_record(
    *,
    number: str,
    location: Location,
    used_at: dt.datetime,
    used_by: str,
    user,
) -> DowntimeNumber:
    """Record, from the paper that came back, that a number was given to a
    patient: where, when and by whom. Once only."""
    text = "".join(number.split()).upper()
    prefix = settings.DOWNTIME_NUMBER_PREFIX
    digits = text.removeprefix(prefix)
    if not (text.startswith(prefix) and digits.isdigit() and len(digits) == 7):
        raise ValidationError(
            _("A downtime number is %(prefix)s and seven digits, like %(example)s.")
            % {"prefix": prefix, "example": number_text(123)}
        )
    if check_digit(digits[:-1]) != digits[-1]:
        raise ValidationError(
            _("The last digit does not match: a digit was probably copied wrong.")
        )
    with transaction.atomic():
        found = DowntimeNumber.objects.select_for_update().filter(number=text).first()
        if found is None:
            raise ValidationError(_("No such number was ever allocated."))
        if found.recorded_at is not None:
            raise ValidationError(
                _("This number was already recorded: %(ward)s, %(time)s.")
                % {
                    "ward": found.used_on.name if found.used_on else "?",
                    "time": timezone.localtime(found.used_at).strftime("%d/%m %H:%M"),
                }
            )
        found.used_on = location
        found.used_at = used_at
        found.used_by = used_by
        found.downtime = _downtime_at(used_at)
        found.recorded_at = timezone.now()
        found.recorded_by = user
        found.save()
        worklist_add_number(number=found)
    return found


def _downtime_at(moment: dt.datetime) -> Downtime | None:
    """The downtime a use belongs to: the one in progress (the paper comes
    back during the downtime or its recovery; the time written on it may
    even precede the declaration by minutes, as the wards start on paper
    when the screens go dark), else the newest begun before that moment."""
    return downtime_active() or (
        Downtime.objects.filter(
            declared_at__lte=moment,
            state__in=(
                Downtime.State.DOWNTIME,
                Downtime.State.RECOVERY,
                Downtime.State.CLOSED,
            ),
        )
        .order_by("-declared_at")
        .first()
    )
