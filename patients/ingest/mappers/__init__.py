"""One mapper per mirrored resource type (two for Observation: results, and
code status kept as a flag)."""

from patients.ingest.mappers.base import Context, Mapper, Row
from patients.ingest.mappers.clinical import (
    AllergyMapper,
    CodeStatusObservationMapper,
    ConditionMapper,
    EncounterMapper,
    FlagMapper,
    MedicationAdministrationMapper,
    MedicationRequestMapper,
    ObservationMapper,
    ServiceRequestMapper,
)
from patients.ingest.mappers.directory import (
    LocationMapper,
    OrganizationMapper,
    PatientMapper,
    PractitionerMapper,
)
from patients.ingest.mappers.reports import (
    DiagnosticReportMapper,
    DocumentReferenceMapper,
)
from patients.ingest.mappers.scheduling import (
    AppointmentMapper,
    ScheduleMapper,
    SlotMapper,
)

MAPPERS: dict[str, tuple[Mapper, ...]] = {}
for _mapper in (
    OrganizationMapper(),
    LocationMapper(),
    PractitionerMapper(),
    PatientMapper(),
    EncounterMapper(),
    FlagMapper(),
    AllergyMapper(),
    ConditionMapper(),
    MedicationRequestMapper(),
    MedicationAdministrationMapper(),
    ObservationMapper(),
    CodeStatusObservationMapper(),
    ServiceRequestMapper(),
    DiagnosticReportMapper(),
    DocumentReferenceMapper(),
    ScheduleMapper(),
    SlotMapper(),
    AppointmentMapper(),
):
    MAPPERS[_mapper.resource_type] = (*MAPPERS.get(_mapper.resource_type, ()), _mapper)

# Sets a complete source replaces for each of its patients (issue: never
# merged field by field, never left half old).
REPLACED_AS_A_SET = ("AllergyIntolerance", "Condition", "MedicationRequest")

__all__ = ["MAPPERS", "REPLACED_AS_A_SET", "Context", "Mapper", "Row"]
