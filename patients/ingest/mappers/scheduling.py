"""Clinics' days: schedules, slots and appointments."""

from collections.abc import Mapping

from patients.ingest import rules
from patients.ingest import values as v
from patients.ingest.mappers.base import Context, Mapper, Row
from patients.ingest.values import Invalid
from patients.models import Appointment, Schedule, Slot

TABLE_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"


class ScheduleMapper(Mapper):
    resource_type = "Schedule"
    model = Schedule
    patient_field = None
    links = ("clinic", "clinician")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        row = Row({})
        for actor in v.items(resource.get("actor"), "Schedule.actor"):
            kind = str(actor.get("reference") or "").split("/")[0].split("?")[0]
            if kind == "Location" or (kind.startswith("urn:") and not row.wanted):
                row.want("clinic", actor, "Schedule.actor", ("Location",), urns)
            elif kind == "Practitioner":
                row.want("clinician", actor, "Schedule.actor", ("Practitioner",), urns)
        return row


class SlotMapper(Mapper):
    resource_type = "Slot"
    model = Slot
    patient_field = None
    links = ("schedule",)

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        starts = v.datetime(resource.get("start"), "Slot.start")
        ends = v.datetime(resource.get("end"), "Slot.end")
        if starts is None or ends is None:
            raise Invalid("Slot.start and Slot.end are required")
        row = Row(
            {
                "starts_at": starts,
                "ends_at": ends,
                "status": v.code(resource.get("status"), "Slot.status")[:16],
            }
        )
        row.want(
            "schedule",
            resource.get("schedule"),
            "Slot.schedule",
            ("Schedule",),
            urns,
            required=True,
        )
        return row


class AppointmentMapper(Mapper):
    resource_type = "Appointment"
    model = Appointment
    links = ("patient", "clinic", "clinician")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        status = v.code(
            resource.get("status"),
            "Appointment.status",
            set(Appointment.Status.values),
            required=True,
        )
        starts = v.datetime(resource.get("start"), "Appointment.start")
        if starts is None:
            raise Invalid("Appointment.start is missing: a call list needs a time")
        ends = v.datetime(resource.get("end"), "Appointment.end")
        minutes = resource.get("minutesDuration")
        if minutes is None and ends is not None:
            minutes = int((ends - starts).total_seconds() // 60)
        if minutes is not None and (not isinstance(minutes, int) or minutes < 0):
            raise Invalid("Appointment.minutesDuration is not a positive whole number")
        description = resource.get("description") or v.concept_text(
            v.first(resource.get("serviceType"), "Appointment.serviceType"),
            "Appointment.serviceType",
        )
        kind, urgent = self._kind(resource)
        row = Row(
            {
                "starts_at": starts,
                "minutes": minutes,
                "status": status,
                "description": v.text(description, "Appointment.description"),
                "appointment_type": kind,
                "urgent": urgent,
            }
        )
        self._participants(row, resource, urns)
        if not any(w.field == "patient" for w in row.wanted):
            raise Invalid("Appointment.participant has no Patient")
        slot = v.first(resource.get("slot"), "Appointment.slot")
        row.want("*slot", slot, "Appointment.slot", ("Slot",), urns)
        return row

    def _kind(self, resource: dict) -> tuple[str, bool]:
        """(type code, urgent): table 0276's code if given, else the first."""
        path = "Appointment.appointmentType"
        concept = resource.get("appointmentType")
        code = v.concept_code(concept, path, TABLE_0276) or v.concept_code(
            concept, path
        )
        priority = resource.get("priority")
        if priority is not None and (
            not isinstance(priority, int) or isinstance(priority, bool) or priority < 0
        ):
            raise Invalid("Appointment.priority is not a positive whole number")
        return rules.appointment_kind(code, priority=priority)

    def _participants(self, row: Row, resource: dict, urns: Mapping[str, str]) -> None:
        fields = {
            "Patient": "patient",
            "Practitioner": "clinician",
            "Location": "clinic",
        }
        path = "Appointment.participant.actor"
        for participant in v.items(
            resource.get("participant"), "Appointment.participant"
        ):
            actor = participant.get("actor") if isinstance(participant, dict) else None
            if not isinstance(actor, dict):
                continue
            text = str(actor.get("reference") or "")
            target = urns.get(text, text).split("/")[-2:]
            kind = target[0].split("?")[0] if target else ""
            kind = kind if kind in fields else actor.get("type")
            if kind in fields and not any(w.field == fields[kind] for w in row.wanted):
                row.want(
                    fields[kind], actor, path, (kind,), urns, required=kind == "Patient"
                )

    def finish(self, rows: list[Row], context: Context) -> None:
        """An appointment without a clinic takes its slot's schedule's."""
        slots = {pk for row in rows for pk in row.extra.get("*slot", [])}
        schedules = context.schedule_clinics(slots)
        for row in rows:
            for pk in row.extra.get("*slot", []):
                clinic, clinician = schedules.get(pk, (None, None))
                row.fields["clinic_id"] = row.fields["clinic_id"] or clinic
                row.fields["clinician_id"] = row.fields["clinician_id"] or clinician
