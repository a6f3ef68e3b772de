"""Doses, units and PRN limits as the pages and packs write them: never an
error-prone form (ISMP), never a changed quantity."""

import re
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from patients.ingest.values import exact_number
from patients.units import (
    display_dose,
    display_interval,
    display_max_dose,
    display_text,
    display_unit,
)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("5.0 mg", "5 mg"),
        ("2.50 mg", "2.5 mg"),
        ("0.50 mg", "0.5 mg"),
        ("0.0 mg", "0 mg"),
        (".5 mg", "0.5 mg"),
        ("(.25 mg)", "(0.25 mg)"),
        ("12.500 mg", "12.5 mg"),  # a point is a decimal point (HL7 NM, FHIR)
        ("5.0mg", "5mg"),
        ("2,50 mg", "2,5 mg"),
        (",5 mg", "0,5 mg"),
        ("2,0 mg", "2 mg"),
        ("16 U", "16 units"),
        ("1 U", "1 unit"),
        ("1.0 U", "1 unit"),
        ("10U", "10 units"),
        ("5000 IU", "5000 units"),
        ("5000 [iU]", "5000 units"),
        ("300 UI", "300 units"),
        ("75 ug", "75 micrograms"),
        ("25 µg", "25 micrograms"),
        ("25 μg", "25 micrograms"),  # Greek mu
        ("1 mcg", "1 microgram"),
        ("4 ug/kg/min", "4 micrograms/kg/min"),
        ("40 mU", "40 milliunits"),
    ],
)
def test_a_dose_is_written_as_ismp_asks(sent, shown):
    assert display_dose(sent) == shown


@pytest.mark.parametrize(
    "kept",
    [
        "10 mg",
        "1.5 mg",
        "100.05 mg",
        "0.125 mg",
        "1,000 mg",  # maybe a thousand, as English writes it: left as sent
        "1,000.5 mg",
        "1.2.3 mg",  # a version, not a number
        "22.11.2026",
        "v1.20 mg",
        "10:30",
        "0.9%",
        "2 mg/u",  # u: the Dutch hour, not units
        "U-100",  # an insulin's concentration, not a unit of dose
        "[USP'U]",
        "",
    ],
)
def test_what_is_not_an_error_prone_dose_is_left_as_sent(kept):
    assert display_dose(kept) == kept


@given(
    whole=st.integers(0, 99999),
    fraction=st.text("0123456789", max_size=4),
    zeros=st.integers(0, 3),
    unit=st.sampled_from(["mg", "g", "mL", "U", "ug", "mmol"]),
)
def test_a_written_dose_is_the_same_quantity_in_the_safe_form(
    whole, fraction, zeros, unit
):
    digits = fraction + "0" * zeros
    sent = f"{whole}.{digits}" if digits else str(whole)
    if whole == 0 and digits:
        sent = sent[1:]  # ".5": the EHR left the zero out

    shown = display_dose(f"{sent} {unit}")

    number, _, word = shown.partition(" ")
    assert Decimal(number) == Decimal(sent)
    assert not re.search(r"\.\d*0$", number)  # no trailing zero
    assert not number.startswith(".")  # a leading zero
    assert word not in ("U", "ug")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_a_dose_text_never_gains_or_loses_a_digit_other_than_zeros(text):
    shown = display_dose(text)
    assert re.sub(r"[^1-9]", "", shown) == re.sub(r"[^1-9]", "", text)


@pytest.mark.parametrize(
    ("unit", "shown"),
    [
        ("U/L", "units/L"),
        ("IU/L", "units/L"),
        ("[iU]/L", "units/L"),
        ("m[IU]/L", "milliunits/L"),
        ("mIU/L", "milliunits/L"),
        ("µIU/mL", "microunits/mL"),
        ("kU/L", "kilounits/L"),
        ("ug/L", "micrograms/L"),
        ("µg/L", "micrograms/L"),
        ("umol/L", "µmol/L"),  # µ of micromoles is not on the list
        ("uL", "µL"),
        ("mm[Hg]", "mmHg"),
        ("Cel", "°C"),
        ("10*9/L", "10⁹/L"),
        ("mmol/L", "mmol/L"),
        ("", ""),
    ],
)
def test_a_lab_or_vital_unit_is_written_out(unit, shown):
    assert display_unit(unit) == shown


def test_free_text_spells_only_a_unit_that_follows_a_number():
    assert display_text("Heparin 5000 U/mL") == "Heparin 5000 units/mL"
    assert display_text("Vitamin D 1000 IU daily") == "Vitamin D 1000 units daily"
    assert display_text("Insulin U-100 pen") == "Insulin U-100 pen"
    assert display_text("U bent welkom") == "U bent welkom"
    assert display_text("5.0 mg") == "5.0 mg"  # numbers: in doses only


@pytest.mark.parametrize(
    ("timing", "shown"),
    [
        ({"frequency": 1, "period": 4, "period_unit": "h"}, "every 4 hours"),
        ({"period": 6, "period_unit": "h"}, "every 6 hours"),
        ({"period": 4, "period_max": 6, "period_unit": "h"}, "every 4 to 6 hours"),
        ({"frequency": 1, "period": 30, "period_unit": "min"}, "every 30 minutes"),
        ({"frequency": 1, "period": 2, "period_unit": "d"}, "every 2 days"),
        ({"frequency": 3, "period": 1, "period_unit": "d"}, "up to 3 times a day"),
        ({"frequency": 1, "period": 0.5, "period_unit": "h"}, "every 0.5 hours"),
        ({}, ""),
        ({"frequency": 2, "period": 8, "period_unit": "h"}, ""),
        ({"frequency": 1, "frequency_max": 2, "period": 4, "period_unit": "h"}, ""),
        ({"frequency": 1, "period": 4, "period_unit": "fortnight"}, ""),
        ({"frequency": 1, "period": 0, "period_unit": "h"}, ""),
        ({"frequency": 1, "period": "4", "period_unit": "h"}, ""),
    ],
)
def test_a_prn_interval_is_written_when_the_timing_says_it_plainly(timing, shown):
    assert display_interval(timing) == shown


@pytest.mark.parametrize(
    ("max_dose", "shown"),
    [
        ({"per_period": "4 g", "period": 1, "period_unit": "d"}, "max 4 g per 24 h"),
        ({"per_period": "2 g", "period": 12, "period_unit": "h"}, "max 2 g per 12 h"),
        (
            {"per_period": "800 ug", "period": 1, "period_unit": "day"},
            "max 800 micrograms per 24 h",
        ),
        (
            {"per_period": "10 mg", "period": 1, "period_unit": "wk"},
            "max 10 mg per 7 days",
        ),
        ({"per_period": "4.0 g"}, "max 4 g"),  # per what, unknown
        ({"per_dose": ".5 mg"}, "max 0.5 mg per dose"),
        (
            {"per_period": "40 U", "period": 1, "period_unit": "d", "per_dose": "10 U"},
            "max 40 units per 24 h, max 10 units per dose",
        ),
        ({}, ""),
    ],
)
def test_a_prn_maximum_is_written_per_24_hours_or_per_dose(max_dose, shown):
    assert display_max_dose(max_dose) == shown


@pytest.mark.parametrize(
    ("language", "dose", "interval", "maximum"),
    [
        ("fr", "16 unités", "toutes les 4 h", "max. 2 microgrammes par 24 h"),
        ("nl", "16 eenheden", "om de 4 uur", "max. 2 microgram per 24 uur"),
    ],
)
def test_the_words_are_the_readers_language(language, dose, interval, maximum):
    with translation.override(language):
        assert display_dose("16 U") == dose
        assert display_interval({"period": 4, "period_unit": "h"}) == interval
        limit = {"per_period": "2 ug", "period": 1, "period_unit": "d"}
        assert display_max_dose(limit) == maximum


@pytest.mark.parametrize(
    ("number", "text"),
    [(2.0, "2"), (2, "2"), (1.125, "1.125"), (0.5, "0.5"), (1e-05, "0.00001")],
)
def test_a_fhir_dose_is_kept_exactly_as_sent(number, text):
    assert exact_number(number) == text
