"""Hypothesis strategies for the feeds' properties (test_feed_properties.py):
valid HL7 v2 messages and FHIR R4 resources with plausible values, and the
ways such input arrives broken.

A valid message comes with what the mirror should make of it (``Hl7``); a
broken one with the answers it may get (``Broken.codes``): all three unless
the break itself decides (a NUL byte is refused, a missing PV1 is an error).
"""

import datetime as dt
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from hypothesis import strategies as st

from tests.patients.fhir import MR, location

ANY_CODE = frozenset({"AA", "AE", "AR"})
AA, AE, AR = frozenset({"AA"}), frozenset({"AE"}), frozenset({"AR"})
BOM = b"\xef\xbb\xbf"

# Wards the properties' mirror knows; the good neighbours have their own,
# which no generated message names.
WARDS = ("WARD-A", "WARD-B")
CLINIC = "CLIN-1"
GOOD_WARD = "WARD-G"
KNOWN_WARDS = (*WARDS, CLINIC, GOOD_WARD)

# HL7 table 0211 names to Python codecs, as far as the strategies use them.
CODECS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "8859/1": "latin-1"}

LATIN1 = "ÀÂÄÇÈÉÊËÎÏÔÖÙÛÜàâäçèéêëîïôöùûüÿñÑøØåÅæÆß"
WIDE = "ŁłŞşĞğİıŽžČčŘřŒœЖжΩω李王"  # not in Latin-1
LETTERS = string.ascii_letters + LATIN1 + WIDE
# Written escaped in HL7: \F\ \R\ \S\ \T\ \E\.
DELIMITERS = "|~^&\\"


def words(extra: str = " '-" + DELIMITERS) -> st.SearchStrategy[str]:
    """A name or a short text: a letter, then letters, accents, ``extra``."""
    return st.builds(
        str.__add__,
        st.sampled_from(LETTERS),
        st.text(st.sampled_from(LETTERS + extra), max_size=14),
    )


def escaped(value: str) -> str:
    """``value`` as HL7 writes it with the delimiters ``|^~\\&``."""
    value = value.replace("\\", "\\E\\")
    for char, name in (("|", "F"), ("^", "S"), ("&", "T"), ("~", "R")):
        value = value.replace(char, f"\\{name}\\")
    return value


# Hypothesis takes naive bounds; the values get their offset as text.
MOMENTS = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2027, 12, 31),  # noqa: DTZ001
)


def hl7_timestamps() -> st.SearchStrategy[str]:
    """A DTM of any precision from day to 1/10000 s, with or without an offset."""

    @st.composite
    def build(draw) -> str:
        moment = draw(MOMENTS)
        text = f"{moment:%Y%m%d%H%M%S}"[: draw(st.sampled_from([8, 12, 14]))]
        if len(text) == 14 and draw(st.booleans()):
            text += f".{moment.microsecond:06d}"[: draw(st.integers(2, 5))]
        offsets = ["", "+0100", "+0000", "-0500", "+0530"]
        return text + draw(st.sampled_from(offsets))

    return build()


def birth_dates() -> st.SearchStrategy[str]:
    dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 11, 1))
    return st.one_of(
        dates.map(lambda day: f"{day:%Y%m%d}"),
        st.sampled_from(["", '""', "1950", "195003"]),
    )


# HL7 messages


def _trimmed(fields: list[str]) -> list[str]:
    while len(fields) > 1 and fields[-1] == "":
        fields = fields[:-1]
    return fields


def _segment(name: str, values: dict[int, str]) -> list[str]:
    """A segment with ``values`` at their field numbers, the others empty."""
    fields = [name] + [""] * max(values, default=0)
    for number, value in values.items():
        fields[number] = value
    return _trimmed(fields)


@dataclass
class Hl7:
    """A valid message, as segments of fields (escaped, as sent), and what
    the mirror should keep of it."""

    segments: list[list[str]]
    mrn: str = ""
    family: str = ""
    given: str = ""
    kept: bool = True  # applied; False: acknowledged, recorded ignored
    ward: str = ""  # the ward the event puts the patient on, if it does
    bed: str = ""
    facts: dict = field(default_factory=dict)  # what else the oracles need

    @property
    def trigger(self) -> str:
        return self.segments[0][8].split("^")[1]

    @property
    def message_type(self) -> str:
        return self.segments[0][8].split("^")[0]

    @property
    def charset(self) -> str:
        msh = self.segments[0]
        return msh[17] if len(msh) > 17 else ""

    @property
    def codec(self) -> str:
        return CODECS[self.charset]

    def names(self) -> list[str]:
        return [fields[0] for fields in self.segments]

    def text(self, segments: list[list[str]] | None = None) -> str:
        return "\r".join("|".join(s) for s in segments or self.segments) + "\r"

    def raw(self, segments: list[list[str]] | None = None) -> bytes:
        """The bytes as sent; the strategies' own mistakes raise here."""
        return self.text(segments).encode(self.codec)

    def __repr__(self) -> str:
        return f"Hl7({self.raw()!r})"


def msh(kind: str, control: str, at: str) -> list[str]:
    sender = ["EHR", "GENERAL", "DOWNTIME", "GENERAL"]
    return ["MSH", "^~\\&", *sender, at, "", kind, control, "P", "2.5"]


def control_ids() -> st.SearchStrategy[str]:
    """MSH-10 as interface engines write it: ASCII (the answer to others is
    a property of its own)."""
    plain = st.text(
        st.sampled_from(string.ascii_uppercase + string.digits + "-."),
        min_size=1,
        max_size=20,
    )
    return st.one_of(plain, st.sampled_from(["C\\F\\1", "MSG 1"]))


def any_control_ids() -> st.SearchStrategy[str]:
    """MSH-10 in any script, its delimiters escaped (not blank: no id)."""
    characters = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
    texts = st.text(characters, min_size=1, max_size=20)
    return texts.filter(str.strip).map(escaped)


@st.composite
def pid(draw, mrn: str) -> tuple[list[str], str, str]:
    """PID, the family name and the given names the mirror should keep."""
    family, given = draw(words()), draw(words())
    middle = draw(st.one_of(st.just(""), words()))
    name = f"{escaped(family)}^{escaped(given)}"
    if middle:
        name += f"^{escaped(middle)}"
    identifiers = f"{mrn}^^^GENERAL^MR"
    if draw(st.booleans()):  # the MRN not first: HL7_MRN_TYPES finds it
        identifiers = f"85{draw(st.integers(0, 99999)):05d}^^^NATIONAL^NN~{identifiers}"
    street, city = draw(words()), draw(words())
    address = draw(
        st.sampled_from(["", '""', f"{escaped(street)}^^{escaped(city)}^^1000^BE"])
    )
    phone = draw(
        st.sampled_from(["", '""', "+32 2 555 01 01", "^PRN^PH^^32^2^5550101^12"])
    )
    fields = {
        1: "1",
        3: identifiers,
        5: name,
        7: draw(birth_dates()),
        8: draw(st.sampled_from(["F", "M", "O", "U", "A", "", '""'])),
        11: address,
        13: phone,
    }
    expected_given = " ".join(p for p in (given.strip(), middle.strip()) if p)
    return _segment("PID", fields), family.strip(), expected_given


def clinicians() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        st.builds(
            lambda n, family, given: f"D{n}^{escaped(family)}^{escaped(given)}^^^Dr",
            st.integers(1, 5),
            words(),
            words(),
        ),
    )


@st.composite
def pv1(draw, *, ward: str, bed: str = "", trigger: str = "") -> list[str]:
    """PV1 placing the patient on ``ward`` (none: "") in ``bed``."""
    room = draw(st.sampled_from(["", "R1", "R2", "Salle É"])) if ward else ""
    fields = {
        1: "1",
        2: draw(st.sampled_from(["I", "O", "E", "P", ""])),
        3: "^".join([ward, room, bed]).rstrip("^"),
        7: draw(clinicians()),
        19: draw(st.sampled_from(["V1", "V2", ""])),
        44: draw(st.one_of(st.just(""), hl7_timestamps())),
    }
    if trigger == "A03":
        fields[45] = draw(st.one_of(st.just(""), hl7_timestamps()))
    return _segment("PV1", fields)


def evn(trigger: str, at: str) -> list[str]:
    return ["EVN", trigger, at]


@st.composite
def allergy_segments(draw, name: str) -> list[list[str]]:
    """AL1 (the whole list) or IAM (one change each) segments."""
    found = []
    for number in range(1, draw(st.integers(1, 3)) + 1):
        code = draw(st.sampled_from(["PEN", "LAT", "NUT", "IOD", ""]))
        reactions = draw(st.lists(words(), max_size=2))
        fields = {
            1: str(number),
            2: draw(st.sampled_from(["DA", "FA", "EA", "MA", ""])),
            3: f"{code}^{escaped(draw(words()))}",
            4: draw(st.sampled_from(["SV", "MO", "MI", ""])),
            5: "~".join(escaped(r) for r in reactions),
        }
        if name == "AL1":
            fields[6] = draw(st.one_of(st.just(""), hl7_timestamps()))
        else:
            fields[6] = draw(st.sampled_from(["A", "U", "D", "X", ""]))
        found.append(_segment(name, fields))
    return found


# ADT events whose stay must be on a ward (the patient is new to the mirror),
# events whose stay need not be, and events the mirror does not keep.
PLACED = ("A01", "A02", "A04", "A06", "A08", "A12", "A13")
UNPLACED = ("A03", "A05", "A07", "A11")
ADT_IGNORED = ("A09", "A10")
# Every event about a stay: without PV1, an error (A08 excepted).
STAY_EVENTS = (*PLACED, *UNPLACED)
MRNS = ("MRN-1", "MRN-2", "MRN-3")


@st.composite
def adt_messages(draw) -> Hl7:
    trigger = draw(
        st.sampled_from([*PLACED, *UNPLACED, *ADT_IGNORED, "A31", "A40", "A60"])
    )
    at = draw(hl7_timestamps())
    mrn = draw(st.sampled_from(MRNS))
    person, family, given = draw(pid(mrn))
    structure = {"A40": "ADT_A39", "A60": "ADT_A60"}.get(trigger, "ADT_A01")
    header = msh(f"ADT^{trigger}^{structure}", draw(control_ids()), at)
    segments = [header, evn(trigger, at), person]
    message = Hl7(segments, mrn=mrn, family=family, given=given)
    if trigger in PLACED and (trigger != "A08" or draw(st.booleans())):
        message.ward = draw(st.sampled_from(WARDS))
        message.bed = draw(st.sampled_from(["", "B1", "B2"]))
        segments.append(draw(pv1(ward=message.ward, bed=message.bed)))
    elif trigger in (*UNPLACED, *ADT_IGNORED) or (
        trigger == "A31" and draw(st.booleans())
    ):
        ward = draw(st.sampled_from(["", *WARDS]))
        segments.append(draw(pv1(ward=ward, trigger=trigger)))
    if trigger in ("A01", "A04", "A08") and draw(st.booleans()):
        segments.append(["NK1", "1", f"{escaped(draw(words()))}^Jan", "SPO^Spouse"])
    if trigger in ("A01", "A04") and draw(st.booleans()):
        segments += draw(allergy_segments("AL1"))
    if trigger == "A40":
        segments.append(["MRG", f"{draw(st.sampled_from(MRNS))}^^^GENERAL^MR"])
    if trigger == "A60":
        segments += draw(allergy_segments(draw(st.sampled_from(["AL1", "IAM"]))))
    message.kept = trigger not in ADT_IGNORED
    return message


def _orc(draw, control: str, number: str) -> list[str]:
    return _segment(
        "ORC",
        {
            1: control,
            2: number,
            3: draw(st.sampled_from(["", "F-77"])),
            5: draw(st.sampled_from(["", "IP", "CM", "A", "SC"])),
            7: draw(st.sampled_from(["", "^^^^^R", "^^^^^S"])),
            9: draw(st.one_of(st.just(""), hl7_timestamps())),
            12: draw(clinicians()),
        },
    )


def _test_code(draw) -> str:
    code = draw(st.sampled_from(["2345-7", "718-7", "2823-3", ""]))
    return f"{code}^{escaped(draw(words()))}^LN"


def _patient_part(draw, segments: list[list[str]]) -> Hl7:
    """PID (and sometimes PV1) of an order, result or appointment."""
    mrn = draw(st.sampled_from(MRNS))
    person, family, given = draw(pid(mrn))
    segments.append(person)
    if draw(st.booleans()):
        segments.append(draw(pv1(ward=draw(st.sampled_from(WARDS)))))
    return Hl7(segments, mrn=mrn, family=family, given=given)


@st.composite
def order_messages(draw) -> Hl7:
    """ORM^O01 or OML^O21: each ORC and its OBR one lab order."""
    kind = draw(st.sampled_from(["ORM^O01^ORM_O01", "OML^O21^OML_O21"]))
    message = _patient_part(
        draw, [msh(kind, draw(control_ids()), draw(hl7_timestamps()))]
    )
    sections = []
    for number in range(1, draw(st.integers(1, 3)) + 1):
        placer = draw(st.sampled_from(["L-1", "L-2", "L\\F\\3"]))
        control = draw(st.sampled_from(["NW", "OK", "SC", "XO", "HD", "RL", "CA"]))
        section = draw(st.sampled_from(["", "CH", "HM", "CT"]))
        sections.append(section)
        message.segments.append(_orc(draw, control, placer))
        obr = {
            1: str(number),
            2: placer,
            4: _test_code(draw),
            7: draw(st.one_of(st.just(""), hl7_timestamps())),
            15: draw(st.sampled_from(["", "BLD^Blood"])),
            24: section,
        }
        message.segments.append(_segment("OBR", obr))
        if kind.startswith("OML") and draw(st.booleans()):
            message.segments.append(_segment("TQ1", {1: "1", 9: "S"}))
            message.segments.append(_segment("SPM", {1: "1", 4: "BLD^Blood"}))
    message.kept = any(section != "CT" for section in sections)
    return message


NM_VALUES = st.from_regex(r"\A[+-]?[0-9]{1,5}(\.[0-9]{1,3})?\Z")


@st.composite
def observation_values(draw) -> tuple[str, str]:
    """(OBX-2, OBX-5): a value of each type the mirror reads."""
    kind = draw(st.sampled_from(["NM", "ST", "CE", "CWE", "SN"]))
    if kind == "NM":
        return kind, draw(NM_VALUES)
    if kind == "ST":
        return kind, escaped(draw(words()))
    if kind in ("CE", "CWE"):
        return kind, f"{draw(st.sampled_from(['POS', 'NEG', '']))}^" + escaped(
            draw(words())
        )
    number = draw(NM_VALUES)
    return kind, draw(
        st.sampled_from([f"^{number}", f"<^{number}", f">=^{number}", f"^1^:^{number}"])
    )


@st.composite
def result_messages(draw) -> Hl7:
    """ORU^R01: OBR groups of OBX results, every one with a value."""
    header = msh("ORU^R01^ORU_R01", draw(control_ids()), draw(hl7_timestamps()))
    message = _patient_part(draw, [header])
    for number in range(1, draw(st.integers(1, 2)) + 1):
        obr = {
            1: str(number),
            2: draw(st.sampled_from(["L-1", "L-2"])),
            4: _test_code(draw),
            7: draw(st.one_of(st.just(""), hl7_timestamps())),
            25: draw(st.sampled_from(["F", "P", "C", ""])),
        }
        message.segments.append(_segment("OBR", obr))
        for seq in range(1, draw(st.integers(1, 3)) + 1):
            kind, value = draw(observation_values())
            obx = {
                1: str(seq),
                2: kind,
                3: _test_code(draw),
                4: draw(st.sampled_from(["", "1"])),
                5: value,
                6: draw(st.sampled_from(["", "mmol/L", "%"])),
                7: draw(st.sampled_from(["", "3.5-5.1"])),
                8: draw(st.sampled_from(["", "H", "L", "N"])),
                11: draw(st.sampled_from(["F", "P", "C", "", "D"])),
                14: draw(st.one_of(st.just(""), hl7_timestamps())),
            }
            message.segments.append(_segment("OBX", obx))
    return message


PATTERNS = ["BID", "TID", "QD", "Q6H", "PRN", "Q4H PRN", ""]


@st.composite
def pharmacy_messages(draw) -> Hl7:
    """RDE^O11: ORC, RXE, RXR and TQ1 per medication order."""
    header = msh("RDE^O11^RDE_O11", draw(control_ids()), draw(hl7_timestamps()))
    message = _patient_part(draw, [header])
    for _ in range(draw(st.integers(1, 2))):
        control = draw(st.sampled_from(["NW", "OK", "XO", "SC", "DC", "HD", "CA"]))
        message.segments.append(
            _orc(draw, control, draw(st.sampled_from(["RX-1", "RX-2"])))
        )
        pattern = draw(st.sampled_from(PATTERNS))
        rxe = {
            1: f"^{pattern}",
            2: f"{draw(st.sampled_from(['1234', 'MOR', '']))}^{escaped(draw(words()))}",
            3: draw(st.sampled_from(["", "10", "0.5"])),
            5: draw(st.sampled_from(["", "mg", "^tablet", "1^mL"])),
            7: draw(st.sampled_from(["", f"^{escaped(draw(words()))}"])),
        }
        message.segments.append(_segment("RXE", rxe))
        if draw(st.booleans()):
            message.segments.append(["RXR", "PO^Oral"])
        if draw(st.booleans()):
            tq1 = {
                1: "1",
                3: draw(st.sampled_from([*PATTERNS, "Q6H^every 6 hours"])),
                4: draw(st.sampled_from(["", "0800~2000", "08:00"])),
                7: draw(st.one_of(st.just(""), hl7_timestamps())),
                8: draw(st.one_of(st.just(""), hl7_timestamps())),
            }
            message.segments.append(_segment("TQ1", tq1))
    return message


@st.composite
def appointment_messages(draw) -> Hl7:
    """SIU^S12..S15 of one appointment at the known clinic."""
    trigger = draw(st.sampled_from(["S12", "S13", "S14", "S15"]))
    header = msh(f"SIU^{trigger}^SIU_S12", draw(control_ids()), draw(hl7_timestamps()))
    start, minutes = draw(hl7_timestamps()), draw(st.sampled_from(["", "15", "30"]))
    sch = {
        1: draw(st.sampled_from(["P-1", "P-2"])),
        2: draw(st.sampled_from(["F-1", "F-2", ""])),
        7: f"^{escaped(draw(words()))}",
        11: f"^^{minutes}^{start}",
    }
    if trigger == "S14":
        sch[25] = draw(st.sampled_from(["", "Booked", "Pending", "Complete"]))
    segments = [header, _segment("SCH", sch)]
    mrn = draw(st.sampled_from(MRNS))
    person, family, given = draw(pid(mrn))
    segments.append(person)
    if draw(st.booleans()):
        description = f"{draw(st.sampled_from(['FU', '']))}^{escaped(draw(words()))}"
        ais = {1: "1", 3: description, 4: start, 7: minutes, 8: "MIN"}
        segments.append(_segment("AIS", ais))
    if trigger != "S15" or draw(st.booleans()):
        room = draw(st.sampled_from(["", "Room 2"]))
        segments.append(_segment("AIL", {1: "1", 3: f"{CLINIC}^{room}", 6: start}))
    if draw(st.booleans()):
        segments.append(_segment("AIP", {1: "1", 3: draw(clinicians()), 6: start}))
    return Hl7(segments, mrn=mrn, family=family, given=given)


@st.composite
def valid_messages(draw) -> Hl7:
    """A valid message of any type the mirror keeps, in a charset that can
    carry its text."""
    message = draw(
        st.one_of(
            adt_messages(),
            order_messages(),
            result_messages(),
            pharmacy_messages(),
            appointment_messages(),
        )
    )
    latin1 = all(ord(char) < 256 for char in message.text())
    charsets = ["UNICODE UTF-8", "", "UTF-8"] + (["8859/1"] if latin1 else [])
    charset = draw(st.sampled_from(charsets))
    if charset:
        message.segments[0] += ["", "", "", "", "", charset]
    return message


def good_admission(number: int) -> st.SearchStrategy[Hl7]:
    """An A01 of a patient, stay and bed no generated message names."""

    @st.composite
    def build(draw) -> Hl7:
        mrn, at = f"GOOD-{number}", "20261130080000"
        person, family, given = draw(pid(mrn))
        place = f"{GOOD_WARD}^GR-{number}^GB-{number}"
        stay = _segment("PV1", {1: "1", 2: "I", 3: place, 19: f"GV-{number}"})
        substance = draw(words())
        allergy = ["AL1", "1", "DA", f"PEN^{escaped(substance)}", "SV"]
        segments = [
            msh("ADT^A01^ADT_A01", f"GOOD-{number}", at) + [""] * 5 + ["UTF-8"],
            evn("A01", at),
            person,
            stay,
            allergy,
        ]
        return Hl7(
            segments,
            mrn=mrn,
            family=family,
            given=given,
            ward=GOOD_WARD,
            bed=f"GB-{number}",
            facts={"room": f"GR-{number}", "allergy": substance.strip()},
        )

    return build()


# Broken HL7 messages


@dataclass
class Broken:
    """A message broken by ``what``, and the answers it may get."""

    what: str
    raw: bytes
    codes: frozenset = ANY_CODE
    condition: str = ""  # ERR-3 the answer must carry, if it must

    def __repr__(self) -> str:
        return f"Broken({self.what!r}, {self.raw!r}, codes={sorted(self.codes)})"


def _index(draw, sequence, start: int = 0) -> int:
    return draw(st.integers(start, len(sequence) - 1))


def cut(draw, message: Hl7) -> Broken:
    raw = message.raw()
    at = _index(draw, raw)
    return Broken(f"cut after byte {at}", raw[:at])


def duplicate_segment(draw, message: Hl7) -> Broken:
    index = _index(draw, message.segments)
    segments = list(message.segments)
    segments.insert(index, segments[index])
    # A second MSH is a second message: refused.
    codes = AR if index == 0 else ANY_CODE
    return Broken(f"duplicate segment {index}", message.raw(segments), codes)


def swap_segments(draw, message: Hl7) -> Broken:
    first = _index(draw, message.segments)
    second = _index(draw, message.segments)
    segments = list(message.segments)
    segments[first], segments[second] = segments[second], segments[first]
    codes = AR if 0 in (first, second) and first != second else ANY_CODE
    return Broken(f"swap segments {first} and {second}", message.raw(segments), codes)


def drop_segment(draw, message: Hl7) -> Broken:
    index = _index(draw, message.segments)
    segments = message.segments[:index] + message.segments[index + 1 :]
    name = message.segments[index][0]
    return Broken(
        f"drop segment {index} ({name})",
        message.raw(segments),
        _without(message, name, [s[0] for s in segments]),
    )


def _without(message: Hl7, name: str, left: list[str]) -> frozenset:
    """The answer to ``message`` without one ``name`` segment (``left``)."""
    if name == "MSH":
        return AR
    if not message.kept or name in left:
        return ANY_CODE
    kind, trigger = message.message_type, message.trigger
    needed = {"PID"}
    if kind == "ADT" and trigger in STAY_EVENTS and trigger != "A08":
        needed.add("PV1")
    needed |= {
        "ADT": {"A40": {"MRG"}, "A60": {"AL1", "IAM"}}.get(trigger, set()),
        "ORU": {"OBR"},
        "SIU": {"SCH"},
        "RDE": {"ORC", "RXE"},
    }.get(kind, set())
    if kind in ("ORM", "OML") and left.count("ORC") == 1:
        needed.add("OBR")  # the one order says nothing of what is ordered
    return AE if name in needed else ANY_CODE


# Values of the wrong type for a field of each type, and odd but valid ones.
NOT_TIMESTAMPS = [
    "abc",
    "2026-11-30T08:00:00",
    "20261130 0800",
    "2026113",
    "20261340",
    "20261130256000",
    "20261130080000+2500",
    "00000000",
    "\\.spx\\",
    "2026\\F\\1130",
    # Outside years 1 to 9999 once in UTC: the database could not give it back.
    "00010101000000+1400",
    "99991231235959-1400",
]
ODD_TIMESTAMPS = ["20261130.5", "2026113008+0000"]
NOT_NUMBERS = ["abc", "NaN", "Infinity", "-inf", "1e999", "1e5", "12,5", "5.1.2"]
NOT_NUMBERS += ["٣", "1_000", "\\.spx\\"]
HL7_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _typed_fields(message: Hl7) -> list[tuple[int, int, int, str, bool]]:
    """(segment index, field, component, type, always read) of each typed
    field the message has; "always read": its value decides the answer
    whatever the mirror holds (a wrong one is an error)."""
    names = message.names()
    kept = message.kept
    stay = message.message_type == "ADT" and message.trigger in STAY_EVENTS
    found = []
    for index, fields in enumerate(message.segments):
        name = fields[0]
        table = {
            "MSH": [(7, 1, "TS", "EVN" not in names)],
            "EVN": [(2, 1, "TS", True)],
            "PID": [(7, 1, "TS", kept), (29, 1, "TS", False)],
            "PV1": [(44, 1, "TS", kept and stay), (45, 1, "TS", False)],
            "ORC": [(9, 1, "TS", False)],
            "OBR": [(7, 1, "TS", False)],
            "OBX": [(14, 1, "TS", False)],
            "TQ1": [(7, 1, "TS", message.message_type == "RDE"), (8, 1, "TS", False)],
            "SCH": [(11, 4, "TS", True)],
            "AIS": [(7, 1, "NM", True)],
            "AL1": [(6, 1, "TS", message.trigger == "A60")],
        }.get(name, [])
        if name == "OBX" and fields[2] == "NM":
            table.append((5, 1, "NM", True))
        found += [(index, *entry) for entry in table]
    return found


def with_field(
    message: Hl7, index: int, number: int, value: str, component: int = 1
) -> tuple[list[list[str]], str]:
    """The message's segments with field ``number`` (component ``component``)
    of segment ``index`` set to ``value``, and that field's name (PID-7)."""
    segments = [list(fields) for fields in message.segments]
    fields = segments[index]
    # MSH-1 is the separator itself: MSH-n is the (n - 1)th item.
    position = number - 1 if fields[0] == "MSH" else number
    fields += [""] * (position + 1 - len(fields))
    parts = fields[position].split("^") if component > 1 else [""]
    parts += [""] * (component - len(parts))
    parts[component - 1] = value
    fields[position] = "^".join(parts)
    name = f"{fields[0]}-{number}" + (f".{component}" if component > 1 else "")
    return segments, name


def wrong_type(draw, message: Hl7) -> Broken:
    index, number, component, kind, read = draw(st.sampled_from(_typed_fields(message)))
    wrong = NOT_TIMESTAMPS if kind == "TS" else NOT_NUMBERS
    value = draw(st.sampled_from(wrong + (ODD_TIMESTAMPS if kind == "TS" else [])))
    segments, name = with_field(message, index, number, value, component)
    valid = value in ODD_TIMESTAMPS or (
        kind == "NM" and HL7_NUMBER.fullmatch(value) is not None
    )
    codes = AE if read and not valid else ANY_CODE
    return Broken(f"{name} = {value!r} ({kind})", message.raw(segments), codes)


def junk_field(draw, message: Hl7) -> Broken:
    """Any text, delimiters and control characters too, in any field."""
    index = _index(draw, message.segments)
    number = draw(st.integers(3 if index == 0 else 1, 25))
    value = draw(st.text(max_size=30))
    segments, name = with_field(message, index, number, value)
    text = message.text(segments)
    return Broken(f"{name} = {value!r}", text.encode(message.codec, errors="replace"))


ODD_BYTES = [
    b"\x00",
    b"\xff",
    b"\r",
    b"\n",
    BOM,
    b"\x0b",
    b"\x1c",
    b"\xc3",
    b"\xed\xa0\x80",  # a surrogate, as UTF-8 never writes one
    b"\x85",
    b"\t",
    b"\xe2\x80\xa8",  # LINE SEPARATOR
]


def odd_bytes(draw, message: Hl7) -> Broken:
    raw = message.raw()
    at = draw(st.integers(0, len(raw)))
    odd = draw(st.one_of(st.sampled_from(ODD_BYTES), st.binary(min_size=1, max_size=3)))
    broken = raw[:at] + odd + raw[at:]
    codes = ANY_CODE
    if b"\x00" in broken:
        codes = AR  # NUL is no character of any charset we read
    elif at > raw.index(b"\r"):  # the MSH, and its charset, as they were
        try:
            broken.removeprefix(BOM).decode(message.codec)
        except UnicodeDecodeError:
            codes = AR
    return Broken(f"{odd!r} inserted at byte {at}", broken, codes)


def same_message(draw, message: Hl7) -> Broken:
    """Bytes that say what the message says: answered as it is (AA)."""
    raw = message.raw()
    how = draw(
        st.sampled_from(
            ["BOM first", "LF between segments", "CRLF between segments", "CR first"]
        )
    )
    changed = {
        "BOM first": BOM + raw,
        "LF between segments": raw.replace(b"\r", b"\n"),
        "CRLF between segments": raw.replace(b"\r", b"\r\n"),
        "CR first": b"\r\n\r" + raw,
    }[how]
    return Broken(how, changed, AA)


def latin1_declared_utf8(draw, message: Hl7) -> Broken:
    """Latin-1 bytes in a message whose MSH-18 says UTF-8 (or nothing)."""
    segments = [list(fields) for fields in message.segments]
    if len(segments[0]) > 17:
        segments[0][17] = draw(st.sampled_from(["UNICODE UTF-8", "UTF-8"]))
    name = ["PID", "1", "", f"{message.mrn}^^^GENERAL^MR", "", "MÜLLER^Anaïs"]
    segments = [name if fields[0] == "PID" else fields for fields in segments]
    text = message.text(segments)
    raw = text.encode("latin-1", errors="replace")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        codes = AR
    else:
        codes = ANY_CODE
    return Broken("Latin-1 bytes, MSH-18 UTF-8", raw, codes)


def huge_field(draw, message: Hl7) -> Broken:
    index = _index(draw, message.segments, start=1)
    number = draw(st.integers(1, len(message.segments[index]) + 2))
    size = draw(st.sampled_from([300, 70_000, 400_000]))
    filler = draw(st.sampled_from(["X", "é", "\\F\\", "A^", "A~"]))
    if filler == "A~":
        size = min(size, 2_000)  # each repetition is read on its own
    segments, name = with_field(message, index, number, filler * size)
    return Broken(
        f"{name} = {filler!r} * {size}", message.text(segments).encode(message.codec)
    )


def header_field(draw, message: Hl7) -> Broken:
    """MSH-9, -10, -11, -12 or -18 as a sender should not write it."""
    number, values = draw(
        st.sampled_from(
            [
                (9, ["", "ADT", "^A01", "XYZ^Z99", "adt^a01^adt_a01", "ACK^A01"]),
                (10, ["", " ", '""']),
                (11, ["T", "D", "", "p", "P^A", "X"]),
                (12, ["2.1", "2.2", "2.9", "3.0", "2.5.3", "2.10", "", "V2.5"]),
                (12, ["2.5^BEL", "25", "2.4", "2.3.1", "2.8", "2.7.1", "2.8.2"]),
                (18, ["KLINGON", "UTF-16", "ASCII", "utf-8", "UNICODE UTF-8~8859/1"]),
            ]
        )
    )
    value = draw(st.sampled_from(values))
    segments, _ = with_field(message, 0, number, value)
    codes, condition = _header_answer(number, value.split("^")[0].split("~")[0])
    return Broken(f"MSH-{number} = {value!r}", message.raw(segments), codes, condition)


def _header_answer(number: int, value: str) -> tuple[frozenset, str]:
    """The answers to a valid message whose MSH-``number`` (its first
    component) is ``value``, and the ERR-3 of a refusal when it is sure."""
    value = value.strip()
    refused = {
        9: not value,
        10: not value,
        11: value.upper() not in settings.HL7_PROCESSING_IDS,
        12: value not in settings.HL7_VERSIONS,
        # UTF-16 is no charset an HL7 v2 message can be in (NUL bytes).
        18: value.upper() not in ("UNICODE UTF-8", "UTF-8", "ASCII"),
    }[number]
    if refused:
        return AR, "203" if number == 12 and value else ""
    return (AA if number in (11, 12) else ANY_CODE), ""


MUTATIONS = [cut, duplicate_segment, swap_segments, drop_segment, wrong_type]
MUTATIONS += [junk_field, odd_bytes, same_message, latin1_declared_utf8]
MUTATIONS += [huge_field, header_field]


def broken_messages(
    mutations: list[Callable], messages: st.SearchStrategy[Hl7] | None = None
) -> st.SearchStrategy[Broken]:
    """A valid message broken by one of ``mutations``."""

    @st.composite
    def build(draw) -> Broken:
        message = draw(messages or valid_messages())
        mutation = draw(st.sampled_from(mutations))
        return mutation(draw, message)

    return build()


# FHIR R4 resources


BEDS = ("bed-1", "bed-2", "bed-3")
CENSUS = ("arrived", "triaged", "in-progress", "onleave")
NOT_CENSUS = ("planned", "finished", "cancelled", "entered-in-error", "unknown")


def fhir_dates() -> st.SearchStrategy[str]:
    days = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 11, 1))
    return st.one_of(days.map(dt.date.isoformat), days.map(lambda day: f"{day:%Y-%m}"))


def fhir_datetimes() -> st.SearchStrategy[str]:
    zones = st.sampled_from(["Z", "+01:00", "-05:00"])
    return st.builds(lambda m, z: f"{m:%Y-%m-%dT%H:%M:%S}{z}", MOMENTS, zones)


def fhir_words() -> st.SearchStrategy[str]:
    """Names as JSON carries them: quotes, backslashes, any script."""
    return words(extra=" '-\"\\/é😀")


def locations() -> list[dict]:
    ward = location("ward-a", "wa")
    rooms = [location(f"room-{n}", "ro", part_of="ward-a") for n in (1, 2)]
    beds = [
        location(bed, "bd", part_of=f"room-{1 + number % 2}")
        for number, bed in enumerate(BEDS)
    ]
    return [ward, *rooms, *beds]


@st.composite
def fhir_patient(draw, pid: str, mrn: str) -> dict:
    given = draw(st.lists(fhir_words(), max_size=2))
    name = {"family": draw(fhir_words()), "given": given}
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"type": MR, "system": "urn:test:mrn", "value": mrn}],
        "name": [name],
        "gender": draw(st.sampled_from(["male", "female", "other", "unknown"])),
        "birthDate": draw(fhir_dates()),
    }
    if draw(st.booleans()):
        resource["telecom"] = [{"system": "phone", "value": "+32 2 555 01 01"}]
    if draw(st.booleans()):
        resource["address"] = [{"line": [draw(fhir_words())], "city": "Gent"}]
    if draw(st.booleans()):
        resource["meta"] = {"lastUpdated": draw(fhir_datetimes())}
    return resource


@st.composite
def fhir_encounter(draw, eid: str, pid: str) -> dict:
    status = draw(st.sampled_from(CENSUS + NOT_CENSUS))
    resource = {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"code": draw(st.sampled_from(["IMP", "AMB", "EMER"]))},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": draw(fhir_datetimes())},
    }
    if status in CENSUS or draw(st.booleans()):
        place = draw(st.sampled_from([*BEDS, "ward-a", "room-1"]))
        resource["location"] = [{"location": {"reference": f"Location/{place}"}}]
    return resource


@st.composite
def fhir_allergy(draw, aid: str, pid: str) -> dict:
    return {
        "resourceType": "AllergyIntolerance",
        "id": aid,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"text": draw(fhir_words())},
        "patient": {"reference": f"Patient/{pid}"},
        "criticality": draw(st.sampled_from(["low", "high", "unable-to-assess"])),
        "reaction": [
            {
                "manifestation": [{"text": draw(fhir_words())}],
                "severity": draw(st.sampled_from(["mild", "moderate", "severe"])),
            }
        ],
    }


@st.composite
def fhir_records(draw) -> list[dict]:
    """A valid export: the ward, its rooms and beds, and 1 to 3 patients with
    their stays and allergies."""
    resources = locations()
    for number in range(1, draw(st.integers(1, 3)) + 1):
        pid = f"p-{number}"
        resources.append(draw(fhir_patient(pid, f"MRN-{number}")))
        for stay in range(draw(st.integers(0, 2))):
            resources.append(draw(fhir_encounter(f"e-{number}-{stay}", pid)))
        for allergy in range(draw(st.integers(0, 2))):
            resources.append(draw(fhir_allergy(f"a-{number}-{allergy}", pid)))
    return resources


@dataclass
class Files:
    """A folder's files, name to bytes, and the exit codes import_fhir may
    end with (1: something was quarantined)."""

    what: str
    files: dict[str, bytes]
    exits: frozenset = frozenset({0, 1})

    def __repr__(self) -> str:
        return f"Files({self.what!r}, {self.files!r}, exits={sorted(self.exits)})"


def as_files(resources: list[dict], layout: str, raw: dict[str, str]) -> dict[str, str]:
    """Text of each file: NDJSON one file per type, or one bundle. ``raw``:
    placeholders (JSON strings) to replace with raw JSON text."""
    if layout == "ndjson":
        lines: dict[str, list[str]] = {}
        for resource in resources:
            kind = resource.get("resourceType")
            name = f"{kind if isinstance(kind, str) else 'Patient'}.000.ndjson"
            lines.setdefault(name, []).append(json.dumps(resource, ensure_ascii=False))
        texts = {name: "\n".join(found) + "\n" for name, found in lines.items()}
    else:
        entries = [
            {"fullUrl": f"urn:uuid:{r.get('id', n)}", "resource": r}
            for n, r in enumerate(resources)
        ]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        texts = {"bundle.json": json.dumps(bundle, ensure_ascii=False) + "\n"}
    for placeholder, text in raw.items():
        texts = {
            name: body.replace(json.dumps(placeholder), text)
            for name, body in texts.items()
        }
    return texts


def _paths(node, prefix=()) -> list[tuple]:
    """Every element's path in a resource (keys and list indexes)."""
    found = []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _replace(node, path: tuple, value, *, delete: bool = False):
    """A copy of ``node`` with the element at ``path`` replaced or removed."""
    copy = dict(node) if isinstance(node, dict) else list(node)
    if len(path) == 1:
        if delete:
            del copy[path[0]]
        else:
            copy[path[0]] = value
        return copy
    copy[path[0]] = _replace(node[path[0]], path[1:], value, delete=delete)
    return copy


WRONG_JSON = [42, -1.5, True, None, "text", [], {}, ["x"], {"x": 1}, [{"a": [1]}]]
# Raw JSON texts no json.dumps writes: inserted in place of a placeholder.
RAW_JSON = {
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "1e400": "1e400",
    "NUL": '"a\\u0000b"',
    "lone surrogate": '"a\\ud800b"',
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "huge string": json.dumps("X" * 1_000_000),
    "line separator": '"a\u2028b"',
}
REQUIRED = ("resourceType", "id", "identifier", "subject", "patient", "status", "code")


@st.composite
def broken_resource(draw) -> Files:
    """One element of one resource of a valid export: of the wrong JSON
    type, removed, or a value no json.dumps writes."""
    resources = draw(fhir_records())
    layout = draw(st.sampled_from(["ndjson", "bundle"]))
    index = _index(draw, resources)
    resource = resources[index]
    how = draw(st.sampled_from(["wrong type", "removed", "required removed", "raw"]))
    raw = {}
    exits = frozenset({0, 1})
    if how == "required removed":
        keys = [key for key in REQUIRED if key in resource]
        path = (draw(st.sampled_from(keys)),)
        if path == ("resourceType",):
            exits = frozenset({1})
    else:
        path = draw(st.sampled_from(_paths(resource)))
    if how in ("removed", "required removed"):
        changed = _replace(resource, path, None, delete=True)
        what = f"{resource['resourceType']}.{'.'.join(map(str, path))} removed"
    elif how == "wrong type":
        value = draw(st.sampled_from(WRONG_JSON))
        changed = _replace(resource, path, value)
        what = f"{resource['resourceType']}.{'.'.join(map(str, path))} = {value!r}"
    else:
        name = draw(st.sampled_from(sorted(RAW_JSON)))
        placeholder = f"@@raw-{name}@@"
        raw[placeholder] = RAW_JSON[name]
        changed = _replace(resource, path, placeholder)
        what = f"{resource['resourceType']}.{'.'.join(map(str, path))} = {name}"
    resources = [*resources[:index], changed, *resources[index + 1 :]]
    texts = as_files(resources, layout, raw)
    return Files(
        f"{layout}: {what}",
        {name: text.encode() for name, text in texts.items()},
        exits,
    )


@st.composite
def broken_bytes(draw) -> Files:
    """One file of a valid export, its lines or bytes changed."""
    resources = draw(fhir_records())
    layout = draw(st.sampled_from(["ndjson", "bundle"]))
    texts = as_files(resources, layout, {})
    name = draw(st.sampled_from(sorted(texts)))
    text = texts[name]
    how = draw(
        st.sampled_from(
            [
                "line cut",
                "line repeated",
                "lines swapped",
                "Latin-1",
                "UTF-16",
                "BOM first",
                "CRLF",
                "byte inserted",
            ]
        )
    )
    lines = text.splitlines(keepends=True)
    exits = frozenset({0, 1})
    if how == "line cut":
        line = _index(draw, lines)
        at = draw(st.integers(1, max(1, len(lines[line].rstrip("\n")) - 1)))
        lines[line] = lines[line][:at] + "\n"
        body, exits = "".join(lines).encode(), frozenset({1})
    elif how == "line repeated":  # a resource sent twice; a bundle twice: not JSON
        line = _index(draw, lines)
        lines.insert(line, lines[line])
        body = "".join(lines).encode()
        exits = frozenset({0 if layout == "ndjson" else 1})
    elif how == "lines swapped":
        first, second = _index(draw, lines), _index(draw, lines)
        lines[first], lines[second] = lines[second], lines[first]
        body, exits = "".join(lines).encode(), frozenset({0})
    elif how == "Latin-1":
        body = text.encode("latin-1", errors="replace")
    elif how == "UTF-16":
        body, exits = text.encode("utf-16"), frozenset({1})
    elif how == "BOM first":
        body, exits = BOM + text.encode(), frozenset({0})
    elif how == "CRLF":
        body, exits = text.replace("\n", "\r\n").encode(), frozenset({0})
    else:
        encoded = text.encode()
        at = draw(st.integers(0, len(encoded)))
        odd = draw(st.sampled_from([b"\x00", b"\xff", b"\r", b"\n", b"\xed\xa0\x80"]))
        body = encoded[:at] + odd + encoded[at:]
        how = f"{odd!r} inserted at byte {at}"
        if odd == b"\x00":
            exits = frozenset({1})  # no JSON text holds a raw NUL
    files = {n: t.encode() for n, t in texts.items()}
    files[name] = body
    return Files(f"{layout} {name}: {how}", files, exits)


GOOD_LOCATIONS = [
    location("good-ward", "wa"),
    location("good-room", "ro", part_of="good-ward"),
    location("good-bed", "bd", part_of="good-room"),
]


@st.composite
def good_fhir(draw) -> list[dict]:
    """A patient in the good bed, whom no generated resource names."""
    person = draw(fhir_patient("good-p", "GOOD-MRN"))
    stay = {
        "resourceType": "Encounter",
        "id": "good-e",
        "status": "in-progress",
        "class": {"code": "IMP"},
        "subject": {"reference": "Patient/good-p"},
        "period": {"start": "2026-11-20T08:00:00+01:00"},
        "location": [{"location": {"reference": "Location/good-bed"}}],
    }
    return [person, stay]
