"""Doses given and dispensed: RAS^O17 administrations (each RXA of an
order's ORC is one dose, given or not) and RDS^O13 dispenses (each RXD, for
EHRs that send what the pharmacy dispensed and not what was given).

A dose is found again by its order's number (ORC-2, else ORC-3), the time
it was given as sent (RXA-3) and its sub-id (RXA-2), so that an update or
a deletion of the same dose (RXA-21 U, D) finds the row the first made. The
order it belongs to is the medication order of that number (RDE^O11,
pharmacy.py); one the mirror does not have leaves it empty, and the drug's
name says which order it was.
"""

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from patients.ingest.hl7v2.message import Code, Message, Problem, parse_number
from patients.ingest.hl7v2.mirror import (
    clinician,
    clinician_read,
    keyed,
    patient,
    pid_read,
    pk_of,
    write,
)
from patients.ingest.hl7v2.orders import of_patient
from patients.ingest.hl7v2.pharmacy import dose_amount, order_read, unit_of
from patients.ingest.hl7v2.rows import Found, Read, find
from patients.models import MedicationAdministration, MedicationOrder

A = MedicationAdministration.Status
# RXA-20 completion status (HL7 table 0322); empty: given.
COMPLETION = {
    "": A.COMPLETED,
    "CP": A.COMPLETED,
    "PA": A.STOPPED,
    "RE": A.NOT_DONE,
    "NA": A.NOT_DONE,
}
# RXA-21 action code (table 0323): A added, U updated, X no change, D
# withdrawn.
ACTIONS = {"", "A", "U", "X", "D"}
# RXA-6 when the amount given is not known.
UNKNOWN_AMOUNT = "999"
SOURCE_TYPES = {"RXA": "MedicationAdministration", "RXD": "MedicationDispense"}

# One kept segment of a message: (its ORC's segments, where it is among
# them, its number among segments of its name).
Entry = tuple[list[tuple[str, int]], int, int]


def administrations(message: Message) -> str:
    """RAS^O17: each RXA is one dose given, or not given."""
    return _record(message, "RXA", _dose_key, _dose, "doses")


def dispenses(message: Message) -> str:
    """RDS^O13: each RXD is one dispense."""
    return _record(message, "RXD", _dispense_key, _dispense, "dispenses")


def _record(
    message: Message,
    segment: str,
    key_of: Callable[[Message, Entry, int, str], str],
    fields_of: Callable,
    noun: str,
) -> str:
    """Write a row for each ``segment`` of each ORC; what was done."""
    event_at = message.event_at()
    entries = _entries(message, segment)
    performers = [
        clinician_read(message, "RXA", 10, seq=seq)
        for _group, _index, seq in entries
        if segment == "RXA"
    ]
    found = find(pid_read(message), *performers)
    person, _ = patient(message, event_at, found=found)
    numbers = [_number(message, group[0][1]) for group, _i, _seq in entries]
    keys = _keys(message, segment, entries, numbers, person.pk, key_of)
    orders = [order_read(f"hl7:medication:{person.pk}:{n}") for n in numbers]
    rows = [_row_read(segment, key) for key in keys]
    found.update(of_patient(message, person, lambda _m, _pid: [*rows, *orders]))
    orders_found = {read: found.first(read) for read in dict.fromkeys(orders)}
    done: Counter = Counter()
    for entry, key, row, its_order in zip(entries, keys, rows, orders, strict=True):
        current = found.first(row)
        order = orders_found[its_order]
        fields = fields_of(message, entry, event_at, found, order)
        fields["patient"] = person
        fields["order_id"] = pk_of(order)
        for name in ("order_id", "performer_id"):
            # An update that leaves them out keeps what the mirror has.
            if fields.get(name) is None and current is not None:
                fields[name] = getattr(current, name)
        _row, state = write(
            MedicationAdministration,
            current,
            (SOURCE_TYPES[segment], key),
            fields,
            event_at,
            pointed_to=False,
        )
        done[state] += 1
    states = ", ".join(f"{count} {state}" for state, count in sorted(done.items()))
    return f"{len(entries)} {noun} ({states})"


def _keys(
    message: Message,
    segment: str,
    entries: list[Entry],
    numbers: list[str],
    person_id: int,
    key_of: Callable[[Message, Entry, int, str], str],
) -> list[str]:
    """The row key of each entry; two alike are an error (one row each)."""
    keys = [
        key_of(message, entry, person_id, number)
        for entry, number in zip(entries, numbers, strict=True)
    ]
    if len(set(keys)) < len(keys):
        raise Problem(
            f"two {segment} of the message record the same one "
            "(same order, time and sub-id)",
            segment=segment,
            code=Code.DUPLICATE_KEY,
        )
    return keys


def _entries(message: Message, segment: str) -> list[Entry]:
    """Each ``segment`` (RXA, RXD) with the segments of its ORC; every ORC
    must have one."""
    groups = _orders(message, {segment, "RXR"})
    if not groups:
        raise Problem(
            "is missing: the message names no order",
            segment="ORC",
            code=Code.SEGMENT_SEQUENCE,
        )
    entries = []
    for group in groups:
        found = [
            (group, index, seq)
            for index, (name, seq) in enumerate(group)
            if name == segment
        ]
        if not found:
            raise Problem(
                f"is followed by no {segment}: the order's "
                + ("dose given" if segment == "RXA" else "dispense")
                + " is missing",
                segment="ORC",
                code=Code.SEGMENT_SEQUENCE,
                sequence=group[0][1],
            )
        entries += found
    return entries


def _orders(message: Message, members: set[str]) -> list[list[tuple[str, int]]]:
    """Each ORC and the ``members`` segments after it, in message order, as
    (name, number among segments of that name): an administration's route
    (RXR) is the one after its RXA, the order's the one before."""
    groups: list[list[tuple[str, int]]] = []
    seen: Counter = Counter()
    for name in message.names:
        seen[name] += 1
        if name == "ORC":
            groups.append([(name, seen[name])])
        elif groups and name in members:
            groups[-1].append((name, seen[name]))
    return groups


def _number(message: Message, orc: int) -> str:
    number = message.value("ORC", 2, seq=orc) or message.value("ORC", 3, seq=orc)
    if not number:
        raise Problem(
            "has neither a placer nor a filler order number: the dose cannot "
            "be told apart from others",
            segment="ORC",
            field=2,
            code=Code.REQUIRED_MISSING,
            sequence=orc,
        )
    return number


def _row_read(segment: str, key: str) -> Read:
    return keyed(MedicationAdministration, SOURCE_TYPES[segment], key)


def _when(message: Message, segment: str, seq: int, what: str) -> str:
    """Field 3 of an RXA or RXD, when it happened, as sent: required."""
    value = message.value(segment, 3, seq=seq)
    if not value:
        raise Problem(
            f"is empty: when {what} is unknown",
            segment=segment,
            field=3,
            code=Code.REQUIRED_MISSING,
            sequence=seq,
        )
    return value


def _dose_key(message: Message, entry: Entry, person_id: int, number: str) -> str:
    _group, _index, rxa = entry
    given = _when(message, "RXA", rxa, "the dose was given")
    sub_id = message.value("RXA", 2, seq=rxa) or "1"
    return f"hl7:administration:{person_id}:{number}:{given}:{sub_id}"


def _dose(
    message: Message,
    entry: Entry,
    event_at: datetime,
    found: Found,
    order: MedicationOrder | None,
) -> dict:
    """The fields of an RXA: what was given, how much, when, by whom, or
    why it was not."""
    group, index, rxa = entry
    completion = _code(message, "RXA", 20, rxa, COMPLETION, "0322")
    action = _code(message, "RXA", 21, rxa, ACTIONS, "0323")
    status = A.ENTERED_IN_ERROR if action == "D" else COMPLETION[completion]
    if not completion and _texts(message, "RXA", 18, rxa):
        status = A.NOT_DONE  # a refusal reason and no completion status
    amount = message.value("RXA", 6, seq=rxa)
    given_nothing = status == A.NOT_DONE and _zero(amount)
    return {
        **_drug(message, "RXA", 5, rxa, order),
        "dose": (
            ""
            if amount == UNKNOWN_AMOUNT or given_nothing
            else dose_amount(amount, unit_of(message, "RXA", 7, rxa))
        ),
        "route": _route(message, group, index),
        "given_at": message.timestamp("RXA", 3, seq=rxa),
        "status": status,
        "reason": _reason(message, rxa, completion),
        "performer_id": pk_of(
            clinician(message, "RXA", 10, event_at, seq=rxa, found=found)
        ),
    }


def _dispense_key(message: Message, entry: Entry, person_id: int, number: str) -> str:
    _group, _index, rxd = entry
    dispensed = _when(message, "RXD", rxd, "the drug was dispensed")
    prescription = message.value("RXD", 7, seq=rxd) or "1"
    return f"hl7:dispense:{person_id}:{number}:{dispensed}:{prescription}"


def _dispense(
    message: Message,
    entry: Entry,
    event_at: datetime,
    found: Found,
    order: MedicationOrder | None,
) -> dict:
    """The fields of an RXD. Its dispensing provider (RXD-10) is not the
    performer: that column says who gave the dose, and a pharmacist who
    dispensed it did not."""
    group, index, rxd = entry
    return {
        **_drug(message, "RXD", 2, rxd, order),
        "dose": dose_amount(
            message.value("RXD", 4, seq=rxd), unit_of(message, "RXD", 5, rxd)
        ),
        "route": _route(message, group, index),
        "given_at": message.timestamp("RXD", 3, seq=rxd),
        "status": A.DISPENSED,
    }


def _drug(
    message: Message, segment: str, field: int, seq: int, order: MedicationOrder | None
) -> dict:
    """The drug (a CE's text, else its code; else the order's) and its code."""
    code = message.value(segment, field, 1, seq=seq)
    drug = message.value(segment, field, 2, seq=seq) or code
    drug = drug or (order.drug if order is not None else "")
    if not drug:
        raise Problem(
            "does not say which drug",
            segment=segment,
            field=field,
            code=Code.REQUIRED_MISSING,
            sequence=seq,
        )
    return {"drug": drug, "drug_code": code}


def _route(message: Message, group: list[tuple[str, int]], index: int) -> str:
    """RXR-1 (text, else code) of the route after the segment at ``index``
    (the administration's), else of the one before it (the order's)."""
    after = [seq for name, seq in group[index + 1 :] if name == "RXR"]
    before = [seq for name, seq in group[:index] if name == "RXR"]
    routes = after[:1] or before[-1:]
    if not routes:
        return ""
    return message.value("RXR", 1, 2, seq=routes[0]) or message.value(
        "RXR", 1, seq=routes[0]
    )


def _reason(message: Message, rxa: int, completion: str) -> str:
    """Why a dose was not given, or not all of it: RXA-18 (refusal reason),
    else "refused" for a refusal, else RXA-9 (administration notes)."""
    refusal = _texts(message, "RXA", 18, rxa)
    if refusal or completion == "RE":
        return refusal or "refused"
    return _texts(message, "RXA", 9, rxa) if completion in ("NA", "PA") else ""


def _texts(message: Message, segment: str, field: int, seq: int) -> str:
    """The text (else code) of each repetition of a CE field."""
    found = (
        message.value(segment, field, 2, seq=seq, rep=rep)
        or message.value(segment, field, seq=seq, rep=rep)
        for rep in range(1, message.repetitions(segment, field, seq=seq) + 1)
    )
    return "; ".join(dict.fromkeys(text for text in found if text))


def _code(
    message: Message, segment: str, field: int, seq: int, known, table: str
) -> str:
    code = message.value(segment, field, seq=seq).upper()
    if code not in known:
        raise Problem(
            f"is not a code the mirror knows (HL7 table {table})",
            segment=segment,
            field=field,
            code=Code.TABLE_VALUE,
            sequence=seq,
        )
    return code


def _zero(amount: str) -> bool:
    try:
        return parse_number(amount) == 0
    except ValueError:
        return False
