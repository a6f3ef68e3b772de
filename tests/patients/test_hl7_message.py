"""Message reads every field as python-hl7 would: the same values from the
same text, on every shared fixture and on delimiters and escapes of our own.
The listener splits fields itself (python-hl7's whole tree cost more than the
fields a message reads); python-hl7 stays the reference."""

import hl7
import pytest

from patients.ingest.hl7v2.message import Message, Unreadable, decode
from tests.patients.hl7 import FIXTURES

OURS = (
    # Other delimiters, escapes, repetitions, sub-components, explicit nulls,
    # trailing empty fields, a field 2 with only a component separator.
    "MSH#*!?%#APP#FAC#DOWN#FAC#20261130080000##ADT*A08#C1#P#2.5\r"
    "PID#1##A1***GEN*MR!B2***X*PI%sub##DOE?S?JOHN*Jo?T?hn*?F??R??E?"
    '##19500101#F#""#*\r'
    "NTE#1##text with ?F? and ?X41? and ?.br? end#####\r",
    "MSH|^~\\&|A|B|C|D|20261130080000||ORU^R01|C2|P|2.5\r"
    "OBX|1|FT|X^Y&Z&W~Q^R||a\\S\\b\\T\\c\\E\\d~second^rep&sub||\r",
)


def messages():
    found = [
        (path.name, path.read_bytes())
        for path in sorted(FIXTURES.rglob("*"))
        if path.is_file() and path.suffix.lower() in (".hl7", ".txt", ".er7", "")
    ]
    found += [(f"ours-{n}", text.encode()) for n, text in enumerate(OURS)]
    for name, raw in found:
        try:
            message = Message(raw)
        except Unreadable:
            continue  # refused before reading fields (tested elsewhere)
        yield name, message, hl7.parse(decode(raw, message.header))


def reference(segment, seq, field, rep, component, sub) -> str:
    """What the listener read through python-hl7 before."""
    value = _raw(segment, seq, field, rep, component, sub)
    return "" if value == '""' else value


def test_every_field_reads_as_python_hl7_reads_it():
    read, compared = set(), 0
    for name, message, parsed in messages():
        read.add(name)
        seen: dict[str, int] = {}
        for segment in parsed:
            label = str(segment[0][0])
            seq = seen[label] = seen.get(label, 0) + 1
            for field in range(len(segment) + 2):
                assert message.repetitions(label, field, seq=seq) == (
                    len(segment[field]) if 0 < field < len(segment) else 0
                ), (name, label, seq, field)
                for rep in (1, 2, 3):
                    for component in (1, 2, 3, 5):
                        for sub in (1, 2, 3):
                            expected = reference(
                                segment, seq, field, rep, component, sub
                            )
                            got = message.value(
                                label, field, component, sub, seq=seq, rep=rep
                            )
                            assert got == expected, (
                                name,
                                f"{label}[{seq}]-{field}.{rep}.{component}.{sub}",
                            )
                            compared += 1
                assert message.is_null(label, field, seq=seq) == (
                    _raw(segment, seq, field) == '""'
                ), (name, label, field)
    assert len(read) >= 20, read  # the shared fixtures are there and read
    assert {"ours-0", "ours-1"} <= read
    assert compared > 100_000


def _raw(segment, seq, field, rep=1, component=1, sub=1) -> str:
    try:
        return (segment.extract_field(seq, field, rep, component, sub) or "").strip()
    except (IndexError, KeyError):
        return ""


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (("PID", 5, 1), "DOE*JOHN"),  # ?S? is this message's component mark
        (("PID", 5, 2), "Jo%hn"),  # ?T? its sub-component mark
        (("PID", 5, 3), "#!?"),  # ?F? ?R? ?E?: field, repetition, escape
        (("PID", 3, 1), "A1"),
        (("PID", 3, 4), "GEN"),
        (("PID", 3, 1, 1, 2), "B2"),  # repetition 2
        (("PID", 3, 4, 1, 2), "X"),
        (("PID", 3, 5, 1, 2), "PI"),
        (("PID", 3, 5, 2, 2), "sub"),
        (("PID", 3, 5, 3, 2), ""),
        (("PID", 3, 1, 1, 3), ""),  # no third repetition
        (("NTE", 3, 1), "text with # and A and \r end"),  # ?X41?, ?.br?
        (("MSH", 1, 1), "#"),
        (("MSH", 2, 1), "*!?%"),
        (("MSH", 2, 2), ""),
        (("MSH", 9, 2), "A08"),
    ],
)
def test_delimiters_and_escapes_of_the_message_itself(where, expected):
    message = Message(OURS[0].encode())
    segment, field, component, *rest = where
    sub = rest[0] if rest else 1
    rep = rest[1] if len(rest) > 1 else 1
    assert message.value(segment, field, component, sub, rep=rep) == expected
    assert message.is_null("PID", 9)
    assert message.value("PID", 9) == ""
    assert not message.is_null("PID", 8)
