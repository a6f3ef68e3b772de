"""Reports and documents over HL7 v2, as a clinician reads them: a radiology
report (ORU^R01 narrative) with its impression, a letter or note (MDM) with
its latest text, withdrawn ones withdrawn; text kept as sent, never markup."""

import pytest

from patients.models import (
    Encounter,
    InboundMessage,
    LabOrder,
    Observation,
    Patient,
    Report,
)
from tests.patients.hl7 import (
    FIXTURES,
    adt,
    extra,
    local,
    message,
    pid,
    pid_of,
    pv1,
    receive,
    wards,
)

pytestmark = pytest.mark.django_db

RADIOLOGIST = "R9^ROENTGEN^Wilhelm^^^Dr^^^GENERAL"


def admit(person: str, place: str, visit: str, at: str = "20230801080000") -> None:
    """The fixture's patient admitted to ``place`` (its ward known)."""
    wards(place.split("^")[0])
    raw = message(
        "ADT^A01^ADT_A01",
        "A1",
        f"EVN|A01|{at}",
        person,
        pv1(place=place, visit=visit),
        at=at,
    )
    assert receive(raw)["code"] == "AA"


@pytest.fixture
def admitted() -> Encounter:
    wards("WARD-A")
    assert receive(adt("A01", "C1", at="20261130060000"))["code"] == "AA"
    return Encounter.objects.get()


def chest_xray(control: str, *obx: str, at: str = "20261130110000") -> bytes:
    obr = ["OBR", "1", "RAD-1", "", "71045^XR Chest 1 view^CPT", "", ""]
    obr += ["20261130093000"] + [""] * 14 + ["20261130104500", "", "RAD", "F"]
    obr += [""] * 6 + [f"{RADIOLOGIST.replace('^', '&')}"]
    return message("ORU^R01^ORU_R01", control, pid(), "|".join(obr), *obx, at=at)


FINDINGS = "OBX|1|TX|59776-5^Findings^LN|1|Lungs are clear.~No pleural effusion.||||||F"
IMPRESSION = "OBX|2|TX|19005-8^Impression^LN|2|No acute cardiopulmonary process.||||||F"


def test_a_radiology_report_is_one_report_with_its_impression_and_closes_the_order(
    admitted,
):
    order = message(
        "ORM^O01^ORM_O01",
        "C2",
        pid(),
        "ORC|NW|RAD-1|||||||20261130090000|||D1^HOUSE^GREGORY",
        "OBR|1|RAD-1||71045^XR Chest 1 view^CPT",
        at="20261130090000",
    )
    assert receive(order)["code"] == "AA"
    assert LabOrder.objects.get().status == "active"

    answer = receive(
        chest_xray(
            "C3",
            FINDINGS,
            IMPRESSION,
            "OBX|3|NM|18748-4&CTDI^CT dose^LN||12.5|mGy||||||F",
            "OBX|4|RP|PDF^Signed report||https://pacs.example/r/1.pdf^PACS^AP^PDF||||||F",
        )
    )

    assert answer["code"] == "AA", answer
    assert answer["text"] == "1 results, 1 orders closed, 1 reports"
    report = Report.objects.get()
    assert (report.kind, report.title, report.code) == (
        "diagnostic",
        "XR Chest 1 view",
        "71045",
    )
    assert (report.category, report.status) == ("Radiology", "final")
    assert report.text == (
        "Lungs are clear.\nNo pleural effusion.\nNo acute cardiopulmonary process."
    )
    assert report.conclusion == "No acute cardiopulmonary process."
    assert report.author == "Dr Wilhelm ROENTGEN"
    assert local(report.issued_at) == "2026-11-30 10:45"
    assert report.encounter == admitted
    assert report.attachments == [
        {
            "title": "Signed report",
            "type": "application/pdf",
            "url": "https://pacs.example/r/1.pdf",
        }
    ]
    assert report.source_type == "DiagnosticReport"
    # The measurement beside the text stays a result, as before.
    assert list(Observation.objects.values_list("name", "value")) == [
        ("CT dose", "12.5")
    ]
    assert LabOrder.objects.get().status == "completed"


def test_a_corrected_report_replaces_the_text_and_an_older_one_does_not(admitted):
    receive(chest_xray("C2", FINDINGS, IMPRESSION))
    corrected = IMPRESSION.replace("No acute", "Small right effusion; no other")
    answer = receive(
        chest_xray("C3", FINDINGS, corrected, at="20261130120000").replace(
            b"|RAD|F|", b"|RAD|C|"
        )
    )
    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert report.status == "corrected"
    assert report.conclusion.startswith("Small right effusion")

    late = receive(chest_xray("C4", FINDINGS, IMPRESSION, at="20261130113000"))
    assert late["code"] == "AA", late
    assert Report.objects.get().conclusion.startswith("Small right effusion")


def test_an_impression_is_found_by_its_section_name_too(admitted):
    answer = receive(
        chest_xray(
            "C2",
            "OBX|1|TX|&GDT^General text|1|Heart size normal.||||||F",
            "OBX|2|TX|&IMP^Impression|2|Normal chest.||||||F",
            "OBX|3|FT|ADD^Addendum|CONCLUSION|Compared with 2025.||||||F",
        )
    )
    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert report.conclusion == "Normal chest.\nCompared with 2025."
    assert report.text == "Heart size normal.\nNormal chest.\nCompared with 2025."


def test_a_long_reports_lines_keep_their_order_after_a_lab_panel(admitted):
    """OBX numbers beyond a few dozen: the text is in the message's order."""
    panel = [
        "OBR|1|L1||24323-8^Metabolic panel^LN|||20261130090000||||||||||||||||||F",
        *(f"OBX|{n}|NM|X{n}^Test {n}^L||{n}|mmol/L||N|||F" for n in range(1, 61)),
    ]
    lines = [
        f"OBX|{n}|TX|59776-5^Findings^LN|{n}|Line {n}.||||||F" for n in range(61, 71)
    ]

    # The panel's OBR and OBX first, then the X-ray's.
    xray = chest_xray("C2", *lines)
    raw = xray.replace(
        b"\rOBR|1|RAD-1", ("\r" + "\r".join(panel) + "\rOBR|2|RAD-1").encode()
    )

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    assert Observation.objects.count() == 60
    assert Report.objects.get().text == "\n".join(f"Line {n}." for n in range(61, 71))


def test_a_report_whose_every_line_is_withdrawn_is_withdrawn(admitted):
    assert receive(chest_xray("C2", FINDINGS, IMPRESSION))["code"] == "AA"

    withdrawn = [line.replace("||||||F", "||||||W") for line in (FINDINGS, IMPRESSION)]
    answer = receive(chest_xray("C3", *withdrawn, at="20261130120000"))

    assert answer["code"] == "AA", answer
    assert Report.objects.get().status == "entered-in-error"


def test_a_result_with_numbers_still_gives_observations(admitted):
    answer = receive(
        message(
            "ORU^R01^ORU_R01",
            "C2",
            pid(),
            "OBR|1|L1||2823-3^Potassium^LN|||20261130090000||||||||||||||||||F",
            "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F",
        )
    )
    assert answer["text"] == "1 results, 0 orders closed"
    assert Observation.objects.get().value == "4.1"
    assert not Report.objects.exists()


def test_a_blood_count_with_a_morphology_comment_stays_results(settings):
    """The US lab results guide's CBC: numbers, coded findings and three TX
    comments in one OBR. It is a lab panel, not a report."""
    settings.HL7_PROCESSING_IDS = ["P", "T"]
    raw = next(FIXTURES.rglob("LRI_2.0-NG_CBC_Typ_Message.hl7")).read_bytes()

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    assert not Report.objects.exists()
    assert Observation.objects.filter(value__startswith="Many spherocytes").exists()


def test_an_imaging_feeds_report_without_observation_codes_is_a_report(settings):
    """LinuxForHealth's imaging feed (a training message, LF-separated): an
    echo report in TX lines with empty OBX-3, the first line blank. As
    observations it was refused (OBX-3 is required); as a report it is
    kept."""
    settings.HL7_PROCESSING_IDS = ["P", "T"]
    raw = extra("linuxforhealth-hl7v2-fhir-converter/ORU-R01-01.hl7")

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert (report.title, report.code) == ("ECHO CARDIOGRAM COMPLETE", "1487")
    assert (report.category, report.status) == ("CT", "final")
    assert report.text == (
        "[PII] Emergency Department\n"
        "ED Encounter Arrival Date: [ADDRESS] [PERSONALNAME]:"
    )
    assert report.conclusion == ""
    assert not Observation.objects.exists()


def test_a_simulated_mri_result_in_ft_and_tx_is_a_report(settings):
    settings.HL7_PROCESSING_IDS = ["P", "T"]
    answer = receive(extra("google-simhospital/ORU-R01-01.hl7"))

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert (report.title, report.status) == ("MRI Ankle Lt", "final")
    assert report.text == "MRI Ankle Lt value\nMANKL value"
    assert not Observation.objects.exists()


def test_report_text_that_looks_like_markup_is_kept_as_that_text(admitted):
    script = "<script>alert(1)</script>"
    image = "<img src=file:///etc/passwd>"
    receive(
        chest_xray(
            "C2",
            f"OBX|1|TX|59776-5^Findings^LN|1|{script}||||||F",
            f"OBX|2|TX|19005-8^Impression^LN|2|{image}||||||F",
        )
    )
    mdm = message(
        "MDM^T02^MDM_T02",
        "C3",
        "EVN|T02|20261130120000",
        pid(),
        "TXA|1|CN^Consultation|TX|20261130115000||||||||DOC-9|||||AU||AV",
        f"OBX|1|TX|||{script}||||||F",
        f"OBX|2|FT|||{image}\\.br\\Done.||||||F",
        at="20261130120000",
    )
    assert receive(mdm)["code"] == "AA"

    report = Report.objects.get(kind="diagnostic")
    assert report.text == f"{script}\n{image}"
    assert report.conclusion == image
    assert Report.objects.get(kind="document").text == f"{script}\n{image}\nDone."


# Documents (MDM)


def mdm(
    trigger: str,
    control: str,
    at: str,
    *obx: str,
    number: str = "DOC12345",
    completion: str = "AU",
    availability: str = "AV",
    parent: str = "",
) -> bytes:
    """A document of the kcenon sample's patient (DOE JOHN, MRN 12345)."""
    txa = ["TXA", "1", "HP^History and Physical", "TX", "20240115140000"]
    txa += ["", "20240115140000", "", "", "D1^HOUSE^Gregory^^^Dr", "", ""]
    txa += [number, parent, "", "", "", completion, "", availability]
    return message(
        f"MDM^{trigger}^MDM_T02",
        control,
        f"EVN|{trigger}|{at}",
        "PID|1||12345^^^HOSPITAL^MR||DOE^JOHN||19800515|M",
        "|".join(txa),
        *obx,
        at=at,
    )


FIRST = "OBX|1|TX|REPORT^Report Text||History and physical examination.||||||F"


@pytest.fixture
def documented():
    """DOE JOHN admitted, with his history and physical (T02, 14:00)."""
    admit(
        "PID|1||12345^^^HOSPITAL^MR||DOE^JOHN||19800515|M",
        "WARD-H^R1^B1",
        "V-H",
        at="20240115080000",
    )
    answer = receive(mdm("T02", "M1", "20240115140000", FIRST, completion="DO"))
    assert answer["code"] == "AA", answer
    return Report.objects.get()


def test_a_document_and_its_newer_edit_are_one_report_with_the_edited_text(
    documented,
):
    assert (documented.kind, documented.status) == ("document", "preliminary")
    assert documented.title == "History and Physical"
    assert documented.text == "History and physical examination."
    assert documented.author == "Dr Gregory HOUSE"
    assert documented.encounter == Encounter.objects.get()
    assert documented.source_type == "DocumentReference"

    # The kcenon sample: an edit (T08) of DOC12345, 17:00.
    answer = receive(extra("kcenon-pacs-bridge/MDM-T08-01.hl7"))

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert report.text == "History and physical examination completed with corrections."
    assert report.status == "final"
    assert report.encounter == documented.encounter

    older = "OBX|1|TX|REPORT^Report Text||An older draft.||||||F"
    late = receive(mdm("T08", "M3", "20240115150000", older))
    assert late["code"] == "AA", late
    assert "older" in late["text"]
    assert Report.objects.get().text.endswith("completed with corrections.")


def test_a_cancelled_document_is_withdrawn(documented):
    answer = receive(mdm("T11", "M2", "20240115160000"))

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert report.status == "cancelled"
    assert report.status in Report.WITHDRAWN
    assert report.text == documented.text


def test_a_replacement_supersedes_the_document_it_replaces(documented):
    new = "OBX|1|TX|||History and physical examination, replaced.||||||F"
    answer = receive(
        mdm("T10", "M2", "20240115160000", new, number="DOC-2", parent="DOC12345")
    )

    assert answer["code"] == "AA", answer
    statuses = dict(Report.objects.values_list("text", "status"))
    assert statuses == {
        "History and physical examination.": "superseded",
        "History and physical examination, replaced.": "final",
    }


def test_notices_without_content_change_only_a_status(documented):
    signed = receive(mdm("T03", "M2", "20240115160000", completion="LA"))
    assert signed["code"] == "AA", signed
    assert Report.objects.get().status == "final"

    again = receive(mdm("T03", "M3", "20240115170000", completion="LA"))
    unknown = receive(mdm("T01", "M4", "20240115170000", number="DOC-9"))
    assert InboundMessage.objects.get(control_id="M3").status == "ignored"
    assert InboundMessage.objects.get(control_id="M4").status == "ignored"
    assert "carries no document text" in again["text"]
    assert "carries no document text" in unknown["text"]
    assert Report.objects.count() == 1


def test_a_shared_discharge_summary_keeps_its_text_and_lists_its_pdf():
    """HL7's v2-to-FHIR sample (CRLF, blank lines between segments): TX, FT
    with \\.br\\ breaks, ST, and a PDF given inline, listed and not read."""
    raw = extra("hl7-v2-to-fhir/MDM-T02-01.hl7")
    admit(pid_of(raw), "F1N^F151^F151-01", "1234567891")

    answer = receive(raw)

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert (report.title, report.code, report.status) == (
        "Discharge Summary",
        "PN",
        "final",
    )
    assert report.author == "Nicholas Radon; HILA MITCHELL"
    assert local(report.issued_at) == "2023-08-20 17:49"
    assert report.encounter == Encounter.objects.get()
    lines = report.text.split("\n")
    assert lines[0] == "Transcription Authentication Interface Message Text"
    assert lines[1] == "Critical Values Entered On:  08/22/2023 2:11 EDT"
    assert "Critical Value Reported Lab :   Yes" in lines
    assert "\n\n\n" not in report.text
    assert lines[-1] == "Table formatting from the original result was not included."
    assert report.attachments == [
        {
            "title": "PHQ-9 Depression Screen PDF",
            "type": "application/pdf",
            "url": "",
        }
    ]


def test_a_simulated_progress_note_of_many_lines_is_one_document(settings):
    settings.HL7_PROCESSING_IDS = ["P", "T"]
    answer = receive(extra("google-simhospital/MDM-T02-01.hl7"))

    assert answer["code"] == "AA", answer
    report = Report.objects.get()
    assert (report.title, report.status) == ("Procedure note", "preliminary")
    lines = report.text.split("\n")
    assert len(lines) == 34
    assert (lines[0], lines[-1]) == (
        "Change student epoch hold animal bubble",
        "Columnist",
    )


@pytest.mark.parametrize(
    "name",
    [
        "linuxforhealth-hl7v2-fhir-converter/MDM-T02-01.hl7",
        "linuxforhealth-hl7v2-fhir-converter/MDM-T02-02.hl7",
    ],
)
def test_a_document_without_its_unique_number_is_an_error_that_changes_nothing(name):
    answer = receive(extra(name))

    assert answer["code"] == "AE", answer
    assert answer["where"] == "TXA^1^12^1"
    assert answer["condition"] == "101"
    assert "TXA-12" in answer["error"]
    assert "no unique number" in answer["error"]
    assert not Report.objects.exists()
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("segments", "where", "condition"),
    [
        ([], "TXA^1", "100"),
        (["TXA|1|HP|TX||||||||||||||ZZ"], "TXA^1^12^1", "101"),
        (["TXA|1|HP|TX|||||||||D-1|||||ZZ"], "TXA^1^17^1", "103"),
        (["TXA|1|HP|TX|||||||||D-1|||||AU||XX"], "TXA^1^19^1", "103"),
        (["TXA|1||TX|||||||||D-1|||||AU"], "TXA^1^2^1", "101"),
    ],
    ids=[
        "no-txa",
        "no-number",
        "unknown-completion",
        "unknown-availability",
        "no-type",
    ],
)
def test_a_document_message_without_what_it_needs_is_an_error_naming_it(
    admitted, segments, where, condition
):
    answer = receive(
        message("MDM^T02^MDM_T02", "X1", pid(), *segments, FIRST, at="20261130090000")
    )

    assert answer["code"] == "AE", answer
    assert answer["where"] == where, answer
    assert answer["condition"] == condition, answer
    assert not Report.objects.exists()
