"""Acknowledgements (original mode): AA, AE with an ERR segment, or AR."""

import itertools
import os

from django.conf import settings
from django.utils import timezone

from patients.ingest.hl7v2.message import CHARSETS, Code, Header, Problem

_COUNTER = itertools.count(1)

# What we answer when even MSH could not be read.
_UNKNOWN = Header(
    field_separator="|",
    encoding="^~\\&",
    sending_application="",
    sending_facility="",
    receiving_application="",
    receiving_facility="",
    control_id="",
    message_type="",
    trigger="",
    version="2.5",
    charset="",
)


def ack(
    header: Header | None, code: str, text: str = "", problem: Problem | None = None
) -> bytes:
    """The ACK for a message with this ``header``, encoded in its charset."""
    header = header or _UNKNOWN
    sep = header.field_separator
    comp, rep, esc, sub = header.encoding
    now = timezone.localtime(timezone=timezone.get_default_timezone())

    def escape(value: str) -> str:
        value = value.replace(esc, f"{esc}E{esc}")
        for char, name in ((sep, "F"), (comp, "S"), (rep, "R"), (sub, "T")):
            value = value.replace(char, f"{esc}{name}{esc}")
        return value.replace("\r", " ").replace("\n", " ")

    control = f"{now:%Y%m%d%H%M%S}{os.getpid() % 1000:03d}{next(_COUNTER) % 100000:05d}"
    msh = [
        "MSH",
        header.encoding,
        escape(settings.HL7_APPLICATION),
        # Values read from the message's MSH are still in its escaped form:
        # returned as they came, so that the sender recognises them.
        header.receiving_facility,
        header.sending_application,
        header.sending_facility,
        now.strftime("%Y%m%d%H%M%S%z"),
        "",
        comp.join(["ACK", header.trigger, "ACK"]) if header.trigger else "ACK",
        control,
        header.processing or "P",
        header.version or "2.5",
    ]
    if header.charset:
        msh += ["", "", "", "", "", header.charset]
    segments = [
        sep.join(msh),
        sep.join(["MSA", code, header.control_id, escape(text[:80])]),
    ]
    if problem is not None:
        condition = problem.code if problem.code else Code.INTERNAL
        location = ""
        if problem.segment:
            location = comp.join(
                [
                    problem.segment,
                    str(problem.sequence),
                    str(problem.field or ""),
                    "1" if problem.field else "",
                    str(problem.component or ""),
                ]
            ).rstrip(comp)
        segments.append(
            sep.join(
                [
                    "ERR",
                    "",  # ERR-1: the pre-2.5 form, not used
                    location,
                    comp.join([condition[0], escape(condition[1]), "HL70357"]),
                    "E",
                    "",
                    "",
                    "",
                    escape(str(problem)),
                ]
            )
        )
    text = "\r".join(segments) + "\r"
    codec = CHARSETS.get(header.charset, "utf-8") if header.charset else "utf-8"
    return text.encode(codec, errors="replace")
