"""A patient's summary: what the mirror holds of a patient, a ward or a
clinic, read as plain values that both the nurses' pages
(``patients.views``) and the paper packs (``printouts.documents``) lay out.

What is read here is part of every pack's cache key
(``printouts.documents.template_version`` hashes this package).
"""

from patients.summary.clinic import ClinicContent, clinic_content
from patients.summary.clinical import due_hours
from patients.summary.facets import FACETS, section_facets
from patients.summary.sections import (
    WardContent,
    census_row,
    journal_name,
    stay_sections,
    ward_content,
)
from patients.summary.sources import clinic_sources, ward_sources

__all__ = [
    "FACETS",
    "ClinicContent",
    "WardContent",
    "census_row",
    "clinic_content",
    "clinic_sources",
    "due_hours",
    "journal_name",
    "section_facets",
    "stay_sections",
    "ward_content",
    "ward_sources",
]
