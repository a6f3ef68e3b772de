"""Which family names are alike enough to be mixed up on one ward."""

import pytest

from patients.names import name_alerts, similar_family_names


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("LAMBERT", "Lambert"),  # case
        ("Müller", "Muller"),  # accents
        ("D'Hondt", "Dhondt"),  # punctuation
        ("Van den Berg", "Vandenberg"),  # spaces
        ("Peeters", "Peters"),  # a letter dropped
        ("Janssen", "Janssens"),  # a letter added
        ("Mertens", "Martens"),  # a letter changed
        ("Smith", "Smiht"),  # two letters swapped
        ("Vermeulen", "Vermeuelen"),
        ("Vandermeulen", "Vandermolen"),  # long names: two spellings away
        ("Martin", "Martin-Dupont"),  # a part of a compound name
    ],
)
def test_alike_family_names(first, second):
    assert similar_family_names(first, second)
    assert similar_family_names(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Li", "Lu"),  # short names: only the same alerts
        ("Claes", "Maes"),  # two away, short
        ("Wouters", "Peeters"),
        ("Jacobs", "Jacobsen"),
        ("De Smet", "De Vos"),  # a particle in common is not a name
        ("", ""),
        ("-", "-"),
    ],
)
def test_names_far_enough_apart(first, second):
    assert not similar_family_names(first, second)


def test_each_is_told_where_the_others_are_and_a_patient_is_not_its_own_double():
    people = [
        (1, "LAMBERT", "12"),
        (2, "Dubois", "13"),
        (3, "Lambert", "14"),
        (4, "Lamberts", "15"),
        (1, "LAMBERT", "16"),  # the same patient, listed twice
    ]
    assert name_alerts(people) == {
        1: ["14", "15"],
        3: ["12", "15", "16"],
        4: ["12", "14", "16"],
    }
