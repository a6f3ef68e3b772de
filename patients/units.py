"""Units as a nurse writes them, from the UCUM codes feeds often send."""

DISPLAY = {
    "Cel": "°C",
    "[degF]": "°F",
    "mm[Hg]": "mmHg",
    "ug": "µg",
    "uL": "µL",
    "umol/L": "µmol/L",
    "10*9/L": "10⁹/L",
    "10*12/L": "10¹²/L",
    "10*3/uL": "10³/µL",
    "10*6/uL": "10⁶/µL",
    "/min": "/min",
    "{beats}/min": "/min",
    "{breaths}/min": "/min",
    "kg/m2": "kg/m²",
}


def display_unit(unit: str) -> str:
    return DISPLAY.get(unit, unit)
