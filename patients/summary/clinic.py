"""What a clinic's call list shows: its appointments of a day."""

import datetime as dt
from dataclasses import dataclass

from patients.models import Appointment, Location
from patients.names import name_alerts
from patients.summary.rows import appointments_to_honour
from patients.summary.values import clock, iso, label


@dataclass
class ClinicContent:
    clinic: dict
    day: str
    appointments: list[dict]


def clinic_content(*, clinic: Location, day: dt.date) -> ClinicContent:
    """The clinic's appointments of a local day, by time: a call list."""
    appointments = (
        appointments_to_honour(day)
        .filter(clinic=clinic)
        .select_related("patient", "clinician")
        .order_by("starts_at", "patient__family", "pk")
    )
    appointments = list(appointments)
    alerts = name_alerts(
        (a.patient_id, a.patient.family, clock(a.starts_at)) for a in appointments
    )
    return ClinicContent(
        clinic={"id": clinic.pk, "name": clinic.name, "phone": clinic.phone},
        day=day.isoformat(),
        appointments=[
            {
                "patient_id": a.patient_id,
                # The times of the list's others with a family name like it.
                "name_alert": alerts.get(a.patient_id, []),
                "at": iso(a.starts_at),
                "minutes": a.minutes,
                "name": str(a.patient),
                "mrn": a.patient.mrn,
                "birth_date": iso(a.patient.birth_date),
                "phone": a.patient.phone,
                "clinician": str(a.clinician) if a.clinician else "",
                "status": label(Appointment.Status, a.status),
                "description": a.description,
            }
            for a in appointments
        ],
    )
