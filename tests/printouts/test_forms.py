"""The blank downtime forms as a nurse fills them in: the MAR's allergy box
and as-needed section, the lab request's box for each test."""

import pypdfium2
import pytest
from django.utils import translation

from printouts import documents
from tests.printouts.pdfs import keep_png, page_texts

MM = 72 / 25.4


def words(text: str) -> str:
    return " ".join(text.split())


def boxes_of(data: bytes, labels: list[str]) -> dict[str, int]:
    """For each label on page 1, the index of the ☐ just left of it on its
    line (at most 12 mm away); a label without one is left out."""
    document = pypdfium2.PdfDocument(data)
    try:
        text = document[0].get_textpage()
        every = text.get_text_range()
        boxes = [
            (index, text.get_charbox(index))
            for index in range(text.count_chars())
            if every[index : index + 1] == "☐"
        ]
        found = {}
        for label in labels:
            match = text.search(label, match_case=True).get_next()
            assert match is not None, f"{label!r} is not on the page"
            left, bottom, _right, top = text.get_charbox(match[0])
            middle = (bottom + top) / 2
            for index, (_l, box_bottom, box_right, box_top) in boxes:
                if box_bottom <= middle <= box_top and 0 <= left - box_right < 12 * MM:
                    found[label] = index
        return found
    finally:
        document.close()


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_lab_request_has_a_box_of_its_own_for_each_test(language):
    data = documents.blank_form(form="lab", language=language)
    with translation.override(language):
        tests = [str(test) for test in documents.LAB_TESTS]
        other = translation.gettext("Other:")

    boxes = boxes_of(data, tests)

    assert sorted(boxes) == sorted(tests)  # each test has a box beside it
    assert len(set(boxes.values())) == len(tests)  # and none shares one
    text = words(page_texts(data)[0])
    assert text.count("☐") == len(tests) + documents.LAB_OTHER_LINES
    assert text.count(other) == documents.LAB_OTHER_LINES
    keep_png(data, 1, f"form-lab-{language}.png")


def test_the_blank_mar_has_an_allergy_box_and_an_as_needed_section():
    data = documents.blank_form(form="mar", language="en")
    texts = page_texts(data)

    assert len(texts) == 1
    text = words(texts[0])
    allergies = text.split("Allergies and intolerances")[1].split(
        "Medication administration record"
    )[0]
    assert "☐ No known allergies" in allergies
    assert "☐ Allergies (substance and reaction):" in allergies
    as_needed = text.split("As needed (PRN)")[1]
    for column in (
        "Medication",
        "Dose",
        "Route",
        "Interval",
        "Max in 24 h",
        "Reason",
        "Each dose given: time and initials in a box",
    ):
        assert column in as_needed, column
    keep_png(data, 1, "form-mar-en.png")


def test_the_blank_mar_is_one_page_in_french_and_dutch_too():
    for language, heading in (
        ("fr", "Si nécessaire (SN)"),
        ("nl", "Indien nodig (PRN)"),
    ):
        data = documents.blank_form(form="mar", language=language)
        texts = page_texts(data)
        assert len(texts) == 1, language
        assert heading in texts[0]
    keep_png(data, 1, "form-mar-nl.png")
