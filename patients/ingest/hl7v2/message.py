"""Reading an HL7 v2 message as received: bytes to text, text to fields.

Bytes are decoded with the charset MSH-18 names (or ``HL7_DEFAULT_CHARSET``),
a leading byte-order mark is dropped, and LF or CRLF between segments become
CR: python-hl7 reads LF-separated text as a single segment without a word.
Every value a mapper reads goes through ``Message.value`` and its typed
readers, which raise ``Problem`` naming the segment, field and what is wrong,
in the terms the sender's interface analyst uses (``PID-7``), never with the
value itself (it may be a name or a birth date).
"""

import contextlib
import datetime as dt
import functools
import hashlib
import math
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from patients.ingest import values

# HL7 table 0211 (alternate character sets) to Python codecs.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    # Not in the table, but what Windows-based senders write.
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
}
BOM = b"\xef\xbb\xbf"
_SEGMENT = re.compile(r"^[A-Z][A-Z0-9]{2}$")
# HL7 2.10 escape sequences read as python-hl7's ``hl7.util.unescape``
# reads them; formatting ones repeated at most 99 times.
_FORMATTING = {
    ".br": "\r",
    ".sp": "\r",
    ".fi": "",
    ".nf": "",
    ".in": "    ",
    ".ti": "    ",
    ".sk": " ",
    ".ce": "\r",
}
_REPEATED = re.compile(r"(\.sp|\.sk|\.in|\.ti)([+-]?\d{1,2})", re.ASCII)
_HEX = re.compile(r"X((?:[0-9A-Fa-f]{2})+)")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TS = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$",
    re.ASCII,
)
_NM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


# HL7 table 0357 (message error condition codes) used in ERR-3.
class Code:
    SEGMENT_SEQUENCE = ("100", "Segment sequence error")
    REQUIRED_MISSING = ("101", "Required field missing")
    DATA_TYPE = ("102", "Data type error")
    TABLE_VALUE = ("103", "Table value not found")
    UNSUPPORTED_VERSION = ("203", "Unsupported version id")
    UNKNOWN_KEY = ("204", "Unknown key identifier")
    DUPLICATE_KEY = ("205", "Duplicate key identifier")
    INTERNAL = ("207", "Application internal error")


@dataclass
class Problem(Exception):
    """Why a message cannot be applied (AE) or read at all (AR)."""

    text: str
    segment: str = ""
    field: int | None = None
    component: int | None = None
    code: tuple[str, str] = Code.DATA_TYPE
    sequence: int = 1

    def __str__(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text

    @property
    def where(self) -> str:
        place = self.segment
        if self.field is not None:
            place += f"-{self.field}"
            if self.component:
                place += f".{self.component}"
        return place


class Unreadable(Problem):
    """Not an HL7 message we can even read: answered AR."""


class Ignored(Exception):
    """A message the mirror does not keep (an event it does not apply):
    acknowledged AA and counted as ignored."""


@dataclass(frozen=True)
class Header:
    """MSH, read before anything else: enough to acknowledge."""

    field_separator: str
    encoding: str  # MSH-2
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    message_type: str  # MSH-9.1
    trigger: str  # MSH-9.2
    version: str
    charset: str
    processing: str = ""  # MSH-11: P production, T training, D debugging

    @property
    def sender(self) -> str:
        return f"{self.sending_application}^{self.sending_facility}"

    @property
    def kind(self) -> str:
        return f"{self.message_type}^{self.trigger}" if self.trigger else ""


@functools.lru_cache(maxsize=4)  # a message each worker thread is reading
def read_header(raw: bytes) -> Header:
    """MSH of ``raw``: its first segment, read as Latin-1 (every charset we
    accept writes MSH in ASCII). Kept for the message's next reading (its
    digest, then the message itself): a Header cannot be changed."""
    body = raw.removeprefix(BOM).lstrip(b"\r\n")
    first = re.split(rb"\r\n|\r|\n", body, maxsplit=1)[0]
    line = first.decode("latin-1")
    if "\x00" in line:
        # Not echoed, not stored: the database refuses NUL in text.
        raise Unreadable("MSH contains NUL bytes", segment="MSH", code=Code.DATA_TYPE)
    if line.startswith(("FHS", "BHS")):
        raise Unreadable(
            "a batch (FHS/BHS) is not accepted over MLLP: send each message in "
            "its own frame",
            segment=line[:3],
            code=Code.SEGMENT_SEQUENCE,
        )
    if not line.startswith("MSH") or len(line) < 8:
        raise Unreadable(
            "the message does not start with an MSH segment",
            segment="MSH",
            code=Code.SEGMENT_SEQUENCE,
        )
    separator = line[3]
    fields = line.split(separator)
    encoding = fields[1] if len(fields) > 1 else ""
    if (
        separator.isalnum()
        or len(encoding) not in (4, 5)
        or len(set(encoding + separator)) != len(encoding) + 1
        or any(c.isalnum() or c.isspace() for c in encoding)
    ):
        raise Unreadable(
            "MSH-1 and MSH-2 do not give usable delimiters",
            segment="MSH",
            field=2,
            code=Code.DATA_TYPE,
        )
    component = encoding[0]
    # Read as Latin-1 to find the delimiters (ASCII in every charset we
    # accept), then again in the charset MSH-18 names: a control id or a
    # facility outside ASCII is echoed in the ACK as the sender wrote it.
    charset = (
        fields[17].split(encoding[1])[0].strip().upper() if len(fields) > 17 else ""
    )
    codec = CHARSETS.get(charset) if charset else settings.HL7_DEFAULT_CHARSET
    if codec and codec != "latin-1":
        # Not in that charset: the message's own reading answers AR, saying why.
        with contextlib.suppress(UnicodeDecodeError, LookupError):
            fields = first.decode(codec).split(separator)

    def field(number: int, part: int = 0) -> str:
        # MSH-1 is the separator itself: MSH-n is fields[n - 1].
        value = fields[number - 1] if number - 1 < len(fields) else ""
        parts = value.split(component)
        return parts[part].strip() if part < len(parts) else ""

    return Header(
        field_separator=separator,
        encoding=encoding[:4],
        sending_application=field(3),
        sending_facility=field(4),
        receiving_application=field(5),
        receiving_facility=field(6),
        control_id=field(10)[:199],
        message_type=field(9, 0).upper(),
        trigger=field(9, 1).upper(),
        version=field(12, 0),
        processing=field(11, 0).upper(),
        charset=charset,
    )


def codec_of(header: Header) -> str:
    """The Python codec of the charset MSH-18 names (else the default)."""
    if not header.charset:
        return settings.HL7_DEFAULT_CHARSET
    codec = CHARSETS.get(header.charset.upper())
    if codec is None:
        raise Unreadable(
            "MSH-18 names a character set this listener does not read",
            segment="MSH",
            field=18,
            code=Code.TABLE_VALUE,
        )
    return codec


def decode(raw: bytes, header: Header) -> str:
    """The message as text with CR between segments."""
    name = header.charset or settings.HL7_DEFAULT_CHARSET
    codec = codec_of(header)
    body = raw.removeprefix(BOM)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as error:
        raise Unreadable(
            f"the bytes are not valid {name} (first bad byte at offset {error.start})",
            code=Code.DATA_TYPE,
        ) from None
    if "\x00" in text:
        raise Unreadable("the message contains NUL bytes", code=Code.DATA_TYPE)
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return "\r".join(s for s in text.split("\r") if s.strip())


class Message:
    """A parsed message with readers that say what is wrong, and where."""

    def __init__(self, raw: bytes) -> None:
        self.header = read_header(raw)
        text = decode(raw, self.header)
        lines = text.split("\r")
        separator = self.header.field_separator
        for number, line in enumerate(lines, start=1):
            if not _SEGMENT.match(line[:3]) or line[3:4] not in ("", separator):
                raise Unreadable(
                    f"segment {number} does not start with a segment name "
                    "and the field separator",
                    code=Code.SEGMENT_SEQUENCE,
                )
        names = [line[:3] for line in lines]
        for number, what, value in (
            (9, "message type", self.header.message_type),
            (10, "message control id", self.header.control_id),
            (12, "version id", self.header.version),
        ):
            if not value:
                raise Unreadable(
                    f"gives no {what}",
                    segment="MSH",
                    field=number,
                    code=Code.REQUIRED_MISSING,
                )
        if names[0] != "MSH" or "MSH" in names[1:]:
            raise Unreadable(
                "one message per frame, starting with MSH (batches are not "
                "accepted: send each message in its own frame)",
                segment="MSH",
                code=Code.SEGMENT_SEQUENCE,
            )
        self.names = names
        # Fields are split from a segment's text as python-hl7 parses them
        # (its tree split on the same delimiters, and its unescaping):
        # building the whole tree cost more than reading the thirty fields
        # a message needs (bench/mllp.py). Indexed as python-hl7 does: for
        # MSH, field 1 is the separator and field 2 the encoding characters.
        encoding = self.header.encoding
        self._component, self._repeat, esc = encoding[0], encoding[1], encoding[2]
        self._sub = encoding[3] if len(encoding) > 3 else "&"
        self._esc = esc
        self._escapes = {
            "H": "_",
            "N": "_",
            "F": separator,
            "R": self._repeat,
            "S": self._component,
            "T": self._sub,
            "E": esc,
            **_FORMATTING,
        }
        mark = re.escape(esc)
        self._sequence = re.compile(f"{mark}([^{mark}]*){mark}")
        self._codec = codec_of(self.header)
        self._repetitions: dict[tuple[str, int, int], list[str]] = {}
        self._by_name: dict[str, list[list[str]]] = {}
        for line in text.strip().split("\r"):
            fields = line.split(separator)
            if fields[0] == "MSH":
                fields.insert(1, separator)
            self._by_name.setdefault(line[:3], []).append(fields)

    @property
    def kind(self) -> str:
        return self.header.kind

    def segments(self, name: str) -> list[int]:
        """1-based numbers (among segments of that name) of each ``name``."""
        return list(range(1, len(self._by_name.get(name, ())) + 1))

    def has(self, name: str) -> bool:
        return name in self._by_name

    def groups(self, start: str, members: set[str]) -> list[dict[str, list[int]]]:
        """Segments grouped under each ``start`` segment (an ORC and its OBR,
        OBX...): per group, {name: [sequence numbers]}, in message order."""
        groups: list[dict[str, list[int]]] = []
        seen: dict[str, int] = {}
        for name in self.names:
            seen[name] = seen.get(name, 0) + 1
            if name == start:
                groups.append({start: [seen[name]]})
            elif groups and name in members:
                groups[-1].setdefault(name, []).append(seen[name])
        return groups

    def value(
        self,
        segment: str,
        field: int,
        component: int = 1,
        sub: int = 1,
        *,
        seq: int | None = 1,
        rep: int = 1,
    ) -> str:
        """The unescaped text, "" when absent; HL7's "" (explicit null) too.
        ``seq`` None: a segment the message does not have."""
        if seq is None:
            return ""
        value = self._extract(segment, seq, field, rep, component, sub).strip()
        return "" if value == '""' else value

    def _extract(
        self, segment: str, seq: int, field: int, rep: int, component: int, sub: int
    ) -> str:
        """python-hl7's ``extract_field``: "" for anything absent, the
        first part of a value deeper than asked for."""
        field, rep, component, sub = field or 1, rep or 1, component or 1, sub or 1
        text = self._field(segment, seq, field)
        if text is None:
            return ""
        if segment == "MSH" and field in (1, 2):  # the delimiters, as written
            return text if rep == component == sub == 1 else ""
        repetitions = self._split(segment, seq, field, text)
        if not 0 < rep <= len(repetitions):
            return ""
        text = repetitions[rep - 1]
        for delimiter, number in ((self._component, component), (self._sub, sub)):
            parts = text.split(delimiter)
            if not 0 < number <= len(parts):
                return ""
            text = parts[number - 1]
        if self._esc not in text:
            return text
        return self._sequence.sub(self._unescape, text)

    def _unescape(self, match: re.Match) -> str:
        """An escape sequence's text (HL7 2.10). One this listener does not
        read (a character set switch, an application's own, a stray escape
        character, a count over 99) is kept as written: visible, never
        refused, never logged. python-hl7's ``unescape`` logs the field's
        text (a name, maybe) for those, raises on some, and repeats a count
        without bound."""
        body = match.group(1)
        if body in self._escapes:
            return self._escapes[body]
        if repeated := _REPEATED.fullmatch(body):
            return _FORMATTING[repeated[1]] * int(repeated[2])
        if hexadecimal := _HEX.fullmatch(body):
            # Bytes in the message's charset (python-hl7 reads them as
            # Latin-1, whatever MSH-18 says).
            try:
                text = bytes.fromhex(hexadecimal[1]).decode(self._codec)
            except (UnicodeDecodeError, LookupError):
                return match.group(0)
            if not _CONTROLS.search(text):
                return text
        return match.group(0)

    def _field(self, segment: str, seq: int, field: int) -> str | None:
        """A field's text as received; None when the message has not that
        segment, or the segment not that field."""
        try:
            fields = self._segment(segment, seq)
        except (IndexError, KeyError):
            return None
        return fields[field] if 0 < field < len(fields) else None

    def _split(self, segment: str, seq: int, field: int, text: str) -> list[str]:
        """A field's repetitions, split once: a reader going through each of
        many (PID-3's identifiers) would otherwise split them all each time."""
        key = (segment, seq, field)
        repetitions = self._repetitions.get(key)
        if repetitions is None:
            repetitions = self._repetitions[key] = text.split(self._repeat)
        return repetitions

    def _segment(self, name: str, seq: int):
        """The ``seq``-th (1-based) ``name`` segment; KeyError or IndexError
        when the message has not that many."""
        if seq < 1:
            raise IndexError(seq)
        return self._by_name[name][seq - 1]

    def repetitions(self, segment: str, field: int, *, seq: int = 1) -> int:
        text = self._field(segment, seq, field)
        if text is None:
            return 0
        if segment == "MSH" and field in (1, 2):
            return 1
        return len(self._split(segment, seq, field, text))

    def required(self, segment: str, field: int, component: int = 1, **kw) -> str:
        value = self.value(segment, field, component, **kw)
        if not value:
            raise Problem(
                "is required and empty",
                segment=segment,
                field=field,
                component=component if component > 1 else None,
                code=Code.REQUIRED_MISSING,
                sequence=kw.get("seq", 1),
            )
        return value

    def timestamp(
        self, segment: str, field: int, component: int = 1, **kw
    ) -> dt.datetime | None:
        """An HL7 DTM; without an offset it is the hospital's local time."""
        value = self.value(segment, field, component, **kw)
        if not value:
            return None
        try:
            return parse_timestamp(value)
        except ValueError:
            raise Problem(
                "is not a valid HL7 date/time (YYYYMMDD[HHMM[SS]][+ZZZZ])",
                segment=segment,
                field=field,
                component=component if component > 1 else None,
                code=Code.DATA_TYPE,
                sequence=kw.get("seq", 1),
            ) from None

    def date(self, segment: str, field: int, **kw) -> dt.date | None:
        """A calendar day (a birth date): as written, no zone conversion.
        Only a year, or a year and month, gives None: a made-up day would
        print as a real birth date."""
        moment = self.timestamp(segment, field, **kw)
        if moment is None or len(self.value(segment, field, **kw)) < 8:
            return None
        return moment.date()

    def is_null(self, segment: str, field: int, component: int = 1, **kw) -> bool:
        """The field holds HL7's explicit null ``""``: delete the value (an
        empty field means "not sent": keep it)."""
        value = self._extract(
            segment, kw.get("seq", 1), field, kw.get("rep", 1), component, 1
        )
        return value.strip() == '""'

    def event_at(self) -> dt.datetime:
        """When the event happened: EVN-2, else MSH-7. Without either, the
        message cannot be put in order with others: an error, not "now"
        (which would let a stale message win over newer state)."""
        moment = (self.timestamp("EVN", 2) if self.has("EVN") else None) or (
            self.timestamp("MSH", 7)
        )
        if moment is None:
            raise Problem(
                "gives no date/time, and no EVN-2 says when the event happened",
                segment="MSH",
                field=7,
                code=Code.REQUIRED_MISSING,
            )
        return moment


def parse_timestamp(value: str) -> dt.datetime:
    match = _TS.match(value)
    if not match:
        raise ValueError(value)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = timezone.get_default_timezone()  # no offset: the hospital's (TIME_ZONE)
    if offset:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 14 or minutes > 59:
            raise ValueError(value)
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    moment = dt.datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int(float(fraction) * 1_000_000) if fraction else 0,
        tzinfo=zone,
    )
    if not values.storable_moment(moment):
        raise ValueError(value)
    return moment


def parse_number(text: str) -> float:
    """HL7's NM: an optional sign, ASCII digits, a decimal point; finite.
    Not Python's ``float``, which also reads "1e5", "1_000", "nan" and the
    digits of other scripts."""
    if not _NM.fullmatch(text):
        raise ValueError(text)
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def message_digest(raw: bytes) -> str:
    """SHA-256 of the message without MSH-7: a resend is the same message,
    even from an engine that writes a new date/time into it."""
    try:
        header = read_header(raw)
    except Unreadable:
        return hashlib.sha256(raw).hexdigest()
    body = raw.removeprefix(BOM).lstrip(b"\r\n")
    first, rest = re.match(rb"([^\r\n]*)(.*)", body, re.DOTALL).groups()
    fields = first.split(header.field_separator.encode("latin-1"))
    if len(fields) > 6:
        fields[6] = b""
    return hashlib.sha256(
        header.field_separator.encode("latin-1").join(fields) + rest
    ).hexdigest()
