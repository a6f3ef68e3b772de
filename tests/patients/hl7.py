"""Building HL7 v2 messages for tests, and talking MLLP to a real listener."""

import contextlib
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone
from hl7.client import MLLPClient

from patients.ingest.hl7v2.inbox import hl7_receive
from patients.models import Allergy, Encounter, Patient
from tests.patients.fhir import location
from tests.printouts.conftest import load
from tests.processes import REPO, app_env, spawn, stop, wait_for

FIXTURES = REPO.parent / "shared" / "fixtures" / "hl7v2"
# Public sample messages of the kinds the shared fixtures lack (RAS, RDS,
# MDM, narrative ORU), with their licences.
EXTRA = REPO / "tests" / "fixtures" / "hl7v2-extra"


def message(
    kind: str, control: str, *segments: str, at: str = "20261130080000"
) -> bytes:
    """MSH plus ``segments``, CR-separated, as UTF-8."""
    msh = (
        f"MSH|^~\\&|EHR|GENERAL|DOWNTIME|GENERAL|{at}||{kind}|{control}|P|2.5"
        "||||||UNICODE UTF-8"
    )
    return "\r".join([msh, *segments]).encode() + b"\r"


def pid(mrn: str = "MRN-1", family: str = "PEETERS", given: str = "Anaïs") -> str:
    return (
        f"PID|1||{mrn}^^^GENERAL^MR||{family}^{given}||19500312|F|||"
        "Rue Haute 1^^Bruxelles^^1000^BE||+32 2 555 01 01"
    )


def pv1(place: str = "WARD-A^R1^B1", visit: str = "V1", klass: str = "I") -> str:
    fields = ["PV1", "1", klass, place, "", "", "", "D1^HOUSE^GREGORY^^^Dr"]
    fields += [""] * (19 - len(fields)) + [visit]
    return "|".join(fields)


def adt(
    trigger: str, control: str, *extra: str, at: str = "20261130080000", **kw
) -> bytes:
    person = {k: kw.pop(k) for k in ("mrn", "family", "given") if k in kw}
    return message(
        f"ADT^{trigger}^ADT_A01",
        control,
        f"EVN|{trigger}|{at}",
        pid(**person),
        pv1(**kw),
        *extra,
        at=at,
    )


def wards(*names: str) -> None:
    """Wards the mirror knows, by name (HL7 names them in PV1-3)."""
    load(
        [
            {**location(re.sub(r"[^a-z0-9]+", "-", n.lower()) or "w", "wa"), "name": n}
            for n in names
        ]
    )


def mirror() -> list:
    """What a nurse could see: every patient, stay and allergy, hashed."""
    return [
        sorted(Patient.objects.values_list("mrn", "source_hash")),
        sorted(
            Encounter.objects.values_list("source_id", "status", "ward_id", "bed_id")
        ),
        sorted(Allergy.objects.values_list("source_id", "source_hash")),
    ]


def extra(path: str) -> bytes:
    return (EXTRA / path).read_bytes()


def pid_of(raw: bytes) -> str:
    """The PID line of a message, to admit its patient first."""
    lines = raw.decode().replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return next(line for line in lines if line.startswith("PID|"))


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def receive(raw: bytes) -> dict:
    """The acknowledgement of a message received as the listener does."""
    return acknowledgement(hl7_receive(raw=raw, peer="127.0.0.1:5000"))


def acknowledgement(reply: bytes) -> dict:
    """MSA-1, MSA-3, and ERR-2/ERR-3/ERR-8 of an ACK."""
    text = reply.strip(b"\x0b\x1c\r").decode()
    segments = {
        line.split("|")[0]: line.split("|") for line in text.split("\r") if line
    }
    msa = segments["MSA"]
    err = segments.get("ERR", [])
    return {
        "code": msa[1],
        "control": msa[2],
        "text": msa[3] if len(msa) > 3 else "",
        "where": err[2] if len(err) > 2 else "",
        "condition": err[3].split("^")[0] if len(err) > 3 else "",
        "error": err[8] if len(err) > 8 else "",
        "raw": text,
    }


@contextlib.contextmanager
def listener(database_url: str, log: Path, **env: str) -> Iterator[tuple[int, object]]:
    """``manage.py run_mllp`` as a real process; yields (port, process)."""
    from tests.processes import free_port

    port = free_port()
    process = spawn(
        [sys.executable, "manage.py", "run_mllp", "--port", str(port)],
        env=app_env(DATABASE_URL=database_url, **env),
        log=log,
    )
    try:
        wait_for(
            lambda: (
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                is None
            ),
            timeout=60,
            what=f"MLLP listener start (log: {log})",
            process=process,
        )
        yield port, process
    finally:
        stop(process)


class Sender:
    """One MLLP connection, kept open, as an interface engine keeps it."""

    def __init__(self, port: int) -> None:
        self.client = MLLPClient("127.0.0.1", port)
        self.client.socket.settimeout(30)

    def send(self, raw: bytes) -> dict:
        reply = self.client.send_message(raw)
        while not reply.rstrip(b"\r").endswith(b"\x1c"):
            chunk = self.client.socket.recv(4096)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            reply += chunk
        return acknowledgement(reply)

    def close(self) -> None:
        self.client.close()
